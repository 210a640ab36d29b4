"""The dashboards' data-quality tiles: rows quarantined at mastering, per entity.

Read from the quarantine tables mastering writes, so a reader of the charts sees how many
delivered rows were kept out of them: keys rejected (no valid version) and pending
corrections (a newer version that breaks a rule, its key still mastered as before).
"""

from __future__ import annotations

from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import QUARANTINE_SCHEMA, pending_table, rejects_table
from fs_assets.transforms.reader import SqlReader


def quarantine_names() -> list[tuple[str, str]]:
    """Every quarantine table the tiles read, as (schema, name)."""
    return [
        (QUARANTINE_SCHEMA, f"{name}_{kind}")
        for name in ENTITIES
        for kind in ("rejects", "pending_corrections")
    ]


def quarantine_counts(
    conn: SqlReader, present: set[tuple[str, str]] | None = None
) -> dict[str, tuple[int, int]]:
    """Entity -> (rejected rows, pending corrections), for entities mastered so far.

    `present`: the quarantine tables that exist (the engine's `present`); None: asked of
    the DuckDB connection's information_schema."""
    if present is None:
        present = {
            (QUARANTINE_SCHEMA, name)
            for (name,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = ?",
                [QUARANTINE_SCHEMA],
            ).fetchall()
        }
    names = {n for s, n in present if s == QUARANTINE_SCHEMA}
    counts = {}
    for name, ent in ENTITIES.items():
        if {f"{name}_rejects", f"{name}_pending_corrections"} <= names:
            ((rejected,),) = conn.execute(f"select count(*) from {rejects_table(ent)}").fetchall()
            ((pending,),) = conn.execute(f"select count(*) from {pending_table(ent)}").fetchall()
            counts[name] = (int(rejected), int(pending))
    return counts


def quality_kpis(conn: SqlReader, present: set[tuple[str, str]] | None = None) -> dict[str, str]:
    """One tile per entity: 'Quarantine: customer (rejected / pending)' -> '14 / 3'."""
    return {
        f"Quarantine: {name} (rejected / pending)": f"{rejected:,} / {pending:,}"
        for name, (rejected, pending) in quarantine_counts(conn, present).items()
    }
