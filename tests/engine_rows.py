"""A mart's rows as the engine-equality tests compare them (DuckDB's table against the
Parquet table Spark wrote)."""

from __future__ import annotations

import math

import duckdb

from fs_assets.transforms.marts.features import WRITTEN_AT

# The engines add floats in other orders, so a double may differ in its last bits. Rounding
# both to a fixed number of decimals is not enough: a mean of cents over 32 rows (k/3200)
# can end exactly on a rounding boundary, where those last bits decide the digit.
REL_TOL = ABS_TOL = 1e-9


class Close(float):
    """A double that equals another within REL_TOL/ABS_TOL (not exactly)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, float):
            return NotImplemented
        return math.isclose(self, other, rel_tol=REL_TOL, abs_tol=ABS_TOL)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # equal values may hash apart: no sets


# When each row was written: a property of the run that wrote it, not of its data.
RUN_COLUMNS = frozenset({WRITTEN_AT})


def _described(conn: duckdb.DuckDBPyConnection, source: str, params=None) -> list[tuple]:
    """(name, type) of the source's columns that hold data (not RUN_COLUMNS), in order."""
    described = conn.execute(f"describe select * from {source}", params or []).fetchall()
    return [(c, t) for c, t, *_ in described if c not in RUN_COLUMNS]


def mart_columns(conn: duckdb.DuckDBPyConnection, source: str, params=None) -> list[str]:
    """The source's column names, in order (not RUN_COLUMNS)."""
    return [c for c, _ in _described(conn, source, params)]


def comparable_rows(
    conn: duckdb.DuckDBPyConnection, source: str, params=None, order_by: str = ""
) -> list[tuple]:
    """Every row of the source (in `order_by`'s order, else the source's own), its doubles
    as `Close`, without RUN_COLUMNS."""
    types = _described(conn, source, params)
    doubles = [t == "DOUBLE" for _, t in types]
    order = f" order by {order_by}" if order_by else ""
    names = ", ".join('"' + c.replace('"', '""') + '"' for c, _ in types)
    rows = conn.execute(f"select {names} from {source}{order}", params or []).fetchall()
    return [
        tuple(Close(v) if d and v is not None else v for v, d in zip(row, doubles, strict=True))
        for row in rows
    ]


def mart_rows(conn: duckdb.DuckDBPyConnection, source: str, params=None) -> list[tuple]:
    """Every column by cust_id; doubles compare within a tolerance (`Close`)."""
    return comparable_rows(conn, source, params, order_by="cust_id")


def differences(columns: list[str], ours: list[tuple], theirs: list[tuple]) -> list[tuple]:
    """(first value, column, ours, theirs) of every cell that differs, row by row in order:
    what an assertion message should show instead of two long tuples."""
    return [
        (a[0], c, x, y)
        for a, b in zip(ours, theirs, strict=False)
        for c, x, y in zip(columns, a, b, strict=True)
        if x != y
    ]
