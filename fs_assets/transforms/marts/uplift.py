"""`marts.campaign_uplift`: does offering the recommended card convert better?

Among contacted customers who have a recommended card (marts.cross_sell), per archetype:
those offered that card against those offered another one. A customer converts when a
valid event of CONVERTED_EVENTS exists for them (applied or further). Uplift is the
recommended group's conversion minus the other group's, in percentage points; null when
either group is empty.
"""

from __future__ import annotations

from typing import Any

import duckdb

from fs_assets.transforms.marts.charts import DATA_NAME, Chart, fetch
from fs_assets.transforms.marts.cross_sell import CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.model import ARCHETYPE_NAMES, CONVERTED_EVENTS
from fs_assets.transforms.marts.page_data import Binding

UPLIFT_TABLE = "marts.campaign_uplift"
RECOMMENDED, OTHER = "Recommended card", "Other card"
OFFERS = (RECOMMENDED, OTHER)

_SQL = f"""create or replace table {UPLIFT_TABLE} as
with archetypes as (
  select unnest(?::varchar[]) as archetype,
    unnest(range(1, len(?::varchar[]) + 1)) as archetype_order
),
offers as (select unnest(?::varchar[]) as offer),
contacted as (
  select x.cust_id, x.archetype, case when x.offered_recommended then ? else ? end as offer,
    exists (select 1 from {EVENTS_TABLE} e where e.cust_id = x.cust_id
            and e.event_type in (select unnest(?::varchar[]))) as converted
  from {CROSS_SELL_TABLE} x
  where x.recommended_product_id is not null and x.offered_product_id is not null
),
counts as (
  select a.archetype, a.archetype_order, o.offer, count(c.cust_id)::bigint as contacted,
    count(c.cust_id) filter (where c.converted)::bigint as converted
  from archetypes a cross join offers o
  left join contacted c on c.archetype = a.archetype and c.offer = o.offer
  group by all
),
rated as (
  select *, converted / nullif(contacted, 0) as conversion from counts
)
select archetype, offer, contacted, converted, conversion,
  100 * (max(conversion) filter (where offer = ?) over (partition by archetype)
       - max(conversion) filter (where offer = ?) over (partition by archetype))
    as uplift_points
from rated
order by archetype_order, offer desc
"""


def build_uplift(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)create the uplift mart; its row count (archetypes x the two offers)."""
    names = list(ARCHETYPE_NAMES)
    conn.execute(
        _SQL,
        [names, names, list(OFFERS), RECOMMENDED, OTHER, list(CONVERTED_EVENTS), *OFFERS],
    )
    return int(conn.execute(f"select count(*) from {UPLIFT_TABLE}").fetchall()[0][0])


def uplift_by_archetype(conn: duckdb.DuckDBPyConnection) -> dict[str, float | None]:
    """Uplift in percentage points per archetype (None where a group is empty)."""
    rows = conn.execute(
        f"select archetype, any_value(uplift_points) from {UPLIFT_TABLE} group by 1"
    ).fetchall()
    found = {a: (None if u is None else round(float(u), 1)) for a, u in rows}
    return {a: found.get(a) for a in ARCHETYPE_NAMES}


def uplift_spec(rows: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """Grouped bars: conversion per archetype, recommended card beside another card."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Conversion by offer: the recommended card against another card",
        "width": 560,
        "height": 300,
        "data": {"name": DATA_NAME, "values": list(rows)},
        "encoding": {
            "x": {
                "field": "archetype",
                "type": "ordinal",
                "sort": list(ARCHETYPE_NAMES),
                "title": "Archetype",
                "axis": {"labelAngle": -20},
            },
            "xOffset": {"field": "offer", "sort": list(OFFERS)},
            "y": {
                "field": "conversion",
                "type": "quantitative",
                "title": "Conversion (applied or further / contacted)",
                "axis": {"format": ".0%"},
            },
            "color": {
                "field": "offer",
                "type": "nominal",
                "sort": list(OFFERS),
                "title": "Card offered",
            },
        },
        "layer": [
            {"mark": {"type": "bar", "tooltip": True}},
            {
                "mark": {"type": "text", "baseline": "bottom", "dy": -2, "fontSize": 10},
                "encoding": {"text": {"field": "conversion", "format": ".0%"}},
            },
        ],
    }


def uplift_charts(conn: duckdb.DuckDBPyConnection) -> list[Chart]:
    rows = fetch(conn, UPLIFT_TABLE, None)
    return [
        Chart(
            name="campaign_uplift",
            title="Uplift of recommended cards",
            description=(
                "Share of contacted customers with a recommended card who applied (or got "
                "further), by whether the campaign offered them that card; uplift_points is "
                "the difference in percentage points."
            ),
            table=UPLIFT_TABLE,
            figure=None,
            rows=rows,
            spec=uplift_spec(rows),
            value_fields=("contacted", "converted", "conversion"),
            wide=True,
            binding=UPLIFT_BINDING,
        )
    ]


# The page sums the counts per archetype and offer under its filters, then divides: the
# conversion per offer and the uplift (recommended minus other, in points), as the mart.
UPLIFT_BINDING = Binding(
    "uplift",
    {"archetype": "archetype", "offer": "offer"},
    ("contacted", "converted"),
    "ratio",
    click="archetype",
    extra={
        "ratios": {"conversion": ["converted", "contacted"]},
        "difference": {
            "as": "uplift_points",
            "of": "conversion",
            "by": "archetype",
            "across": "offer",
            "minus": list(OFFERS),
            "scale": 100,
        },
    },
)
