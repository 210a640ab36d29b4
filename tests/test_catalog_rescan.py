"""The scanner profiles again only what changed: a real DuckDB file, declared tables and
materialization times as the scanner asset passes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from fs_assets.catalog.scanner import SMALL_TABLE_ROWS, scan_warehouse, write_catalog
from fs_assets.catalog.tables import DeclaredTable

BIG = SMALL_TABLE_ROWS * 2
T0 = dt.datetime(2026, 1, 1, 9)
DECLARED = {
    name: DeclaredTable(name, ((name.split(".")[0], name.split(".")[1]),), "d", ("o",))
    for name in ("mastered.customer", "mastered.account", "meta.small", "governed.v")
}


@pytest.fixture
def wh(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(tmp_path / "w.duckdb"))
    for schema in ("mastered", "meta", "governed"):
        conn.execute(f"create schema {schema}")
    conn.execute(f"create table mastered.customer as select range as id from range({BIG})")
    conn.execute(f"create table mastered.account as select range as id from range({BIG})")
    conn.execute("create table meta.small as select 1 as n")
    conn.execute('create view governed.v as select id from "mastered"."customer"')
    yield conn
    conn.close()


def scan(conn, times: dict[str, dt.datetime], reuse: bool = True, refresh: bool = False):
    result = scan_warehouse(
        conn,
        DECLARED,
        lambda key: times.get(".".join(key)),
        reuse=reuse,
        refresh_distinct=refresh,
    )
    write_catalog(conn, result)
    return result


def test_unchanged_tables_keep_their_profile_and_changed_ones_are_rescanned(wh) -> None:
    times = dict.fromkeys(DECLARED, T0)
    first = scan(wh, times)
    assert first.reused == {} and set(first.rescanned) == set(DECLARED)
    again = scan(wh, times)
    # Small tables are always profiled; the big unchanged ones and the view are not.
    assert set(again.reused) == {"mastered.customer", "mastered.account", "governed.v"}
    assert again.rescanned == ["meta.small"]
    # A new materialization of customer: customer and the view reading it are rescanned
    # (every statistic taken again: a change this small keeps some otherwise, see
    # test_catalog_distinct.py).
    wh.execute("insert into mastered.customer values (-1)")
    times["mastered.customer"] = T0 + dt.timedelta(hours=1)
    third = scan(wh, times, refresh=True)
    assert set(third.rescanned) == {"mastered.customer", "governed.v", "meta.small"}
    rows = dict(wh.execute("select table_name, row_count from catalog.tables").fetchall())
    assert rows["customer"] == BIG + 1 and rows["v"] == BIG + 1 and rows["account"] == BIG
    (low,) = wh.execute(
        "select min_value from catalog.columns where table_name = 'customer'"
    ).fetchone()
    assert low == "-1"
    # The reused profile is the stored one, with when it was taken.
    stamps = dict(wh.execute("select table_name, scanned_at from catalog.tables").fetchall())
    assert stamps["account"] == first.scanned_at < stamps["customer"]


def test_rows_written_without_a_materialization_are_still_seen(wh) -> None:
    times = dict.fromkeys(DECLARED, T0)
    scan(wh, times)
    wh.execute("insert into mastered.account values (-5)")  # a step that failed after writing
    result = scan(wh, times)
    assert "mastered.account" in result.rescanned
    wh.execute("alter table mastered.customer add column extra integer")
    result = scan(wh, times)
    assert "mastered.customer" in result.rescanned and "governed.v" in result.rescanned


def test_rescan_all_and_orphans_profile_everything(wh) -> None:
    times = dict.fromkeys(DECLARED, T0)
    scan(wh, times)
    assert scan(wh, times, reuse=False).reused == {}
    wh.execute(f"create table mastered.stray as select range as id from range({BIG})")
    scan(wh, times)
    assert "mastered.stray" in scan(wh, times).rescanned  # no producer: no data version


def test_a_small_table_profiled_again_with_the_same_data_leaves_its_views_alone(wh) -> None:
    wh.execute("create view governed.w as select n from meta.small")
    declared = {
        **DECLARED,
        "governed.w": DeclaredTable("governed.w", (("governed", "w"),), "d", ("o",)),
    }
    times = dict.fromkeys(declared, T0)

    def again():
        result = scan_warehouse(wh, declared, lambda key: times.get(".".join(key)))
        write_catalog(wh, result)
        return result

    again()
    second = again()
    assert "meta.small" in second.rescanned and "governed.w" in second.reused
    wh.execute("update meta.small set n = 2")  # written outside any materialization
    third = again()
    assert {"meta.small", "governed.w"} <= set(third.rescanned)
    (high,) = wh.execute("select max_value from catalog.columns where table_name = 'w'").fetchone()
    assert high == "2"


def test_golden_and_seed_views_copy_their_source_profile() -> None:
    from fs_assets.defs.governed import same_rows_views
    from fs_assets.defs.seed_names import seed_same_rows
    from fs_assets.transforms.governance.policies import load_policies

    same = same_rows_views(load_policies())
    assert same["governed.analyst_golden_customer"].source == "mastered.golden_customer"
    assert "governed.branch_maharashtra_golden_customer" not in same  # a row filter
    seed = seed_same_rows()
    assert seed["main.customer_overview_dp"].source == "mastered.customer"
    assert seed["main.customer_overview_raw"].passes("_ingested_at")


def test_materialization_times_read_in_one_query_match_the_per_key_lookup(tmp_path) -> None:
    import dagster as dg

    from fs_assets.defs.catalog import _last_materialized

    @dg.asset(key=["raw", "thing"])
    def thing() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([thing], instance=instance)
        keys = [("raw", "thing"), ("raw", "never")]
        batched = _last_materialized(instance, keys)
        single = _last_materialized(instance)
        assert batched(("raw", "thing")) == single(("raw", "thing")) is not None
        assert batched(("raw", "never")) is None and single(("raw", "never")) is None


def _profile(result) -> list[tuple]:
    """A scan's catalog.columns rows, comparable between scans (no scan times)."""
    return sorted(
        tuple(sorted((k, v) for k, v in row.items() if k != "distinct_as_of"))
        for row in result.column_rows()
    )


def test_small_tables_keep_their_profile_while_their_keyed_content_fingerprint_holds(wh) -> None:
    from fs_assets.transforms.governance.masking_key import MaskingKey

    MaskingKey(b"k" * 32).apply(wh)
    wh.execute("create view governed.w as select n from meta.small")
    declared = {
        **DECLARED,
        "governed.w": DeclaredTable("governed.w", (("governed", "w"),), "d", ("o",)),
    }
    times = dict.fromkeys(declared, T0)

    def again(reuse: bool = True):
        result = scan_warehouse(wh, declared, lambda key: times.get(".".join(key)), reuse=reuse)
        write_catalog(wh, result)
        return result

    first = again()
    second = again()
    assert second.rescanned == [] and "meta.small" in second.reused
    # Written outside any materialization, same row count: profiled again, with its view,
    # and the profile is the one a full rescan takes.
    wh.execute("update meta.small set n = 2")
    third = again()
    assert {"meta.small", "governed.w"} <= set(third.rescanned)
    assert _profile(third) == _profile(scan_warehouse(wh, declared, lambda k: T0, reuse=False))
    # A producer that materialized but rewrote the same rows: the profile is kept.
    wh.execute("delete from meta.small")
    wh.execute("insert into meta.small values (2)")
    times["meta.small"] = T0 + dt.timedelta(hours=1)
    fourth = again()
    assert fourth.rescanned == [] and fourth.reused["meta.small"] == third.scanned_at
    # The stored fingerprint is keyed: another key gives another, and no key none (the
    # table is then profiled again, never matched on an unkeyed hash of its rows).
    stored = wh.execute(
        "select content_fingerprint from catalog.tables where table_name = 'small'"
    ).fetchone()[0]
    MaskingKey(b"j" * 32).apply(wh)
    other = scan_warehouse(wh, declared, lambda key: times.get(".".join(key)))
    assert stored and other.fingerprints["meta.small"] not in (None, stored)
    assert "meta.small" in other.rescanned
    assert first.fingerprints["meta.small"] != stored  # n = 1 then, n = 2 now
    wh.execute("reset variable fs_mask_ipad")
    wh.execute("reset variable fs_mask_opad")
    unkeyed = scan_warehouse(wh, declared, lambda key: times.get(".".join(key)))
    assert unkeyed.fingerprints["meta.small"] is None and "meta.small" in unkeyed.rescanned


def test_a_catalog_from_before_fingerprints_profiles_small_tables_and_views_once_more(
    wh,
) -> None:
    """Without stored fingerprints nothing says a small table's rows or a view's definition
    are the same: each is profiled once more, then kept again."""
    from fs_assets.transforms.governance.masking_key import MaskingKey

    MaskingKey(b"k" * 32).apply(wh)
    times = dict.fromkeys(DECLARED, T0)
    scan(wh, times)
    wh.execute("alter table catalog.tables drop column content_fingerprint")
    assert scan(wh, times).rescanned == ["governed.v", "meta.small"]
    assert scan(wh, times).rescanned == []


def test_a_view_counted_for_its_copied_columns_is_not_read_again(wh) -> None:
    from fs_assets.catalog.scan_types import ColumnScan
    from fs_assets.catalog.scanner import scan_table

    wh.execute("create table meta.gone as select 1 as n")
    wh.execute("create view governed.g as select n from meta.gone")
    cols = wh.execute(
        "select column_name, ordinal_position, data_type, true from information_schema.columns "
        "where table_name = 'g'"
    ).fetchall()
    wh.execute("drop table meta.gone")  # any read of the view now fails
    copied = {"n": ColumnScan("n", 1, "INTEGER", True, 0, 1, "1", "1")}
    got = scan_table(wh, "governed", "g", "VIEW", copied=copied, cols=cols, rows=1)
    assert got.row_count == 1 and got.columns[0].max_value == "1"
    with pytest.raises(duckdb.Error):  # without the count it is read (and here fails)
        scan_table(wh, "governed", "g", "VIEW", copied=copied, cols=cols)


def test_a_large_table_by_column_and_a_view_in_one_read_profile_as_one_query_does(
    wh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past SPLIT_MIN_ROWS a base table's min and max are taken column by column, and a
    view is read once for every statistic: the profile is the one query's, to the value."""
    from fs_assets.catalog import scanner

    wh.execute(
        f"create table meta.wide as select range as n, "
        "case when range % 7 = 0 then null else 'v' || (range % 1000) end as t, "
        "timestamp '2026-01-01' + to_seconds(range) as ts, 'secret ' || range as pii "
        f"from range({scanner.SPLIT_MIN_ROWS})"
    )
    wh.execute("create view governed.w as select * from meta.wide")
    ranged: list[str] = []
    real = scanner._ranges

    def spied(conn, relation, names):
        ranged.extend(names)
        return real(conn, relation, names)

    monkeypatch.setattr(scanner, "_ranges", spied)
    pii = {"pii"}
    whole = scanner.scan_table(wh, "meta", "wide", "BASE TABLE", pii)
    assert ranged == []
    split = scanner.scan_table(
        wh, "meta", "wide", "BASE TABLE", pii, estimated=scanner.SPLIT_MIN_ROWS
    )
    assert ranged == ["n", "t", "ts"]  # a PII column's values are never read for the catalog
    assert split == whole
    assert whole.columns[1].null_count == -(-scanner.SPLIT_MIN_ROWS // 7)
    assert (whole.columns[2].min_value, whole.columns[3].min_value) == ("2026-01-01 00:00:00", None)
    view = scanner.scan_table(wh, "governed", "w", "VIEW", pii, estimated=scanner.SPLIT_MIN_ROWS)
    assert view.columns == whole.columns and view.row_count == whole.row_count
