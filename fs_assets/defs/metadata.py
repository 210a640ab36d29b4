"""Catalog-grade Dagster metadata from the entity model: schemas, PII tags, lineage."""

from __future__ import annotations

import dagster as dg

from fs_assets.defs.keys import raw_key
from fs_assets.model.columns import Entity
from fs_assets.model.cross_entity import DERIVED_FROM

RAW_AUDIT_DOCS = {
    "_modified_ts": ("TIMESTAMP", "modified_at parsed; with the key, the merge identity."),
    "_source_file": ("VARCHAR", "Landing file the version came from."),
    "_source_row": ("BIGINT", "Data row number within that file (1 = first row after header)."),
    "_ingested_at": ("TIMESTAMP", "When the file was ingested (UTC)."),
    "_batch_id": ("BIGINT", "Ledger id of the ingestion (meta.ingest_ledger.ingest_id)."),
}
MASTERED_AUDIT_DOCS = {
    k: RAW_AUDIT_DOCS[k] for k in ("_source_file", "_source_row", "_ingested_at")
}


def _tags(pii: str | None) -> dict[str, str]:
    return {"pii": pii} if pii else {}


def column_schema(ent: Entity, *, typed: bool) -> dg.TableSchema:
    """The table's columns with types, descriptions, constraints and PII tags."""
    columns = [
        dg.TableColumn(
            name=col.name,
            type=col.type if typed else "VARCHAR",
            description=col.description + (f" PII: {col.pii}." if col.pii else ""),
            constraints=dg.TableColumnConstraints(
                nullable=not (col.required and not col.personal_only) if typed else True,
                unique=col.name == ent.key and typed,
            ),
            tags=_tags(col.pii),
        )
        for col in (*ent.columns, *(ent.derived_columns if typed else ()))
    ]
    audit = MASTERED_AUDIT_DOCS if typed else RAW_AUDIT_DOCS
    columns += [dg.TableColumn(name=n, type=t, description=d) for n, (t, d) in audit.items()]
    return dg.TableSchema(columns=columns)


def mastered_column_lineage(ent: Entity) -> dg.TableColumnLineage:
    """Each mastered column comes from the raw column of the same name (cast, validated); a
    derived column from the columns it is computed from (an amount and an fx rate)."""
    source = raw_key(ent.name)
    deps = {
        col: [dg.TableColumnDep(asset_key=source, column_name=col)]
        for col in (*ent.column_names, *MASTERED_AUDIT_DOCS)
    }
    for col, sources in DERIVED_FROM.get(ent.name, {}).items():
        deps[col] = [
            dg.TableColumnDep(asset_key=dg.AssetKey([schema, table]), column_name=column)
            for schema, table, column in sources
        ]
    return dg.TableColumnLineage(deps)


def table_name(schema: str, table: str) -> str:
    return f"warehouse.{schema}.{table}"
