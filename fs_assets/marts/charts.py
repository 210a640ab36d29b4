"""The dashboards' charts as Vega-Lite (and, for the Sankey and treemap, Vega) specs.

A chart is a spec whose inline data are the rows of one mart figure, exactly as the
mart holds them: aggregation a chart needs is a transform inside the spec, so the numbers
a reader sees come from the table and a test can compare the two. Specs are rendered by
vl-convert (an embedded Vega engine): PNG for the Dagster UI and the index page, and the
same spec in the interactive HTML pages. Nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from fs_assets.marts.dashboards import FUNNEL_TABLE, LEAD_TABLE, SPEND_TABLE
from fs_assets.marts.model import ARCHETYPE_NAMES, FUNNEL_STAGES, SPEND_SEGMENTS

Row = dict[str, Any]
WIDTH = 640
HEIGHT = 320
# Amounts read as 25.5B, 4.73M: d3's SI prefix with G shown as B, as the seed's dashboards.
SI = "replace(format({}, '.3~s'), 'G', 'B')"


@dataclass(frozen=True)
class Chart:
    """One picture on a dashboard, with the mart rows it shows."""

    name: str
    title: str
    description: str
    table: str
    figure: str | None  # the mart's `figure`, None when the chart shows the whole table
    rows: tuple[Row, ...]
    spec: dict[str, Any]
    grammar: str = "vega-lite"  # or "vega"
    value_fields: tuple[str, ...] = field(default_factory=tuple)


def json_value(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def fetch(conn: duckdb.DuckDBPyConnection, table: str, figure: str | None) -> tuple[Row, ...]:
    """The mart rows of one figure (no nulls kept: a spec gets only the fields it has)."""
    where, params = ("where figure = ?", [figure]) if figure else ("", [])
    cur = conn.execute(f"select * from {table} {where}", params)
    cols = [d[0] for d in cur.description]
    return tuple(
        {c: json_value(v) for c, v in zip(cols, r, strict=True) if v is not None and c != "figure"}
        for r in cur.fetchall()
    )


def _vl(title: str, rows: Sequence[Row], body: dict[str, Any], **size: int) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": size.get("width", WIDTH),
        "height": size.get("height", HEIGHT),
        "data": {"values": list(rows)},
        **body,
    }


def bar(
    title: str,
    rows: Sequence[Row],
    category: str,
    value: str,
    *,
    label: str | None = None,
    sort: Sequence[str] | str = "-x",
    horizontal: bool = True,
    amount: bool = False,
) -> dict[str, Any]:
    """A bar per category with its value written on it."""
    label_expr = SI.format(f"datum['{value}']") if amount else f"format(datum['{value}'], ',')"
    cat = {"field": category, "type": "nominal", "sort": sort, "title": label or category}
    val = {"field": value, "type": "quantitative", "title": value.replace("_", " ")}
    enc = {"y": cat, "x": val} if horizontal else {"x": cat, "y": val}
    height = max(HEIGHT, 18 * len(rows)) if horizontal else HEIGHT
    text_enc = dict(enc, text={"field": "value_label", "type": "nominal"})
    return _vl(
        title,
        rows,
        {
            "transform": [{"calculate": label_expr, "as": "value_label"}],
            "layer": [
                {
                    "mark": {"type": "bar", "tooltip": True},
                    "encoding": dict(enc, color={"value": "#4c78a8"}),
                },
                {
                    "mark": {
                        "type": "text",
                        "align": "left" if horizontal else "center",
                        "baseline": "middle" if horizontal else "bottom",
                        "dx": 3 if horizontal else 0,
                        "dy": 0 if horizontal else -3,
                    },
                    "encoding": text_enc,
                },
            ],
        },
        height=height,
    )


def pie(title: str, rows: Sequence[Row], category: str, value: str, order: Sequence[str]) -> dict:
    """A donut with each slice labelled by its value."""
    return _vl(
        title,
        rows,
        {
            "transform": [{"calculate": SI.format(f"datum['{value}']"), "as": "value_label"}],
            "encoding": {
                "theta": {"field": value, "type": "quantitative", "stack": True},
                "color": {"field": category, "type": "nominal", "sort": list(order)},
                "order": {"field": category, "sort": "ascending"},
            },
            "layer": [
                {"mark": {"type": "arc", "innerRadius": 60, "outerRadius": 140, "tooltip": True}},
                {
                    "mark": {"type": "text", "radius": 165},
                    "encoding": {"text": {"field": "value_label", "type": "nominal"}},
                },
            ],
        },
        width=420,
    )


def lines(
    title: str, rows: Sequence[Row], x: str, y: str, series: str | None, *, amount: bool = False
) -> dict[str, Any]:
    enc: dict[str, Any] = {
        "x": {"field": x, "type": "temporal", "title": x},
        "y": {
            "field": y,
            "type": "quantitative",
            "title": y.replace("_", " "),
            **({"axis": {"format": "~s"}} if amount else {}),
        },
    }
    if series:
        enc["color"] = {"field": series, "type": "nominal"}
    return _vl(
        title,
        rows,
        {"mark": {"type": "line", "point": True, "tooltip": True}, "encoding": enc},
    )


def funnel_charts(conn: duckdb.DuckDBPyConnection) -> list[Chart]:
    rows = fetch(conn, FUNNEL_TABLE, None)
    stages = list(FUNNEL_STAGES)
    grouped = _vl(
        "Customers at each campaign stage, by archetype",
        rows,
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {"field": "stage", "type": "nominal", "sort": stages, "title": "stage"},
                "xOffset": {"field": "archetype", "sort": list(ARCHETYPE_NAMES)},
                "y": {"field": "customers", "type": "quantitative"},
                "color": {"field": "archetype", "type": "nominal", "sort": list(ARCHETYPE_NAMES)},
            },
        },
        width=760,
    )
    stats = _vl(
        "Campaign stats: customers per stage and archetype",
        rows,
        {
            "encoding": {
                "x": {"field": "archetype", "type": "nominal", "sort": list(ARCHETYPE_NAMES)},
                "y": {"field": "stage", "type": "nominal", "sort": stages},
            },
            "layer": [
                {
                    "mark": "rect",
                    "encoding": {
                        "color": {
                            "field": "conversion_from_reached",
                            "type": "quantitative",
                            "title": "share of reached",
                            "scale": {"scheme": "blues"},
                        }
                    },
                },
                {
                    "mark": {"type": "text", "fontSize": 13},
                    "encoding": {
                        "text": {"field": "customers", "type": "quantitative", "format": ","}
                    },
                },
            ],
        },
        width=760,
        height=300,
    )
    return [
        Chart(
            "funnel_by_archetype",
            "Campaign funnel",
            "Customers per archetype who reached each stage of the simulated campaign.",
            FUNNEL_TABLE,
            None,
            rows,
            grouped,
            value_fields=("customers",),
        ),
        Chart(
            "campaign_stats",
            "Campaign stats",
            "The same counts as a table; shade is the share of the archetype's reached "
            "customers still in the funnel.",
            FUNNEL_TABLE,
            None,
            rows,
            stats,
            value_fields=("customers",),
        ),
    ]


def lead_charts(conn: duckdb.DuckDBPyConnection) -> list[Chart]:
    def rows(figure: str) -> tuple[Row, ...]:
        return fetch(conn, LEAD_TABLE, figure)

    total = rows("total_customers")
    total_n = total[0]["customers"] if total else 0
    charts = [
        Chart(
            "customers_by_archetype",
            "Customers by cross-sell archetype",
            f"Total customers: {total_n:,}.",
            LEAD_TABLE,
            "archetype",
            (r := rows("archetype")),
            pie(
                f"Customers by archetype (total {total_n:,})",
                r,
                "member",
                "customers",
                ARCHETYPE_NAMES,
            ),
            value_fields=("customers",),
        )
    ]
    for figure, title, label in (
        ("product_sales", "Sales per product (open accounts)", "product"),
        ("campaign_onboarded", "Customers onboarded by the campaign, per card", "card"),
        ("risk_category", "Customers by risk category", "risk category"),
        ("affluence_level", "Customers by affluence level", "affluence level"),
        ("segment", "Customers by segment", "segment"),
        ("state", "Customers by state", "state"),
    ):
        value = "accounts" if figure == "product_sales" else "customers"
        r = rows(figure)
        charts.append(
            Chart(
                f"{figure}_bar",
                title,
                LEAD_FIGURE_TEXT.get(figure, ""),
                LEAD_TABLE,
                figure,
                r,
                bar(title, r, "member", value, label=label),
                value_fields=(value,),
            )
        )
    r = rows("mode_by_month")
    charts.append(
        Chart(
            "transactions_by_mode",
            "Transactions by mode over time",
            "Transaction counts per month and mode (UPI, QR, Card), all statuses.",
            LEAD_TABLE,
            "mode_by_month",
            r,
            lines("Transactions by mode over time", r, "month", "transactions", "member"),
            value_fields=("transactions",),
        )
    )
    r = rows("reason")
    charts.append(
        Chart(
            "transactions_by_reason",
            "Transactions by reason",
            "Transaction counts per reason, all statuses.",
            LEAD_TABLE,
            "reason",
            r,
            bar("Transactions by reason", r, "member", "transactions", label="reason"),
            value_fields=("transactions",),
        )
    )
    return charts


LEAD_FIGURE_TEXT = {
    "product_sales": "Open accounts per product: deposit accounts and credit cards sold.",
    "campaign_onboarded": "Cards the simulated campaign sold, by recommended card.",
    "risk_category": "Customers per risk category.",
    "affluence_level": "Customers per affluence level.",
    "segment": "Rural, Semi-Urban and Urban customers.",
    "state": "Customers per state of residence.",
}


def spend_charts(conn: duckdb.DuckDBPyConnection) -> list[Chart]:
    monthly = fetch(conn, SPEND_TABLE, "monthly")
    category = fetch(conn, SPEND_TABLE, "category_month")
    segment = fetch(conn, SPEND_TABLE, "segment")
    flow = fetch(conn, SPEND_TABLE, "flow")
    total = sum(r["spend"] for r in monthly)
    seg_order = list(SPEND_SEGMENTS)
    by_reason = _vl(
        "Spend per reason, by spend segment",
        flow,
        {
            "transform": [
                {
                    "aggregate": [{"op": "sum", "field": "spend", "as": "spend"}],
                    "groupby": ["segment", "category"],
                },
                {"calculate": SI.format("datum.spend"), "as": "value_label"},
            ],
            "facet": {"row": {"field": "segment", "type": "nominal", "sort": seg_order}},
            "spec": {
                "width": WIDTH,
                "encoding": {
                    "y": {"field": "category", "type": "nominal", "sort": "-x"},
                    "x": {"field": "spend", "type": "quantitative", "axis": {"format": "~s"}},
                },
                "layer": [
                    {"mark": {"type": "bar", "tooltip": True}},
                    {
                        "mark": {"type": "text", "align": "left", "dx": 3},
                        "encoding": {"text": {"field": "value_label", "type": "nominal"}},
                    },
                ],
            },
            "resolve": {"scale": {"x": "independent"}},
        },
    )
    by_reason.pop("width")
    by_reason.pop("height")
    return [
        Chart(
            "cumulative_spend",
            "Cumulative spend over time",
            f"Successful debits, cumulative by month; total {total:,.2f}.",
            SPEND_TABLE,
            "monthly",
            monthly,
            lines(
                f"Cumulative spend (total {total:,.0f})",
                monthly,
                "month",
                "cumulative_spend",
                None,
                amount=True,
            ),
            value_fields=("spend", "cumulative_spend"),
        ),
        Chart(
            "spend_by_category",
            "Category-wise spend trends",
            "Spend per month for each category.",
            SPEND_TABLE,
            "category_month",
            category,
            lines(
                "Spend per category and month", category, "month", "spend", "category", amount=True
            ),
            value_fields=("spend",),
        ),
        Chart(
            "customers_by_spend_segment",
            "Customers by spend segment",
            "Customers per spend segment (Low, Medium, High).",
            SPEND_TABLE,
            "segment",
            segment,
            pie("Customers by spend segment", segment, "segment", "customers", seg_order),
            value_fields=("customers",),
        ),
        Chart(
            "spend_by_segment",
            "Spend by spend segment",
            "Total spend per spend segment.",
            SPEND_TABLE,
            "segment",
            segment,
            pie("Spend by spend segment", segment, "segment", "spend", seg_order),
            value_fields=("spend",),
        ),
        Chart(
            "spend_by_reason_and_segment",
            "Spend per reason and segment",
            "Spend per reason within each spend segment.",
            SPEND_TABLE,
            "flow",
            flow,
            by_reason,
            value_fields=("spend",),
        ),
        Chart(
            "spend_flow_sankey",
            "Spend flow",
            "Spend from segment to category to mode; band width is spend.",
            SPEND_TABLE,
            "flow",
            flow,
            sankey_spec("Spend flow: segment → category → mode", flow),
            grammar="vega",
            value_fields=("spend",),
        ),
        Chart(
            "spend_treemap",
            "Spend dimensions",
            "Relative size of spend by segment, category and mode.",
            SPEND_TABLE,
            "flow",
            flow,
            treemap_spec("Spend by segment, category and mode", flow),
            grammar="vega",
            value_fields=("spend",),
        ),
    ]


# --- Vega specs: layouts Vega-Lite has no mark for ---------------------------------------

SANKEY_LEVELS = ("segment", "category", "mode")


def sankey_layout(
    rows: Sequence[Row], width: float = 860, height: float = 460, node_w: float = 14
) -> tuple[list[Row], list[Row]]:
    """Nodes and link bands of a three-level Sankey, laid out here (Vega has no Sankey).

    Nodes of a level are stacked largest first; each link is a band as thick as its spend,
    leaving its source and entering its target in the order of the other end.
    """
    totals: dict[tuple[int, str], float] = {}
    links: dict[tuple[int, str, str], float] = {}
    for r in rows:
        for level, key in enumerate(SANKEY_LEVELS):
            totals[(level, r[key])] = totals.get((level, r[key]), 0.0) + r["spend"]
        for level in range(len(SANKEY_LEVELS) - 1):
            k = (level, r[SANKEY_LEVELS[level]], r[SANKEY_LEVELS[level + 1]])
            links[k] = links.get(k, 0.0) + r["spend"]
    grand = sum(v for (lvl, _), v in totals.items() if lvl == 0) or 1.0
    gap = 10.0
    most = max((sum(1 for lvl, _ in totals if lvl == i) for i in range(3)), default=1)
    scale = (height - gap * (most - 1)) / grand
    nodes: dict[tuple[int, str], Row] = {}
    for level in range(len(SANKEY_LEVELS)):
        y = 0.0
        members = sorted((k for k in totals if k[0] == level), key=lambda k: -totals[k])
        x = level * (width - node_w) / (len(SANKEY_LEVELS) - 1)
        for k in members:
            h = totals[k] * scale
            nodes[k] = {
                "name": k[1],
                "level": SANKEY_LEVELS[level],
                "x": x,
                "y": y,
                "h": h,
                "spend": totals[k],
            }
            y += h + gap
    out_off = {k: 0.0 for k in nodes}
    in_off = {k: 0.0 for k in nodes}
    bands = []
    order = sorted(
        links, key=lambda k: (k[0], nodes[(k[0], k[1])]["y"], nodes[(k[0] + 1, k[2])]["y"])
    )
    for level, src, dst in order:
        s, t = nodes[(level, src)], nodes[(level + 1, dst)]
        h = links[(level, src, dst)] * scale
        x0, x1 = s["x"] + node_w, t["x"]
        y0 = s["y"] + out_off[(level, src)]
        y1 = t["y"] + in_off[(level + 1, dst)]
        out_off[(level, src)] += h
        in_off[(level + 1, dst)] += h
        xm = (x0 + x1) / 2
        path = (
            f"M{x0:.1f},{y0:.1f}C{xm:.1f},{y0:.1f} {xm:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
            f"L{x1:.1f},{y1 + h:.1f}C{xm:.1f},{y1 + h:.1f} {xm:.1f},{y0 + h:.1f} "
            f"{x0:.1f},{y0 + h:.1f}Z"
        )
        bands.append(
            {"source": src, "target": dst, "spend": links[(level, src, dst)], "path": path}
        )
    return list(nodes.values()), bands


def sankey_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    nodes, bands = sankey_layout(rows)
    label = SI.format("datum.spend")
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "title": title,
        "width": 860,
        "height": 460,
        "padding": {"left": 10, "right": 150, "top": 10, "bottom": 10},
        "data": [
            {"name": "flow", "values": list(rows)},
            {"name": "nodes", "values": nodes},
            {"name": "links", "values": bands},
        ],
        "scales": [
            {
                "name": "color",
                "type": "ordinal",
                "domain": {"data": "nodes", "field": "name"},
                "range": "category",
            }
        ],
        "marks": [
            {
                "type": "path",
                "from": {"data": "links"},
                "encode": {
                    "enter": {
                        "path": {"field": "path"},
                        "fill": {"scale": "color", "field": "source"},
                        "fillOpacity": {"value": 0.35},
                        "tooltip": {
                            "signal": f"datum.source + ' → ' + datum.target + ': ' + {label}"
                        },
                    }
                },
            },
            {
                "type": "rect",
                "name": "node",
                "from": {"data": "nodes"},
                "encode": {
                    "enter": {
                        "x": {"field": "x"},
                        "width": {"value": 14},
                        "y": {"field": "y"},
                        "height": {"signal": "max(datum.h, 1)"},
                        "fill": {"scale": "color", "field": "name"},
                        "tooltip": {"signal": f"datum.name + ': ' + {label}"},
                    }
                },
            },
            {
                "type": "text",
                "from": {"data": "nodes"},
                "encode": {
                    "enter": {
                        "x": {"signal": "datum.x + 18"},
                        "y": {"signal": "datum.y + datum.h / 2"},
                        "baseline": {"value": "middle"},
                        "fontSize": {"value": 11},
                        "text": {"signal": f"datum.name + ' ' + {label}"},
                    }
                },
            },
        ],
    }


def treemap_rows(rows: Sequence[Row]) -> list[Row]:
    """The flow leaves as a hierarchy: all spend > segment > category > mode."""
    inner: dict[str, Row] = {
        "all": {"id": "all", "parent": None, "name": "All spend", "total": 0.0}
    }
    leaves: list[Row] = []
    for r in rows:
        seg = f"s|{r['segment']}"
        cat = f"{seg}|{r['category']}"
        for node_id, parent, name in ((seg, "all", r["segment"]), (cat, seg, r["category"])):
            inner.setdefault(node_id, {"id": node_id, "parent": parent, "name": name, "total": 0.0})
        for node_id in ("all", seg, cat):
            inner[node_id]["total"] += r["spend"]
        leaves.append(
            {
                "id": f"{cat}|{r['mode']}",
                "parent": cat,
                "name": r["mode"],
                "category": r["category"],
                "segment": r["segment"],
                "spend": r["spend"],
                "total": r["spend"],
            }
        )
    return [*inner.values(), *leaves]


def _tile(data: str, encode: dict[str, Any]) -> dict[str, Any]:
    """A treemap cell: the rectangle the treemap transform laid out for each datum."""
    box = {"x": {"field": "x0"}, "y": {"field": "y0"}, "x2": {"field": "x1"}, "y2": {"field": "y1"}}
    return {
        "type": "rect",
        "from": {"data": data},
        "encode": {"enter": {**box, "stroke": {"value": "#ffffff"}, **encode}},
    }


def _tile_label(
    data: str, fits: str, label: str, *, font_size: int, bold: bool = False
) -> dict[str, Any]:
    """Name and amount in a cell's corner, when the cell is big enough (`fits`)."""
    enter: dict[str, Any] = {
        "x": {"signal": "datum.x0 + 3"},
        "y": {"signal": "datum.y0 + 12"},
        "fontSize": {"value": font_size},
        "text": {"signal": f"({fits}) ? datum.name + ' ' + {label} : ''"},
    }
    if bold:
        enter["fontWeight"] = {"value": "bold"}
    return {"type": "text", "from": {"data": data}, "encode": {"enter": enter}}


def treemap_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    label = SI.format("datum.total")
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "title": title,
        "width": 860,
        "height": 480,
        "data": [
            {"name": "flow", "values": list(rows)},
            {
                "name": "tree",
                "values": treemap_rows(rows),
                "transform": [
                    {"type": "stratify", "key": "id", "parentKey": "parent"},
                    {
                        "type": "treemap",
                        "field": "spend",
                        "sort": {"field": "value", "order": "descending"},
                        "round": True,
                        "method": "squarify",
                        "paddingTop": 16,
                        "paddingInner": 1,
                        "size": [{"signal": "width"}, {"signal": "height"}],
                    },
                ],
            },
            {
                "name": "leaves",
                "source": "tree",
                "transform": [{"type": "filter", "expr": "!datum.children"}],
            },
            {
                "name": "groups",
                "source": "tree",
                "transform": [{"type": "filter", "expr": "datum.depth == 1 || datum.depth == 2"}],
            },
        ],
        "scales": [
            {
                "name": "color",
                "type": "ordinal",
                "domain": {"data": "leaves", "field": "category"},
                "range": "category",
            }
        ],
        "marks": [
            _tile("groups", {"fill": {"value": "#eeeeee"}}),
            _tile(
                "leaves",
                {
                    "fill": {"scale": "color", "field": "category"},
                    "tooltip": {
                        "signal": "datum.segment + ' / ' + datum.category + ' / ' + datum.name"
                        f" + ': ' + {label}"
                    },
                },
            ),
            _tile_label("groups", "datum.x1 - datum.x0 > 60", label, font_size=10, bold=True),
            _tile_label(
                "leaves", "datum.x1 - datum.x0 > 50 && datum.y1 - datum.y0 > 14", label, font_size=9
            ),
        ],
    }
