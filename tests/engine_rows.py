"""A mart's rows as the engine-equality tests compare them (DuckDB's table against the
Parquet table Spark wrote)."""

from __future__ import annotations

import duckdb


def mart_rows(conn: duckdb.DuckDBPyConnection, source: str, params=None) -> list[tuple]:
    """Every column by cust_id, doubles to 6 decimals (the engines add floats in other
    orders)."""
    types = conn.execute(f"describe select * from {source}", params or []).fetchall()
    cols = ", ".join(f'round("{c}", 6)' if t == "DOUBLE" else f'"{c}"' for c, t, *_ in types)
    return conn.execute(f"select {cols} from {source} order by cust_id", params or []).fetchall()
