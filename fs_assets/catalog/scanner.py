"""The observed side of the catalog: scan every table and view of the warehouse.

The seed registers its Iceberg tables in Metis with a scanner workflow. Here one pass over
DuckDB's information schema finds every table and view (all schemas but `catalog` itself),
profiles each in one aggregate query (count, nulls, approximate distinct, min, max per
column) and joins what it found with what the definitions declare (`tables.py`): the
description, PII tag, owner and producing asset of every column. Tables nobody declares
are orphans, declared tables the warehouse lacks are missing; the scanner's checks report
both by name.

Min and max of PII-tagged columns are not copied into the catalog: the catalog is read
by people who may not read the data (a min e-mail address is an e-mail address).
"""

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import duckdb

from fs_assets.catalog.specs import (
    CATALOG_SCHEMA,
    COLUMNS_SCHEMA,
    COLUMNS_TABLE,
    TABLES_SCHEMA,
    TABLES_TABLE,
)
from fs_assets.catalog.store import create_table, insert_rows
from fs_assets.catalog.tables import DeclaredTable
from fs_assets.model.keys import KeyPath
from fs_assets.model.rules import q

# Schemas the scanner never reads: its own output, and DuckDB's system schemas.
SKIPPED_SCHEMAS = (CATALOG_SCHEMA, "information_schema", "pg_catalog")

LastMaterialized = Callable[[KeyPath], dt.datetime | None]


@dataclass(frozen=True)
class ColumnScan:
    name: str
    position: int
    data_type: str
    nullable: bool
    null_count: int
    distinct_count: int
    min_value: str | None
    max_value: str | None


@dataclass(frozen=True)
class TableScan:
    schema: str
    table: str
    table_type: str
    row_count: int
    columns: tuple[ColumnScan, ...]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class ScanResult:
    tables: list[TableScan]
    scanned_at: dt.datetime
    declared: Mapping[str, DeclaredTable]
    last_materialized: dict[str, dt.datetime | None] = field(default_factory=dict)

    @property
    def names(self) -> set[str]:
        return {t.name for t in self.tables}

    def orphans(self) -> list[str]:
        """Warehouse tables no asset declares or writes."""
        return sorted(self.names - set(self.declared))

    def table_rows(self) -> list[dict[str, object]]:
        rows = []
        for t in self.tables:
            decl = self.declared.get(t.name)
            pii = decl.pii_columns if decl else {}
            present = {c.name for c in t.columns}
            rows.append(
                {
                    "table_schema": t.schema,
                    "table_name": t.table,
                    "table_type": t.table_type,
                    "description": decl.description if decl else None,
                    "owner": decl.owner_label if decl else None,
                    "producing_asset": decl.producer_label if decl else None,
                    "row_count": t.row_count,
                    "column_count": len(t.columns),
                    "pii_columns": ", ".join(f"{c} ({p})" for c, p in pii.items() if c in present)
                    or None,
                    "last_materialized": self.last_materialized.get(t.name),
                    "scanned_at": self.scanned_at,
                }
            )
        return rows

    def column_rows(self) -> list[dict[str, object]]:
        rows = []
        for t in self.tables:
            decl = self.declared.get(t.name)
            for c in t.columns:
                dc = decl.column(c.name) if decl else None
                rows.append(
                    {
                        "table_schema": t.schema,
                        "table_name": t.table,
                        "column_name": c.name,
                        "ordinal_position": c.position,
                        "data_type": c.data_type,
                        "nullable": dc.nullable
                        if dc is not None and dc.nullable is not None
                        else c.nullable,
                        "description": (dc.description or None) if dc else None,
                        "pii_tag": dc.pii if dc else None,
                        "owner": decl.owner_label if decl else None,
                        "producing_asset": decl.producer_label if decl else None,
                        "row_count": t.row_count,
                        "null_count": c.null_count,
                        "null_pct": round(100.0 * c.null_count / t.row_count, 4)
                        if t.row_count
                        else None,
                        "distinct_count": c.distinct_count,
                        "min_value": c.min_value,
                        "max_value": c.max_value,
                        "last_materialized": self.last_materialized.get(t.name),
                    }
                )
        return rows


def list_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, type) of every table and view of the open database, sorted."""
    placeholders = ", ".join("?" for _ in SKIPPED_SCHEMAS)
    return conn.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_catalog = current_database() and table_schema not in ({placeholders}) "
        "order by 1, 2",
        list(SKIPPED_SCHEMAS),
    ).fetchall()


def _columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    return conn.execute(
        "select column_name, ordinal_position, data_type, is_nullable = 'YES' "
        "from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()


def scan_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    table_type: str,
    pii: set[str] | frozenset[str] = frozenset(),
) -> TableScan:
    """Profile one table in a single aggregate query (names come from the catalog, quoted)."""
    cols = _columns(conn, schema, table)
    exprs = ["count(*)"]
    for name, _, _, _ in cols:
        c = q(name)
        exprs += [f"count({c})", f"approx_count_distinct({c})"]
        if name in pii:
            exprs += ["null::varchar", "null::varchar"]
        else:
            exprs += [f"min({c})::varchar", f"max({c})::varchar"]
    row = conn.execute(f"select {', '.join(exprs)} from {q(schema)}.{q(table)}").fetchone()
    total = int(row[0])
    scans = []
    for i, (name, position, data_type, nullable) in enumerate(cols):
        non_null, distinct, lo, hi = row[1 + 4 * i : 5 + 4 * i]
        scans.append(
            ColumnScan(
                name=name,
                position=int(position),
                data_type=str(data_type),
                nullable=bool(nullable),
                null_count=total - int(non_null),
                distinct_count=int(distinct),
                min_value=lo,
                max_value=hi,
            )
        )
    return TableScan(schema, table, table_type, total, tuple(scans))


def scan_warehouse(
    conn: duckdb.DuckDBPyConnection,
    declared: Mapping[str, DeclaredTable],
    last_materialized: LastMaterialized,
) -> ScanResult:
    """Scan every table and view; join what is declared about it and when it was written."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    scans = []
    for schema, table, table_type in list_tables(conn):
        decl = declared.get(f"{schema}.{table}")
        pii = set(decl.pii_columns) if decl else set()
        scans.append(scan_table(conn, schema, table, table_type, pii))
    result = ScanResult(scans, now, declared)
    for t in scans:
        decl = declared.get(t.name)
        times = [last_materialized(k) for k in decl.producers] if decl else []
        known = [x for x in times if x is not None]
        result.last_materialized[t.name] = max(known) if known else None
    return result


def write_catalog(conn: duckdb.DuckDBPyConnection, result: ScanResult) -> None:
    """Replace catalog.tables and catalog.columns together, in one transaction."""
    conn.execute("begin transaction")
    try:
        conn.execute(f"create schema if not exists {CATALOG_SCHEMA}")
        create_table(conn, TABLES_TABLE, TABLES_SCHEMA)
        create_table(conn, COLUMNS_TABLE, COLUMNS_SCHEMA)
        insert_rows(conn, TABLES_TABLE, TABLES_SCHEMA, result.table_rows())
        insert_rows(conn, COLUMNS_TABLE, COLUMNS_SCHEMA, result.column_rows())
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise


@dataclass(frozen=True)
class MissingTables:
    missing: list[str]  # materialized before, table gone: a failure
    never_materialized: list[str]  # no table yet because the asset never ran: not a failure


def missing_tables(
    declared: Mapping[str, DeclaredTable],
    existing: set[str],
    last_materialized: LastMaterialized,
) -> MissingTables:
    """Tables the definitions declare (`dagster/table_name`) that the warehouse lacks.

    A declared table whose asset never materialized is reported apart: on a fresh build
    the scanner may run before a partitioned asset's own run, and that is not data loss.
    """
    missing, never = [], []
    for name, table in sorted(declared.items()):
        if table.side or name in existing:
            continue
        ran = any(last_materialized(k) is not None for k in table.producers)
        (missing if ran else never).append(name)
    return MissingTables(missing, never)


def tables_markdown(result: ScanResult) -> str:
    lines = [
        "| table | type | rows | columns | PII columns | producing asset | owner "
        "| last materialized |",
        "|---|---|---:|---:|---|---|---|---|",
    ]
    for row in result.table_rows():
        when = row["last_materialized"]
        lines.append(
            f"| {row['table_schema']}.{row['table_name']} | {row['table_type']} "
            f"| {row['row_count']:,} | {row['column_count']} | {row['pii_columns'] or ''} "
            f"| {row['producing_asset'] or '**none (orphan)**'} | {row['owner'] or ''} "
            f"| {f'{when:%Y-%m-%d %H:%M:%S}' if when else ''} |"
        )
    return "\n".join(lines)
