"""Checks across the rows of mastered.campaign_event that no per-row rule can state.

Stage order spans rows: a customer's `applied` needs their `responded` for the same
campaign, no later. Mastering keeps such an event (each row is valid on its own); this
check flags it with the reason, so the funnel's stages can be read with that in mind.
"""

from __future__ import annotations

import dagster as dg
import duckdb

from fs_assets.defs.keys import mastered_key
from fs_assets.model.entities import CAMPAIGN_EVENT
from fs_assets.model.keys import mastered_table
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

SAMPLE = 10  # events named in the check's metadata


def out_of_order_events(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(event_id, reason) of every event whose previous stage is missing for its customer
    and campaign, or comes after it; ordered by event_id."""
    table = mastered_table(CAMPAIGN_EVENT)
    return conn.execute(
        f"""with e as (
              select event_id, cust_id, campaign_id, event_type, event_ts,
                list_position(?::varchar[], event_type) as stage from {table})
            select e.event_id, e.event_type || ' without an earlier '
                   || (?::varchar[])[e.stage - 1] || ' for this customer and campaign'
            from e
            where e.stage > 1 and not exists (
              select 1 from e p where p.cust_id = e.cust_id and p.campaign_id = e.campaign_id
                and p.stage = e.stage - 1 and p.event_ts <= e.event_ts)
            order by e.event_id""",
        [list(CAMPAIGN_EVENT_TYPES), list(CAMPAIGN_EVENT_TYPES)],
    ).fetchall()


@dg.asset_check(
    asset=mastered_key(CAMPAIGN_EVENT.name),
    name="events_in_stage_order",
    description="Every campaign event after contacted has the previous stage's event for "
    "the same customer and campaign, no later; the ones that do not are named with why.",
    pool=WAREHOUSE_POOL,
)
def events_in_stage_order(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as conn:
        found = out_of_order_events(conn)
    return dg.AssetCheckResult(
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(found)} events out of stage order" if found else "every stage in order",
        metadata={
            "out_of_order": dg.MetadataValue.int(len(found)),
            "examples": dg.MetadataValue.json({e: why for e, why in found[:SAMPLE]}),
        },
    )


CAMPAIGN_CHECKS = [events_in_stage_order]
