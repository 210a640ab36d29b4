"""A large table changed by a small share keeps its distinct counts, and only them: every
other statistic equals a full rescan's, the catalog says when the distinct counts were
counted, and a larger change, an old count or `refresh_distinct` counts them again. A real
DuckDB file shaped like a raw history, a mastered table, its history view and a view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from fs_assets.catalog.scanner import (
    DISTINCT_CHANGE_SHARE,
    DISTINCT_MAX_AGE,
    SMALL_TABLE_ROWS,
    scan_warehouse,
    write_catalog,
)
from fs_assets.catalog.tables import DeclaredTable
from tests.test_catalog_derive import UNIONS, history_tables

ROWS = SMALL_TABLE_ROWS * 2
T0 = dt.datetime(2026, 1, 1, 9)
NAMES = (
    "raw.customer",
    "mastered.customer",
    "mastered.customer_history_past",
    "mastered.customer_history",
    "governed.v",
)
DECLARED = {
    n: DeclaredTable(n, (tuple(n.replace("_history_past", "").split(".")),), "d", ("o",))
    for n in NAMES
}


@pytest.fixture
def wh(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    # A raw history of one version per key and its mastered table, ingested long ago.
    conn.execute(
        "create schema raw; create schema mastered; create schema governed;"
        "create table raw.customer as select range::varchar as cust_id, "
        "'c' || (range % 700) as city, (range * 3)::varchar as score, "
        f"timestamp '2025-01-01' as _ingested_at from range({ROWS});"
        "create table mastered.customer as select range::varchar as cust_id, "
        "range % 900 + 300 as cibil, 'c' || (range % 700) as city, "
        "timestamp '2024-01-01' + to_minutes(range) as modified_at, "
        f"timestamp '2025-01-01' as _ingested_at from range({ROWS})"
    )
    history_tables(conn)
    conn.execute("create view governed.v as select cust_id, city from mastered.customer")
    yield conn
    conn.close()


def scan(conn, when: dt.datetime, reuse: bool = True, refresh: bool = False):
    times = dict.fromkeys(((n.split(".")[0], n.split(".")[1]) for n in NAMES), when)
    result = scan_warehouse(
        conn, DECLARED, times.get, reuse=reuse, unions=UNIONS, refresh_distinct=refresh
    )
    if reuse:
        write_catalog(conn, result)
    return result


def stats(result, distinct: bool) -> dict[str, tuple]:
    """Per table its rows and per column (nulls, min, max[, distinct])."""
    return {
        t.name: (
            t.row_count,
            {
                c.name: (c.null_count, c.min_value, c.max_value)
                + ((c.distinct_count,) if distinct else ())
                for c in t.columns
            },
        )
        for t in result.tables
    }


def update(conn, keys: int, first: int = 0) -> None:
    """A mastering write of `keys` customers from `first` on (new versions, new values at
    both ends) and the raw versions it read."""
    now = "now()::timestamp"
    where = f"cust_id::integer between {first} and {first + keys - 1}"
    conn.execute(
        "insert into mastered.customer_history_past select *, modified_at, "
        f"timestamp '2030-01-01' from mastered.customer where {where}"
    )
    conn.execute(f"delete from mastered.customer where {where}")
    conn.execute(
        "insert into mastered.customer select range::varchar, 1500 + range, 'new' || range, "
        f"timestamp '2030-01-01', {now} from range({first}, {first + keys})"
    )
    conn.execute(
        "insert into raw.customer select range::varchar, 'a' || range, '99999', "
        f"{now} from range({first}, {first + keys})"
    )


def test_a_small_change_keeps_only_the_distinct_counts(wh) -> None:
    first = scan(wh, T0)
    assert first.distinct_kept == []
    update(wh, 100)  # 0.5% of the table
    second = scan(wh, T0 + dt.timedelta(hours=1))
    full = scan(wh, T0 + dt.timedelta(hours=1), reuse=False)
    changed = {"raw.customer", "mastered.customer", "mastered.customer_history", "governed.v"}
    assert changed <= set(second.distinct_kept)
    # Rows, nulls, min and max are those of a full rescan; the distinct counts are those
    # counted before the change, and say so.
    assert stats(second, distinct=False) == stats(full, distinct=False)
    assert stats(second, distinct=True)["mastered.customer"] == (
        stats(full, distinct=False)["mastered.customer"][0],
        {
            name: (*now, stats(first, distinct=True)["mastered.customer"][1][name][3])
            for name, now in stats(full, distinct=False)["mastered.customer"][1].items()
        },
    )
    got = stats(second, distinct=False)
    assert got["mastered.customer"][1]["cibil"][2] == "1599"  # the new max, not the stored
    assert got["raw.customer"][1]["score"][2] == "99999"
    as_of = dict(
        wh.execute(
            "select table_schema || '.' || table_name, distinct_as_of from catalog.tables"
        ).fetchall()
    )
    assert as_of["mastered.customer"] == first.scanned_at < second.scanned_at
    (col_as_of,) = wh.execute(
        "select distinct distinct_as_of from catalog.columns where table_name = 'customer' "
        "and table_schema = 'mastered'"
    ).fetchone()
    assert col_as_of == first.scanned_at
    # Asked for, the distinct counts are counted again and equal a full rescan's.
    refreshed = scan(wh, T0 + dt.timedelta(hours=2), refresh=True)
    assert refreshed.distinct_kept == []
    assert stats(refreshed, distinct=True) == stats(full, distinct=True)


def test_a_change_past_the_share_counts_the_distinct_values_again(wh) -> None:
    scan(wh, T0)
    update(wh, int(ROWS * DISTINCT_CHANGE_SHARE * 1.2))
    again = scan(wh, T0 + dt.timedelta(hours=1))
    full = scan(wh, T0 + dt.timedelta(hours=1), reuse=False)
    # raw grew by more than the share; mastered had as many rows replaced and the past
    # versions as many added; the views read a table counted again, so they are too.
    assert again.distinct_kept == []
    assert stats(again, distinct=True) == stats(full, distinct=True)


def test_small_changes_add_up_and_an_old_count_is_counted_again(wh) -> None:
    scan(wh, T0)
    # A replaced row is a row gone and a row added: 2 x 30% of the share, then as much
    # again on other keys, measured from the count (not from the last scan).
    step = int(ROWS * DISTINCT_CHANGE_SHARE * 0.3)
    update(wh, step)
    assert "mastered.customer" in scan(wh, T0 + dt.timedelta(hours=1)).distinct_kept
    update(wh, step, first=step)
    assert "mastered.customer" not in scan(wh, T0 + dt.timedelta(hours=2)).distinct_kept
    # A count older than the age limit is counted again, whatever the change.
    update(wh, 10)
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - DISTINCT_MAX_AGE - dt.timedelta(hours=1)
    wh.execute("update catalog.tables set distinct_as_of = ?", [old])
    assert scan(wh, T0 + dt.timedelta(hours=3)).distinct_kept == []
