"""Survivorship: one golden record per person, attribute by attribute.

For each attribute the value comes from the person's records holding a valid value (its
standardised form is not NULL): the most trusted source first (lowest trust rank), then
the most recent update, then the lowest record id, so the choice is deterministic. The
winning source is recorded beside each value (`<attribute>_source`).
"""

from __future__ import annotations

import duckdb

from fs_assets.identity.attributes import ATTRIBUTES
from fs_assets.identity.canonical import SCHEMA


def _survivor(attribute: str) -> str:
    valid = f"filter (where f.{attribute} is not null)"
    return (
        f"arg_min(r.{attribute}, r.preference) {valid} as {attribute}, "
        f"arg_min(r.source, r.preference) {valid} as {attribute}_source"
    )


# A person's records in order of preference: most trusted source, then newest update (a
# record without one last), then record id; 1 is preferred.
_RANKED = (
    "select i.golden_id, r.*, row_number() over (partition by i.golden_id order by "
    "r.trust_rank, r.updated_at desc nulls last, r.unique_id) as preference "
    "from {identity} i join " + SCHEMA + ".records r using (unique_id)"
)


def golden_customers(
    con: duckdb.DuckDBPyConnection,
    identity: str = f"{SCHEMA}.customer_identity",
    target: str = f"{SCHEMA}.golden_customer",
) -> int:
    """`target` (`identity.golden_customer` by default): one row per golden id of the
    `identity` table, its surviving values, their sources, and how many records from
    which sources it gathers."""
    survivors = ", ".join(_survivor(a) for a in ATTRIBUTES)
    ranked = _RANKED.format(identity=identity)
    con.execute(
        f"create or replace table {target} as select r.golden_id, "
        f"{survivors}, count(*) as source_records, "
        "list(distinct r.source order by r.source) as sources, "
        "max(r.updated_at) as last_updated_at "
        f"from ({ranked}) r join {SCHEMA}.features f using (unique_id) "
        "group by r.golden_id order by r.golden_id"
    )
    return con.execute(f"select count(*) from {target}").fetchall()[0][0]
