"""A large table changed by a small share keeps the statistics it cannot derive from the
change: an append-only raw history derives rows, nulls, min and max exactly (equal to a full
rescan) and keeps its distinct counts; a table whose rows were replaced keeps its column
statistics with today's row count; a view reading them keeps its profile. The catalog says
which and as of when, and a larger change, an old profile or `refresh_distinct` takes every
statistic again. A real DuckDB file shaped like a raw history, a mastered table, its
history view and a view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from fs_assets.catalog.scanner import (
    DISTINCT_CHANGE_SHARE,
    DISTINCT_MAX_AGE,
    SMALL_TABLE_ROWS,
    _names_in,
    scan_warehouse,
    write_catalog,
)
from fs_assets.catalog.tables import DeclaredTable
from fs_assets.transforms.marts.features import WRITTEN_AT
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


def test_a_small_change_keeps_the_statistics_it_cannot_derive_and_says_so(wh) -> None:
    first = scan(wh, T0)
    assert first.distinct_kept == []
    update(wh, 100)  # 0.5% of the table
    second = scan(wh, T0 + dt.timedelta(hours=1))
    full = scan(wh, T0 + dt.timedelta(hours=1), reuse=False)
    got, want, before = (stats(r, distinct=False) for r in (second, full, first))
    changed = {"raw.customer", "mastered.customer", "mastered.customer_history", "governed.v"}
    assert changed <= set(second.distinct_kept)
    # The append-only raw history: rows, nulls, min and max derived exactly (those of a
    # full rescan), the distinct counts those counted before.
    assert got["raw.customer"] == want["raw.customer"]
    assert got["raw.customer"][1]["score"][2] == "99999"
    assert second.profile_mode("raw.customer") == "derived"
    # Rows replaced in place: the row count is today's, the column statistics are kept
    # from the last full profile (not those of today: the new max is not in them).
    assert got["mastered.customer"] == (
        want["mastered.customer"][0],
        before["mastered.customer"][1],
    )
    assert (
        want["mastered.customer"][1]["cibil"][2]
        == "1599"
        != got["mastered.customer"][1]["cibil"][2]
    )
    # Views reading them keep their whole profile.
    assert got["governed.v"] == before["governed.v"]
    # And the catalog says which, and as of when.
    modes = {
        f"{schema}.{table}": (mode, as_of)
        for schema, table, mode, as_of in wh.execute(
            "select table_schema, table_name, profile_mode, distinct_as_of from catalog.tables"
        ).fetchall()
    }
    assert modes["mastered.customer"] == ("kept", first.scanned_at)
    assert modes["governed.v"] == ("kept", first.scanned_at)
    assert modes["raw.customer"] == ("derived", first.scanned_at)
    (col_as_of,) = wh.execute(
        "select distinct distinct_as_of from catalog.columns where table_name = 'customer' "
        "and table_schema = 'mastered'"
    ).fetchone()
    assert col_as_of == first.scanned_at < second.scanned_at
    # Asked for, every statistic is taken again and equals a full rescan's.
    refreshed = scan(wh, T0 + dt.timedelta(hours=2), refresh=True)
    assert refreshed.distinct_kept == [] and not refreshed.kept
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


def _profiles_in_full(wh, when: dt.datetime, *names: str) -> None:
    """The next scan profiles `names` from every row: each equals a full rescan's."""
    again = scan(wh, when)
    full = stats(scan(wh, when, reuse=False), distinct=True)
    for name in names:
        assert name not in again.kept, name
        assert stats(again, distinct=True)[name] == full[name], name


def test_a_view_reading_a_changed_small_table_is_profiled_again(wh) -> None:
    """A small change to the large table it reads would let the view keep its profile,
    but the small table it joins changed too: its rows are not the kept ones."""
    wh.execute(
        "create table mastered.tier as select 'c' || range as city, 'gold' as tier "
        "from range(600);"
        "create view governed.j as select c.cust_id, t.tier from mastered.customer c "
        "join mastered.tier t using (city)"
    )
    rows = {t.name: t.row_count for t in scan(wh, T0).tables}
    assert rows["governed.j"] >= SMALL_TABLE_ROWS  # large enough to be kept
    update(wh, 10, first=100)
    wh.execute(
        "delete from mastered.tier where city >= 'c3'; update mastered.tier set tier = 'silver'"
    )
    _profiles_in_full(wh, T0 + dt.timedelta(hours=1), "governed.j")


def test_a_redefined_view_is_profiled_again(wh) -> None:
    """Another filter (or masking) over the same columns: nothing of the old profile holds."""
    scan(wh, T0)
    update(wh, 10, first=100)
    wh.execute(
        "create or replace view governed.v as select cust_id, upper(city) as city "
        "from mastered.customer where cibil < 400"
    )
    _profiles_in_full(wh, T0 + dt.timedelta(hours=1), "governed.v")


def test_a_rewritten_table_without_write_times_is_profiled_again(wh) -> None:
    """No `_ingested_at`: a rewrite of every row with the same row count is a change the
    scanner cannot measure, so it never keeps such a table's statistics."""
    wh.execute(
        "create schema marts; create table marts.f as select range as k, range as bal "
        f"from range({ROWS})"
    )
    scan(wh, T0)
    wh.execute(
        "create or replace table marts.f as select range as k, -range * 1000 as bal, "
        f"from range({ROWS})"
    )
    _profiles_in_full(wh, T0 + dt.timedelta(hours=1), "marts.f")


def test_a_mart_row_write_time_lets_a_small_rewrite_keep_the_statistics(wh) -> None:
    """marts.customer_features says when each row was written (WRITTEN_AT): an incremental
    update of a few customers keeps its column statistics; a full rebuild (every row
    written again, the same row count) is profiled from every row."""
    wh.execute(
        "create schema marts; create table marts.f as select range::varchar as cust_id, "
        f"range % 500 as spend, timestamp '2025-01-01' as {WRITTEN_AT} from range({ROWS})"
    )
    first = scan(wh, T0)
    assert first.profile_mode("marts.f") == "full"
    rewrite = "update marts.f set spend = spend + 10000, {col} = now()::timestamp where {where}"
    wh.execute(rewrite.format(col=WRITTEN_AT, where="cust_id::integer < 100"))
    second = scan(wh, T0 + dt.timedelta(hours=1))
    assert second.profile_mode("marts.f") == "kept"
    assert stats(second, distinct=True)["marts.f"] == stats(first, distinct=True)["marts.f"]
    wh.execute(rewrite.format(col=WRITTEN_AT, where="true"))
    third = scan(wh, T0 + dt.timedelta(hours=2))
    full = scan(wh, T0 + dt.timedelta(hours=2), reuse=False)
    assert third.profile_mode("marts.f") == "full"
    assert stats(third, distinct=True)["marts.f"] == stats(full, distinct=True)["marts.f"]


def test_a_history_view_keeps_its_statistics_while_its_past_versions_grow_fast(wh) -> None:
    """The past versions are a small table that grows by more than the share at every
    update, so it is profiled in full and a view reading it would be too. The history view
    is the union of the current rows and those: its rows' write times say it changed by
    little (a new version, and the version it closes), so it keeps its statistics with
    today's row count, and so does a view of it. A larger change profiles both again."""
    wh.execute("delete from mastered.customer_history_past where cust_id <> '0'")
    wh.execute(
        "create view governed.h as select cust_id, city, valid_to from mastered.customer_history"
    )
    first = scan(wh, T0)
    assert first.profile_mode("mastered.customer_history") == "derived"
    update(wh, 100, first=200)  # 200 of the view's 20,101 rows: a new version and a closed one
    second = scan(wh, T0 + dt.timedelta(hours=1))
    full = scan(wh, T0 + dt.timedelta(hours=1), reuse=False)
    assert second.profile_mode("mastered.customer_history_past") == "full"
    assert second.profile_mode("mastered.customer_history") == "kept"
    assert second.profile_mode("governed.h") == "kept"
    got, want, before = (stats(r, distinct=True) for r in (second, full, first))
    assert got["mastered.customer_history"] == (
        want["mastered.customer_history"][0],
        before["mastered.customer_history"][1],
    )
    assert got["mastered.customer_history"][0] == ROWS + 101
    assert got["governed.h"] == before["governed.h"]
    # Past the share (2 x 600 rows of 20,201): every statistic is taken again.
    update(wh, 600, first=1000)
    _profiles_in_full(wh, T0 + dt.timedelta(hours=2), "mastered.customer_history", "governed.h")


def test_a_view_reads_the_relations_it_names_whole() -> None:
    """A name that starts a longer one is not read: the history view of a role does not read
    the role's current view (their names share a start), nor the current table the history
    view's name starts with."""
    names = {
        "governed.analyst_customer",
        "governed.analyst_customer_history",
        "mastered.customer",
        "mastered.customer_history",
        "mastered.customer_history_past",
    }
    sql = (
        "CREATE VIEW governed.analyst_customer_history AS SELECT cust_id, valid_to "
        'FROM "mastered"."customer_history";'
    )
    own = "governed.analyst_customer_history"
    assert _names_in(sql, names - {own}) == {"mastered.customer_history"}
    union = (
        "CREATE VIEW mastered.customer_history AS (SELECT m.* FROM mastered.customer AS m) "
        "UNION ALL (SELECT * FROM mastered.customer_history_past);"
    )
    assert _names_in(union, names - {"mastered.customer_history"}) == {
        "mastered.customer",
        "mastered.customer_history_past",
    }
    # Catalog-qualified, quoted, and a name of other characters.
    odd = {"raw.cust [1]", "mastered.customer"}
    qualified = 'SELECT * FROM "wh"."mastered"."customer" JOIN "raw"."cust [1]" USING (k)'
    assert _names_in(qualified, odd | {"wh.mastered"}) == odd | {"wh.mastered"}
    assert _names_in("SELECT * FROM raw.cust [12]", odd) == set()
