"""Survivorship: one golden record per person, attribute by attribute.

For each attribute the value comes from the person's records holding a valid value (its
standardised form is not NULL): the most trusted source first (lowest trust rank), then
the most recent update, then the lowest record id, so the choice is deterministic. The
winning source is recorded beside each value (`<attribute>_source`).

`update_golden_customers` recomputes only the people whose records changed since the
last survivorship: a person's fingerprint (XOR of the hashes of their records' and
features' rows, and how many) is kept in `identity.survived`; a golden id whose
fingerprint differs, or that appeared or went, is recomputed or removed, the others are
kept. Without that snapshot (first run, a run that found nothing to link) it is full.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from fs_assets.identity.attributes import ATTRIBUTES
from fs_assets.identity.canonical import SCHEMA
from fs_assets.identity.tables import SURVIVED
from fs_assets.transforms.duckdb_file import transaction


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
    temporary: bool = False,
) -> int:
    """`target` (`identity.golden_customer` by default): one row per golden id of the
    `identity` table (or relation), its surviving values, their sources, and how many
    records from which sources it gathers."""
    survivors = ", ".join(_survivor(a) for a in ATTRIBUTES)
    ranked = _RANKED.format(identity=identity)
    con.execute(
        f"create or replace {'temp ' if temporary else ''}table {target} as select r.golden_id, "
        f"{survivors}, count(*) as source_records, "
        "list(distinct r.source order by r.source) as sources, "
        "max(r.updated_at) as last_updated_at "
        f"from ({ranked}) r join {SCHEMA}.features f using (unique_id) "
        "group by r.golden_id order by r.golden_id"
    )
    return con.execute(f"select count(*) from {target}").fetchall()[0][0]


_FINGERPRINTS = "_identity_fingerprints"
_CHANGED = "_identity_changed_people"
_RECOMPUTED = "_identity_golden_recomputed"


def _snapshot_exists(con: duckdb.DuckDBPyConnection) -> bool:
    schema, name = SURVIVED.split(".")
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
    )


# A golden record's bookkeeping column: the newest update among the person's records. It
# moves with any update of a record, also one that changes no surviving value.
BOOKKEEPING = ("last_updated_at",)


@dataclass(frozen=True)
class Survival:
    """What one survivorship run did: `recomputed` people (None: all, a full run), and of
    those `values_changed`: people whose golden record appeared, went or now holds another
    value in a column other than the bookkeeping ones (None: not compared, a full run)."""

    recomputed: int | None
    values_changed: int | None


def _values_changed(con: duckdb.DuckDBPyConnection, target: str) -> int:
    """Recomputed people whose record differs from the one it replaces (bookkeeping aside)."""
    cols = [
        c[0] for c in con.execute(f"describe {_RECOMPUTED}").fetchall() if c[0] not in BOOKKEEPING
    ]
    listed = ", ".join(cols)
    old = f"(select {listed} from {target} where golden_id in (select golden_id from {_CHANGED}))"
    new = f"(select {listed} from {_RECOMPUTED})"
    return con.execute(
        f"select count(distinct golden_id) from ((from {new} except all from {old}) "
        f"union all (from {old} except all from {new}))"
    ).fetchall()[0][0]


def update_golden_customers(
    con: duckdb.DuckDBPyConnection, identity: str, target: str, full: bool = False
) -> Survival:
    """Bring `target` up to date with `identity`: recompute the people whose records or
    membership changed since the last run, or all (a full run, when `full` or without a
    snapshot). Table and snapshot change in one transaction."""
    con.execute(
        f"create or replace temp table {_FINGERPRINTS} as select i.golden_id, "
        "bit_xor(hash(r, f)) as fingerprint, count(*) as records "
        f"from {identity} i join {SCHEMA}.records r using (unique_id) "
        f"join {SCHEMA}.features f using (unique_id) group by i.golden_id"
    )
    incremental = not full and _snapshot_exists(con)
    if incremental:
        con.execute(
            f"create or replace temp table {_CHANGED} as select golden_id from "
            f"(select * from {_FINGERPRINTS} except select * from {SURVIVED}) union "
            f"select golden_id from (select * from {SURVIVED} except select * from {_FINGERPRINTS})"
        )
        scope = f"(select * from {identity} where golden_id in (select golden_id from {_CHANGED}))"
        changed = golden_customers(con, scope, _RECOMPUTED, temporary=True)
        values_changed = _values_changed(con, target)
    with transaction(con):
        if incremental:
            changed_ids = f"golden_id in (select golden_id from {_CHANGED})"
            con.execute(f"delete from {target} where {changed_ids}")
            con.execute(f"insert into {target} by name select * from {_RECOMPUTED}")
            con.execute(f"delete from {SURVIVED} where {changed_ids}")
            con.execute(f"insert into {SURVIVED} select * from {_FINGERPRINTS} where {changed_ids}")
        else:
            golden_customers(con, identity, target)
            con.execute(f"create or replace table {SURVIVED} as select * from {_FINGERPRINTS}")
    for temp in (_FINGERPRINTS, _CHANGED, _RECOMPUTED):
        con.execute(f"drop table if exists {temp}")
    return Survival(changed, values_changed) if incremental else Survival(None, None)
