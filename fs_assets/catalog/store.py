"""Writing the catalog's small tables: explicit DDL from their declared columns, rows via Arrow.

The column schema that Dagster shows for a catalog table is the one its DDL is made from,
so the UI and the warehouse cannot describe it differently.
"""

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from fs_assets.catalog.graph_view import DeclaredColumn
from fs_assets.model.rules import q


def create_table(
    conn: duckdb.DuckDBPyConnection, table: str, schema: Sequence[DeclaredColumn]
) -> None:
    cols = ", ".join(f"{q(c.name)} {c.type}" for c in schema)
    conn.execute(f"create or replace table {table} ({cols})")


def insert_rows(
    conn: duckdb.DuckDBPyConnection, table: str, schema: Sequence[DeclaredColumn], rows: list[dict]
) -> None:
    """Append rows (dicts keyed by column name); DuckDB casts to the declared types."""
    if not rows:
        return
    names = [c.name for c in schema]
    data = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows])
    conn.register("_catalog_rows", data)
    try:
        conn.execute(f"insert into {table} by name select * from _catalog_rows")
    finally:
        conn.unregister("_catalog_rows")
