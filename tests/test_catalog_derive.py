"""A changed table's profile derived from the change equals a full rescan: a real DuckDB
file shaped like a raw history and a mastered table with its history view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from fs_assets.catalog.derive import UnionOf
from fs_assets.catalog.scanner import scan_warehouse, write_catalog
from fs_assets.catalog.tables import DeclaredTable

T0 = dt.datetime(2026, 1, 1, 9)
PRODUCERS = {"raw.customer": ("raw", "customer"), "mastered.customer": ("mastered", "customer")}
DECLARED = {
    name: DeclaredTable(
        name, (PRODUCERS[name.replace("_history_past", "").replace("_history", "")],), "d", ("o",)
    )
    for name in (
        "raw.customer",
        "mastered.customer",
        "mastered.customer_history_past",
        "mastered.customer_history",
    )
}
UNIONS = {
    "mastered.customer_history": UnionOf(
        "mastered.customer", "mastered.customer_history_past", "modified_at"
    )
}


def history_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """mastered.customer's past versions (a tenth of its keys) and its history view."""
    conn.execute(
        "create table mastered.customer_history_past as select *, modified_at as valid_from, "
        "modified_at + interval 1 day as valid_to from mastered.customer where cust_id < '2'"
    )
    conn.execute(
        "create view mastered.customer_history as select m.*, m.modified_at as valid_from, "
        "cast(null as timestamp) as valid_to from mastered.customer m "
        "union all select * from mastered.customer_history_past"
    )


@pytest.fixture
def wh(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    conn.execute("create schema raw; create schema mastered")
    conn.execute(
        "create table raw.customer as select range::varchar as cust_id, "
        "'c' || (range % 7) as city, null::varchar as nick, (range * 3)::varchar as score, "
        "timestamp '2025-01-01' + to_days(range::integer) as _ingested_at from range(500)"
    )
    conn.execute(
        "create table mastered.customer as select range::varchar as cust_id, "
        "range % 90 + 300 as cibil, 'c' || (range % 7) as city, "
        "timestamp '2024-01-01' + to_days(range::integer) as modified_at from range(400)"
    )
    history_tables(conn)
    yield conn
    conn.close()


def scan(conn, times, reuse: bool = True):
    last = lambda key: times.get(".".join(key))  # noqa: E731
    result = scan_warehouse(conn, DECLARED, last, reuse=reuse, unions=UNIONS)
    if reuse:
        write_catalog(conn, result)
    return result


def profiles(result) -> dict[str, tuple]:
    return {
        t.name: (
            t.row_count,
            {c.name: (c.null_count, c.distinct_count, c.min_value, c.max_value) for c in t.columns},
        )
        for t in result.tables
    }


def test_derived_profiles_equal_a_full_rescan_after_an_update(wh) -> None:
    times = {"raw.customer": T0, "mastered.customer": T0}
    scan(wh, times)
    # The update: raw gains versions (a column's first non-null values, a new max score,
    # a new min city), mastered replaces a version (old one to the past, a new max date).
    wh.execute(
        "insert into raw.customer values ('7', 'a0', 'Kim', '9999', now()::timestamp), "
        "('8', 'c1', null, '12', now()::timestamp)"
    )
    wh.execute(
        "insert into mastered.customer_history_past select *, modified_at, "
        "timestamp '2030-01-01' from mastered.customer where cust_id = '7'"
    )
    wh.execute("delete from mastered.customer where cust_id = '7'")
    wh.execute("insert into mastered.customer values ('7', null, 'zz', timestamp '2030-01-01')")
    times = {
        "raw.customer": T0 + dt.timedelta(hours=1),
        "mastered.customer": T0 + dt.timedelta(hours=1),
    }
    derived = scan(wh, times)
    assert derived.derived == {"raw.customer", "mastered.customer_history"}
    full = scan(wh, times, reuse=False)
    assert full.derived == set()
    assert profiles(derived) == profiles(full)
    got = profiles(derived)
    assert got["raw.customer"][1]["nick"][0] == 501 and got["raw.customer"][1]["nick"][3] == "Kim"
    assert got["raw.customer"][1]["score"][3] == "9999"  # text max: '9999' > '1497'
    assert got["mastered.customer_history"][1]["valid_to"][3] == "2030-01-01 00:00:00"
    assert got["mastered.customer_history"][1]["cibil"][0] == 1


def test_rows_removed_from_an_append_only_table_are_profiled_in_full(wh) -> None:
    times = {"raw.customer": T0, "mastered.customer": T0}
    scan(wh, times)
    wh.execute("delete from raw.customer where cust_id = '499'")  # the old max score
    wh.execute("insert into raw.customer values ('9', 'c1', null, '1', now()::timestamp)")
    times = {**times, "raw.customer": T0 + dt.timedelta(hours=1)}
    result = scan(wh, times)
    assert "raw.customer" in result.rescanned and "raw.customer" not in result.derived
    assert (
        profiles(result)["raw.customer"] == profiles(scan(wh, times, reuse=False))["raw.customer"]
    )


class _Recording:
    """A connection that records the SQL it is given (DuckDB's own cannot be patched)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn, self.sql = conn, []

    def execute(self, sql: str, params=None):
        self.sql.append(sql)
        return self.conn.execute(sql, params) if params is not None else self.conn.execute(sql)


def test_replaced_rows_cost_no_distinct_pass_before_the_full_profile(wh) -> None:
    """A table whose rows were replaced (mastered) is not append-only: the derivation gives
    up on the row count, before a distinct pass over every row that a full profile repeats."""
    from fs_assets.catalog.derive import appended_scan
    from fs_assets.catalog.scanner import all_columns, stored_profiles

    wh.execute("drop view mastered.customer_history")  # its union would change shape
    wh.execute("alter table mastered.customer add column _ingested_at timestamp")
    wh.execute("update mastered.customer set _ingested_at = timestamp '2025-01-01'")
    times = {"raw.customer": T0, "mastered.customer": T0}
    scan(wh, times)
    prev = stored_profiles(wh)["mastered.customer"]
    # One key's row replaced by a newer version, as a mastering write does.
    wh.execute("delete from mastered.customer where cust_id = '7'")
    wh.execute("insert into mastered.customer values ('7', 301, 'c2', now()::timestamp, now())")
    recording = _Recording(wh)
    cols = all_columns(wh)["mastered.customer"]
    assert appended_scan(recording, "mastered", "customer", prev, cols, set()) is None
    assert not [s for s in recording.sql if "approx_count_distinct" in s], recording.sql
