"""`marts.campaign_uplift`: does offering the recommended card convert better?

The unit is a contact: a (person, campaign) pair where a valid `contacted` event of the
campaign reached any of the person's core records (marts.cross_sell.person_id: their
golden id, or the core customer identity resolution has not linked), for people whose
person_record has a recommended card. A contact is in the `Recommended card` group when
that campaign offered the person record's recommended card (mastered.campaign.product_id),
else in `Other card`; it converts when a valid event of CONVERTED_EVENTS (applied or
further) of the same campaign is on any of the person's core records. So a person the
campaign contacted through two records is one contact, and a person contacted by two
campaigns counts once in each, with that campaign's outcome. Per archetype (the person
record's): contacts, conversions, conversion, and uplift (the recommended group's
conversion minus the other's, in percentage points; null when either group is empty).
"""

from __future__ import annotations

from typing import Any

import duckdb

from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.marts.charts import DATA_NAME, Chart, fetch
from fs_assets.transforms.marts.cross_sell import CAMPAIGNS_TABLE, CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    CONVERTED_EVENTS,
    OFFERS,
    OTHER,
    RECOMMENDED,
)
from fs_assets.transforms.marts.page_data import Binding
from fs_assets.transforms.reader import SqlReader

UPLIFT_TABLE = "marts.campaign_uplift"

_SQL = f"""create or replace table {UPLIFT_TABLE} as
with archetypes as (
  select unnest(?::varchar[]) as archetype,
    unnest(range(1, len(?::varchar[]) + 1)) as archetype_order
),
offers as (select unnest(?::varchar[]) as offer),
contacts as (
  select x.person_id, e.campaign_id,
    bool_or(list_contains(?::varchar[], e.event_type)) as converted
  from {EVENTS_TABLE} e join {CROSS_SELL_TABLE} x using (cust_id)
  group by x.person_id, e.campaign_id
  having bool_or(e.event_type = ?)
),
contacted as (
  select k.person_id, x.archetype,
    case when c.product_id = x.recommended_product_id then ? else ? end as offer, k.converted
  from contacts k join {CROSS_SELL_TABLE} x on x.person_id = k.person_id and x.person_record
  join {CAMPAIGNS_TABLE} c using (campaign_id)
  where x.recommended_product_id is not null
),
counts as (
  select a.archetype, a.archetype_order, o.offer, count(c.person_id)::bigint as contacted,
    count(c.person_id) filter (where c.converted)::bigint as converted
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


def uplift_sql() -> tuple[str, list[object]]:
    """The statement that (re)creates the uplift mart, and its parameters in order."""
    names = list(ARCHETYPE_NAMES)
    return _SQL, [
        names,
        names,
        list(OFFERS),
        list(CONVERTED_EVENTS),
        CAMPAIGN_EVENT_TYPES[0],
        RECOMMENDED,
        OTHER,
        *OFFERS,
    ]


def build_uplift(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)create the uplift mart; its row count (archetypes x the two offers)."""
    conn.execute(*uplift_sql())
    return int(conn.execute(f"select count(*) from {UPLIFT_TABLE}").fetchall()[0][0])


def uplift_by_archetype(conn: SqlReader) -> dict[str, float | None]:
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
                "title": "Conversion (applied or further in the campaign / contacts)",
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


def uplift_charts(conn: SqlReader) -> list[Chart]:
    rows = fetch(conn, UPLIFT_TABLE, None)
    return [
        Chart(
            name="campaign_uplift",
            title="Uplift of recommended cards",
            description=(
                "Share of contacts (a person contacted by a campaign, through any of their "
                "core records) of people with a recommended card that led to an application "
                "(or further) in the same campaign, by whether that campaign offered the "
                "recommended card; uplift_points is the difference in percentage points."
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
