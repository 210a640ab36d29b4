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
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from fs_assets.marts.dashboards import FUNNEL_TABLE, LEAD_TABLE, SPEND_TABLE
from fs_assets.marts.model import (
    AMOUNT_UNIT,
    ARCHETYPE_NAMES,
    FIGURE_ORDER,
    FUNNEL_STAGES,
    SPEND_SEGMENTS,
)

Row = dict[str, Any]
WIDTH = 640
HEIGHT = 320
# Amounts read as 25.5B, 4.73M: d3's SI prefix with G shown as B, as the seed's dashboards.
SI = "replace(format({}, '.3~s'), 'G', 'B')"
# An amount axis counts in the largest of these units its values reach.
AMOUNT_SCALES = ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands"))
# Spend segments keep one colour each on every spend chart (Sankey bands included).
SEGMENT_COLOURS = ("#4c78a8", "#f58518", "#e45756")
MONTH_AXIS = {"format": "%b %Y", "labelAngle": 0, "labelOverlap": True}


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
    wide: bool = False  # drawn across the whole row of the index, where detail must show
    # Column headings of the data table for fields whose name says nothing ('member').
    field_titles: dict[str, str] = field(default_factory=dict)


def json_value(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def json_list(values: Sequence[str]) -> str:
    """A list of strings as a Vega expression literal."""
    return json.dumps(list(values))


def in_order(rows: Sequence[Row], key: str, order: Sequence[str]) -> tuple[Row, ...]:
    """Rows sorted by `key` in a natural order (values outside it last, as they came)."""
    rank = {v: i for i, v in enumerate(order)}
    return tuple(sorted(rows, key=lambda r: rank.get(r.get(key), len(rank))))


def fetch(conn: duckdb.DuckDBPyConnection, table: str, figure: str | None) -> tuple[Row, ...]:
    """The mart rows of one figure (no nulls kept: a spec gets only the fields it has)."""
    where, params = ("where figure = ?", [figure]) if figure else ("", [])
    cur = conn.execute(f"select * from {table} {where}", params)
    cols = [d[0] for d in cur.description]
    return tuple(
        {c: json_value(v) for c, v in zip(cols, r, strict=True) if v is not None and c != "figure"}
        for r in cur.fetchall()
    )


def amount_title(what: str, values: Sequence[float] = ()) -> tuple[str, float]:
    """'Spend (account currency, millions)' and the divisor for its labels."""
    top = max((abs(v) for v in values), default=0.0)
    for divisor, word in AMOUNT_SCALES:
        if top >= divisor:
            return f"{what} ({AMOUNT_UNIT}, {word})", divisor
    return f"{what} ({AMOUNT_UNIT})", 1.0


def amount_axis(what: str, values: Sequence[float]) -> dict[str, Any]:
    """Title naming the unit, and tick labels counted in it (1.25 for 1,250,000)."""
    title, divisor = amount_title(what, values)
    return {"title": title, "axis": {"labelExpr": f"format(datum.value / {divisor:g}, ',.2~f')"}}


def month_field(field: str) -> dict[str, Any]:
    """A month on a time axis, read in UTC so no time zone moves it to the previous day."""
    return {
        "field": field,
        "type": "temporal",
        "timeUnit": "utcyearmonth",
        "title": "Month",
        "axis": MONTH_AXIS,
    }


@dataclass(frozen=True)
class WholeMonths:
    """The first and last calendar months the transaction data covers from first to last day.

    A time series draws these and the months between only: a month the data covers in part
    (a feed that starts on the 14th, or today's month) would read as a cliff. Months are
    ISO dates of their first day, as the marts hold them; None when no month is whole.
    """

    first: str | None
    last: str | None

    def keep(self) -> str:
        """A Vega expression that holds for the rows of whole months.

        Vega-Lite has parsed `month` into a date by then: compare instants (UTC ms).
        """
        if self.first is None or self.last is None:
            return "false"
        first, last = (
            int(dt.datetime.fromisoformat(m).replace(tzinfo=dt.UTC).timestamp() * 1000)
            for m in (self.first, self.last)
        )
        return f"time(datum.month) >= {first} && time(datum.month) <= {last}"

    def note(self, rows: Sequence[Row]) -> str:
        """What the line leaves out, for the chart's description."""
        months = sorted({r["month"] for r in rows if "month" in r})
        left_out = [
            m[:7]
            for m in months
            if self.first is None or self.last is None or not self.first <= m <= self.last
        ]
        if not left_out:
            return ""
        return (
            f" Part months left out of the line: {', '.join(left_out)} (the data covers "
            "them only in part; the table lists them)."
        )


WHOLE_MONTHS_SQL = """
with span as (
  select min(transaction_ts)::date as first_day, max(transaction_ts)::date as last_day
  from mastered.transaction
)
select
  case when first_day = date_trunc('month', first_day) then date_trunc('month', first_day)
       else date_trunc('month', first_day) + interval 1 month end::date,
  case when last_day + 1 = date_trunc('month', last_day) + interval 1 month
       then date_trunc('month', last_day)
       else date_trunc('month', last_day) - interval 1 month end::date
from span
"""


def whole_months(conn: duckdb.DuckDBPyConnection) -> WholeMonths:
    """The whole months of mastered.transaction (see WholeMonths)."""
    first, last = conn.execute(WHOLE_MONTHS_SQL).fetchall()[0]
    if first is None or last is None or first > last:
        return WholeMonths(None, None)
    return WholeMonths(first.isoformat(), last.isoformat())


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
    label: str,
    value_title: str,
    sort: Sequence[str] | str = "-x",
    horizontal: bool = True,
) -> dict[str, Any]:
    """A bar per category with its value written on it; axes titled with what they count."""
    label_expr = f"format(datum['{value}'], ',')"
    ordinal = not isinstance(sort, str)
    cat = {"field": category, "type": "ordinal" if ordinal else "nominal", "sort": sort}
    cat["title"] = label
    val = {"field": value, "type": "quantitative", "title": value_title}
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


def pie(
    title: str,
    rows: Sequence[Row],
    category: str,
    value: str,
    order: Sequence[str],
    *,
    legend: str,
    amount: bool = False,
) -> dict:
    """A donut with each slice labelled by its value, slices and legend in `order`."""
    label = SI.format(f"datum['{value}']") if amount else f"format(datum['{value}'], ',')"
    rank = f"indexof({json_list(order)}, datum['{category}'])"
    return _vl(
        title,
        rows,
        {
            "transform": [
                {"calculate": label, "as": "value_label"},
                {"calculate": rank, "as": "slice_order"},
            ],
            "encoding": {
                "theta": {"field": value, "type": "quantitative", "stack": True},
                "color": {
                    "field": category,
                    "type": "nominal",
                    "sort": list(order),
                    "title": legend,
                },
                "order": {"field": "slice_order", "type": "quantitative", "sort": "ascending"},
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
    title: str,
    rows: Sequence[Row],
    x: str,
    y: str,
    *,
    y_title: str,
    series: str | None = None,
    months: WholeMonths,
    legend: str | None = None,
    amount: bool = False,
) -> dict[str, Any]:
    """A line per series over the whole months; an amount axis names its unit and counts in it.

    The spec keeps every mart row (the data table and the checks see them all); a filter
    leaves the part months out of the line.
    """
    y_enc: dict[str, Any] = {"field": y, "type": "quantitative", "title": y_title}
    if amount:
        y_enc.update(amount_axis(y_title, [r[y] for r in rows if y in r]))
    enc: dict[str, Any] = {"x": month_field(x), "y": y_enc}
    if series:
        enc["color"] = {"field": series, "type": "nominal", "title": legend or series}
    return _vl(
        title,
        rows,
        {
            "transform": [{"filter": months.keep()}],
            "mark": {"type": "line", "point": True, "tooltip": True},
            "encoding": enc,
        },
    )


FUNNEL_STEP = 34  # pixels per stage: a bar and the gap that holds the conversion label
FUNNEL_WIDTH = 330
# The conversion label, between a stage's bar and the previous one's.
CONVERSION_LABEL = "'↓ ' + format(datum.conversion_from_previous, '.1%')"


def funnel_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    """One funnel per archetype: centred stage bars narrowing, % of the previous stage between.

    Each archetype gets its own width scale, so a small archetype's funnel is as readable
    as a large one's; the counts are written beside the bars.
    """
    stages = list(FUNNEL_STAGES)
    stage = {
        "field": "stage",
        "type": "ordinal",
        "sort": stages,
        "title": "Campaign stage",
        "scale": {"paddingInner": 0.45},
    }
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {"text": title, "subtitle": "↓ % of the previous stage's customers"},
        "data": {"values": list(rows)},
        "transform": [
            {"calculate": "-datum.customers / 2", "as": "left"},
            {"calculate": "datum.customers / 2", "as": "right"},
        ],
        "facet": {
            "field": "archetype",
            "type": "nominal",
            "sort": list(ARCHETYPE_NAMES),
            "title": "Archetype",
            "header": {"labelFontSize": 13, "labelFontWeight": "bold"},
        },
        "columns": 2,
        "spec": {
            "width": FUNNEL_WIDTH,
            "height": {"step": FUNNEL_STEP},
            "encoding": {"y": stage},
            "layer": [
                {
                    "mark": {"type": "bar", "tooltip": True, "color": "#4c78a8"},
                    "encoding": {
                        "x": {
                            "field": "left",
                            "type": "quantitative",
                            "axis": None,
                            "title": "Customers",
                        },
                        "x2": {"field": "right"},
                        "tooltip": [
                            {"field": "archetype", "title": "Archetype"},
                            {"field": "stage", "title": "Stage"},
                            {"field": "customers", "title": "Customers", "format": ","},
                            {
                                "field": "conversion_from_previous",
                                "title": "% of previous stage",
                                "format": ".1%",
                            },
                        ],
                    },
                },
                {
                    "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11},
                    "encoding": {
                        "x": {"field": "right", "type": "quantitative"},
                        "text": {"field": "customers", "type": "quantitative", "format": ","},
                    },
                },
                {
                    "name": "conversion",
                    "transform": [
                        {"filter": "datum.conversion_from_previous != null"},
                        {"calculate": CONVERSION_LABEL, "as": "conversion_label"},
                    ],
                    "mark": {
                        "type": "text",
                        "dy": -FUNNEL_STEP / 2,
                        "fontSize": 10,
                        "color": "#555555",
                    },
                    "encoding": {
                        "x": {"datum": 0, "type": "quantitative"},
                        "text": {"field": "conversion_label", "type": "nominal"},
                    },
                },
            ],
        },
        "resolve": {"scale": {"x": "independent"}},
    }


def funnel_charts(conn: duckdb.DuckDBPyConnection) -> list[Chart]:
    rows = fetch(conn, FUNNEL_TABLE, None)
    stages = list(FUNNEL_STAGES)
    stats = _vl(
        "Campaign stats: customers per stage and archetype",
        rows,
        {
            "encoding": {
                "x": {
                    "field": "archetype",
                    "type": "nominal",
                    "sort": list(ARCHETYPE_NAMES),
                    "title": "Archetype",
                    "axis": {"labelAngle": -20, "labelLimit": 200},
                },
                "y": {"field": "stage", "type": "ordinal", "sort": stages, "title": "Stage"},
            },
            "layer": [
                {
                    "mark": "rect",
                    "encoding": {
                        "color": {
                            "field": "conversion_from_reached",
                            "type": "quantitative",
                            "title": "Share of reached customers",
                            "legend": {"format": ".0%"},
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
            "Customers per archetype who reached each stage of the simulated campaign; "
            "between two bars, the share of the previous stage's customers who went on.",
            FUNNEL_TABLE,
            None,
            rows,
            funnel_spec("Campaign funnel by archetype", rows),
            value_fields=("customers",),
            wide=True,
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
            wide=True,
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
            (r := in_order(rows("archetype"), "member", ARCHETYPE_NAMES)),
            pie(
                f"Customers by archetype (total {total_n:,})",
                r,
                "member",
                "customers",
                ARCHETYPE_NAMES,
                legend="Archetype",
            ),
            value_fields=("customers",),
            field_titles={"member": "Archetype"},
        )
    ]
    for figure, title, label in (
        ("product_sales", "Sales per product (open accounts)", "Product"),
        ("campaign_onboarded", "Customers onboarded by the campaign, per card", "Card"),
        ("risk_category", "Customers by risk category", "Risk category"),
        ("affluence_level", "Customers by affluence level", "Affluence level"),
        ("segment", "Customers by segment", "Segment"),
        ("state", "Customers by state", "State"),
    ):
        value = "accounts" if figure == "product_sales" else "customers"
        order = FIGURE_ORDER.get(figure)
        r = in_order(rows(figure), "member", order) if order else rows(figure)
        charts.append(
            Chart(
                f"{figure}_bar",
                title,
                LEAD_FIGURE_TEXT.get(figure, ""),
                LEAD_TABLE,
                figure,
                r,
                bar(
                    title,
                    r,
                    "member",
                    value,
                    label=label,
                    value_title="Open accounts" if value == "accounts" else "Customers",
                    sort=list(order) if order else "-x",
                ),
                value_fields=(value,),
                field_titles={"member": label},
            )
        )
    r = rows("mode_by_month")
    months = whole_months(conn)
    charts.append(
        Chart(
            "transactions_by_mode",
            "Transactions by mode over time",
            "Transaction counts per month and mode (UPI, QR, Card), all statuses." + months.note(r),
            LEAD_TABLE,
            "mode_by_month",
            r,
            lines(
                "Transactions by mode over time",
                r,
                "month",
                "transactions",
                y_title="Transactions",
                series="member",
                legend="Payment mode",
                months=months,
            ),
            value_fields=("transactions",),
            field_titles={"member": "Payment mode"},
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
            bar(
                "Transactions by reason",
                r,
                "member",
                "transactions",
                label="Reason",
                value_title="Transactions",
            ),
            value_fields=("transactions",),
            field_titles={"member": "Reason"},
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
    months = whole_months(conn)
    total = sum(r["spend"] for r in monthly)
    seg_order = list(SPEND_SEGMENTS)
    per_reason: dict[tuple[str, str], float] = {}
    for r in flow:
        key = (r["segment"], r["category"])
        per_reason[key] = per_reason.get(key, 0.0) + r["spend"]
    by_reason = _vl(
        f"Spend per reason, by spend segment ({AMOUNT_UNIT})",
        flow,
        {
            "transform": [
                {
                    "aggregate": [{"op": "sum", "field": "spend", "as": "spend"}],
                    "groupby": ["segment", "category"],
                },
                {"calculate": SI.format("datum.spend"), "as": "value_label"},
            ],
            "facet": {
                "row": {
                    "field": "segment",
                    "type": "ordinal",
                    "sort": seg_order,
                    "title": "Spend segment",
                }
            },
            "spec": {
                "width": WIDTH,
                "encoding": {
                    "y": {"field": "category", "type": "nominal", "sort": "-x", "title": "Reason"},
                    "x": {
                        "field": "spend",
                        "type": "quantitative",
                        **amount_axis("Spend", list(per_reason.values())),
                    },
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
            f"Successful debits, cumulative by month; total {total:,.2f} ({AMOUNT_UNIT})."
            + months.note(monthly),
            SPEND_TABLE,
            "monthly",
            monthly,
            lines(
                f"Cumulative spend (total {total:,.0f}, {AMOUNT_UNIT})",
                monthly,
                "month",
                "cumulative_spend",
                y_title="Cumulative spend",
                months=months,
                amount=True,
            ),
            value_fields=("spend", "cumulative_spend"),
        ),
        Chart(
            "spend_by_category",
            "Category-wise spend trends",
            f"Spend per month for each category, in {AMOUNT_UNIT}." + months.note(category),
            SPEND_TABLE,
            "category_month",
            category,
            lines(
                "Spend per category and month",
                category,
                "month",
                "spend",
                y_title="Spend",
                series="category",
                legend="Spend category",
                months=months,
                amount=True,
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
            pie(
                "Customers by spend segment",
                segment,
                "segment",
                "customers",
                seg_order,
                legend="Spend segment",
            ),
            value_fields=("customers",),
        ),
        Chart(
            "spend_by_segment",
            "Spend by spend segment",
            f"Total spend per spend segment, in {AMOUNT_UNIT}.",
            SPEND_TABLE,
            "segment",
            segment,
            pie(
                f"Spend by spend segment ({AMOUNT_UNIT})",
                segment,
                "segment",
                "spend",
                seg_order,
                legend="Spend segment",
                amount=True,
            ),
            value_fields=("spend",),
        ),
        Chart(
            "spend_by_reason_and_segment",
            "Spend per reason and segment",
            f"Spend per reason within each spend segment, in {AMOUNT_UNIT}.",
            SPEND_TABLE,
            "flow",
            flow,
            by_reason,
            value_fields=("spend",),
            wide=True,
        ),
        Chart(
            "spend_flow_sankey",
            "Spend flow",
            f"Spend from segment to category to mode; band width is spend ({AMOUNT_UNIT}), "
            "bands coloured by the spend segment they come from.",
            SPEND_TABLE,
            "flow",
            flow,
            sankey_spec(f"Spend flow: segment → category → mode ({AMOUNT_UNIT})", flow),
            grammar="vega",
            value_fields=("spend",),
            wide=True,
        ),
        Chart(
            "spend_treemap",
            "Spend dimensions",
            f"Relative size of spend ({AMOUNT_UNIT}) by segment, category and mode; hover a "
            "tile for its amount, the data table lists every tile.",
            SPEND_TABLE,
            "flow",
            flow,
            treemap_spec(f"Spend by segment, category and mode ({AMOUNT_UNIT})", flow),
            grammar="vega",
            value_fields=("spend",),
            wide=True,
        ),
    ]


# --- Vega specs: layouts Vega-Lite has no mark for ---------------------------------------

SANKEY_LEVELS = ("segment", "category", "mode")


def sankey_layout(
    rows: Sequence[Row], width: float = 860, height: float = 460, node_w: float = 14
) -> tuple[list[Row], list[Row]]:
    """Nodes and link bands of a three-level Sankey, laid out here (Vega has no Sankey).

    Nodes of a level are stacked largest first; each link is a band as thick as its spend,
    leaving its source and entering its target in the order of the other end. Every band
    carries the spend segment its money comes from (category → mode bands are split per
    segment), so the bands can be coloured by segment all the way through.
    """
    totals: dict[tuple[int, str], float] = {}
    links: dict[tuple[int, str, str, str], float] = {}
    for r in rows:
        for level, key in enumerate(SANKEY_LEVELS):
            totals[(level, r[key])] = totals.get((level, r[key]), 0.0) + r["spend"]
        for level in range(len(SANKEY_LEVELS) - 1):
            k = (level, r[SANKEY_LEVELS[level]], r[SANKEY_LEVELS[level + 1]], r["segment"])
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
    rank = {seg: i for i, seg in enumerate(SPEND_SEGMENTS)}
    order = sorted(
        links,
        key=lambda k: (
            k[0],
            nodes[(k[0], k[1])]["y"],
            nodes[(k[0] + 1, k[2])]["y"],
            rank.get(k[3], len(rank)),
        ),
    )
    for level, src, dst, segment in order:
        s, t = nodes[(level, src)], nodes[(level + 1, dst)]
        h = links[(level, src, dst, segment)] * scale
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
            {
                "source": src,
                "target": dst,
                "segment": segment,
                "spend": links[(level, src, dst, segment)],
                "path": path,
            }
        )
    return list(nodes.values()), bands


# Segment nodes take their segment's colour; category and mode nodes are neutral.
NODE_FILL = "datum.level == 'segment' ? scale('segment', datum.name) : '#555555'"


def sankey_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    nodes, bands = sankey_layout(rows)
    label = SI.format("datum.spend")
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "background": "white",  # Vega is transparent by default: bands would blend into the page
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
                "name": "segment",
                "type": "ordinal",
                "domain": list(SPEND_SEGMENTS),
                "range": list(SEGMENT_COLOURS),
            }
        ],
        "legends": [
            {
                "fill": "segment",
                "title": "Spend segment (band colour)",
                "orient": "bottom",
                "direction": "horizontal",
            }
        ],
        "marks": [
            {
                "type": "path",
                "from": {"data": "links"},
                "encode": {
                    "enter": {
                        "path": {"field": "path"},
                        "fill": {"scale": "segment", "field": "segment"},
                        "fillOpacity": {"value": 0.5},
                        "tooltip": {
                            "signal": "datum.segment + ': ' + datum.source + ' → ' + "
                            f"datum.target + ': ' + {label}"
                        },
                    },
                    "hover": {"fillOpacity": {"value": 0.8}},
                    "update": {"fillOpacity": {"value": 0.5}},
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
                        "fill": {"signal": NODE_FILL},
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
    data: str, label: str, *, font_size: int, full: str, short: str, bold: bool = False
) -> dict[str, Any]:
    """Name and amount in a cell's corner where they fit (`full`), else the name alone where
    that fits (`short`); a cell too small for either still has its tooltip and table row."""
    enter: dict[str, Any] = {
        "x": {"signal": "datum.x0 + 3"},
        "y": {"signal": f"datum.y0 + {font_size + 2}"},
        "fontSize": {"value": font_size},
        "limit": {"signal": "max(datum.x1 - datum.x0 - 4, 0)"},
        "text": {"signal": f"({full}) ? datum.name + ' ' + {label} : ({short}) ? datum.name : ''"},
    }
    if bold:
        enter["fontWeight"] = {"value": "bold"}
    return {"type": "text", "from": {"data": data}, "encode": {"enter": enter}}


def treemap_spec(title: str, rows: Sequence[Row]) -> dict[str, Any]:
    label = SI.format("datum.total")
    return {
        "$schema": "https://vega.github.io/schema/vega/v5.json",
        "background": "white",  # Vega is transparent by default: bands would blend into the page
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
        "legends": [{"fill": "color", "title": "Spend category", "orient": "right"}],
        "marks": [
            _tile(
                "groups",
                {
                    "fill": {"value": "#eeeeee"},
                    "tooltip": {"signal": f"datum.name + ': ' + {label}"},
                },
            ),
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
            _tile_label(
                "groups",
                label,
                font_size=10,
                full="datum.x1 - datum.x0 > 90",
                short="datum.x1 - datum.x0 > 24",
                bold=True,
            ),
            _tile_label(
                "leaves",
                label,
                font_size=9,
                full="datum.x1 - datum.x0 > 56 && datum.y1 - datum.y0 > 13",
                short="datum.x1 - datum.x0 > 18 && datum.y1 - datum.y0 > 11",
            ),
        ],
    }
