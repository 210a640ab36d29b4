"""The spend flow as Vega specs: the Sankey and the treemap, layouts Vega-Lite has no mark for.

The Sankey is laid out here (node stacks and link bands as SVG paths), the treemap by
Vega's own transform; both carry the mart's flow rows as their first data set.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Sequence
from typing import Any

from fs_assets.transforms.marts.model import SPEND_SEGMENTS

Row = dict[str, Any]


def json_value(v: Any) -> Any:
    """A DuckDB value as JSON holds it (decimals as floats, dates as ISO text)."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


# Amounts read as 25.5B, 4.73M: d3's SI prefix with G shown as B, as the seed's dashboards.
SI = "replace(format({}, '.3~s'), 'G', 'B')"
# Spend segments keep one colour each on every spend chart (Sankey bands included).
SEGMENT_COLOURS = ("#4c78a8", "#f58518", "#e45756")

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
