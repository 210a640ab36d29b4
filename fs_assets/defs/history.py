"""`mastered.<entity>_history` (SCD type 2): what the catalog and lineage say about it.

The rows are written by mastering (`mastering.history_select_sql`), in the same
transaction as `mastered.<entity>`; this module only declares them: the asset key, the
columns with their meaning, and where each column comes from.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from fs_assets.catalog.derive import UnionOf
from fs_assets.defs.keys import raw_key
from fs_assets.defs.metadata import column_schema, mastered_column_lineage
from fs_assets.model.columns import Entity
from fs_assets.model.keys import MASTERED_SCHEMA, history_name, past_versions_name
from fs_assets.transforms.raw_history import VERSION_COLUMN

HISTORY_DOCS = {
    "valid_from": (
        "TIMESTAMP",
        "When this version took effect: its modified_at. Inclusive.",
    ),
    "valid_to": (
        "TIMESTAMP",
        "When the next valid version took effect (exclusive); NULL for the current version.",
    ),
}


# "Customer X on date D": the version valid then (valid_from inclusive, valid_to exclusive).
AS_OF_SQL = (
    "select * from mastered.customer_history where cust_id = ? "
    "and valid_from <= ? and (valid_to is null or ? < valid_to)"
)


def history_grain(ent: Entity) -> str:
    return (
        f"one row per valid version of a {ent.name} ({ent.key}, valid_from); a version is "
        f"current from valid_from until valid_to, the current one has valid_to NULL"
    )


def history_column_schema(ent: Entity) -> dg.TableSchema:
    """The mastered columns (typed, PII tags kept) plus the validity interval."""
    base = column_schema(ent, typed=True)
    key_unique = [
        dg.TableColumn(
            name=c.name,
            type=c.type,
            description=c.description,
            constraints=dg.TableColumnConstraints(
                nullable=c.constraints.nullable if c.constraints else True, unique=False
            ),
            tags=c.tags,
        )
        for c in base.columns
    ]
    interval = [
        dg.TableColumn(
            name=n,
            type=t,
            description=d,
            constraints=dg.TableColumnConstraints(nullable=n == "valid_to"),
        )
        for n, (t, d) in HISTORY_DOCS.items()
    ]
    return dg.TableSchema(columns=key_unique + interval)


def history_column_lineage(ent: Entity) -> dg.TableColumnLineage:
    """Like mastered: each column from raw; valid_from/valid_to from raw modified_at."""
    source = raw_key(ent.name)
    deps = dict(mastered_column_lineage(ent).deps_by_column)
    for name in HISTORY_DOCS:
        deps[name] = [dg.TableColumnDep(asset_key=source, column_name="modified_at")]
    return dg.TableColumnLineage(deps)


def history_unions(entities: Iterable[Entity]) -> dict[str, UnionOf]:
    """Each entity's history view as the union the mastering write makes of it (its
    current rows, then the stored past versions): the catalog scanner derives the view's
    profile from its parts' instead of profiling every version again."""
    return {
        f"{MASTERED_SCHEMA}.{history_name(ent)}": UnionOf(
            f"{MASTERED_SCHEMA}.{ent.name}",
            f"{MASTERED_SCHEMA}.{past_versions_name(ent)}",
            VERSION_COLUMN,
            *HISTORY_DOCS,
        )
        for ent in entities
    }
