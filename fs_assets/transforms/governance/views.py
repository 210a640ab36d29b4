"""A governed view in the DuckDB file: created or replaced in one transaction.

The statement (defs/governed.py resolves it from the policies) names the masking key's
session variables only, so the view body holds no secret; a session reads it through
`MaskingKey.apply`.
"""

import duckdb

from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import transaction
from fs_assets.transforms.governance import GOVERNED_SCHEMA


def governed_table(name: str) -> str:
    """`governed."<name>"`, the view's qualified name."""
    return f"{GOVERNED_SCHEMA}.{q(name)}"


def create_view(conn: duckdb.DuckDBPyConnection, name: str, select_sql: str) -> None:
    """Create or replace governed.<name> as `select_sql`, atomically."""
    with transaction(conn):
        conn.execute(f"create schema if not exists {GOVERNED_SCHEMA}")
        conn.execute(f"create or replace view {governed_table(name)} as {select_sql}")
