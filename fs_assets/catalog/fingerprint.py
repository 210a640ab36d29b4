"""Content fingerprints of small tables: the change test that lets them keep their profile.

Small tables (meta, quarantine, reference data) are also written outside any
materialization (checks, a step that failed after writing), so their producer's
materialization time does not prove their data unchanged, and they used to be profiled on
every scan. One query instead reads them all: per table the row count and the sum of every
row's hash (order-free, duplicates counted). The same rows give the same fingerprint; a
different one means a full profile. Equal fingerprints of different rows need a 64-bit hash
collision. The fingerprint is keyed (HMAC under the masking key) before it is stored in
`catalog.tables`: a one-row quarantine table's hash would otherwise be a guessable hash of
personal data. Without a key in the session it is NULL, and the table is profiled again.
"""

from collections.abc import Iterable

import duckdb

from fs_assets.model.rules import q
from fs_assets.transforms.governance.masking_key import hmac_sql

# Row count, then the sum of the rows' hashes (NULL for no rows), as text.
_CONTENT = "count(*)::varchar || ':' || coalesce(sum(hash(*columns(*)))::varchar, '')"


def estimated_rows(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """DuckDB's row estimate of every base table ("schema.table"), from its metadata."""
    return {
        f"{schema}.{table}": int(rows)
        for schema, table, rows in conn.execute(
            "select schema_name, table_name, estimated_size from duckdb_tables() "
            "where database_name = current_database() and not internal"
        ).fetchall()
    }


def fingerprints(conn: duckdb.DuckDBPyConnection, names: Iterable[str]) -> dict[str, str | None]:
    """The keyed content fingerprint of each table ("schema.table"), all in one query."""
    ordered = sorted(names)
    if not ordered:
        return {}
    parts = []
    for i, name in enumerate(ordered):
        schema, table = name.split(".", 1)
        parts.append(f"select {i} as i, {hmac_sql(_CONTENT)} as fp from {q(schema)}.{q(table)}")
    return {ordered[i]: fp for i, fp in conn.execute(" union all ".join(parts)).fetchall()}
