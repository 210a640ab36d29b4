"""The catalog counts the governed views' rows but does not profile their masked columns.

A masked column's data is the mastered column's, profiled there; profiling the mask itself
would compute a keyed hash (two SHA-256) per value per role, most of the scan at a million
customers. So: no statistics for masked columns (and never a clear value), full statistics
for the view's other columns, and the view's row count as the role reads it.
"""

from pathlib import Path

import duckdb
import pytest


def test_scanner_leaves_masked_view_columns_unprofiled(built_template: Path) -> None:
    conn = duckdb.connect(str(built_template / "warehouse.duckdb"), read_only=True)
    try:
        rows = conn.execute(
            "select table_name, column_name, row_count, null_count, distinct_count, "
            "min_value, max_value from catalog.columns where table_schema = 'governed' "
            "and table_name in ('analyst_customer', 'restricted_acess_customer') "
            "and column_name in ('cust_id', 'mobile_number1', 'cust_segment')"
        ).fetchall()
        mastered_rows = conn.execute("select count(*) from mastered.customer").fetchone()[0]
        segments = conn.execute(
            "select count(distinct cust_segment) from mastered.customer"
        ).fetchone()[0]
    finally:
        conn.close()
    got = {(t, c): rest for t, c, *rest in rows}
    assert len(got) == 6
    for table in ("analyst_customer", "restricted_acess_customer"):
        for column in ("cust_id", "mobile_number1"):  # a join-key token and a PII column
            n, nulls, distinct, lo, hi = got[(table, column)]
            assert n == mastered_rows, (table, column)
            assert (nulls, distinct, lo, hi) == (None, None, None, None), (table, column)
        n, nulls, distinct, lo, hi = got[(table, "cust_segment")]  # not masked: profiled
        assert (n, nulls) == (mastered_rows, 0) and lo is not None and hi is not None
        assert abs(distinct - segments) <= 1, (table, distinct, segments)


def test_governed_pass_through_columns_take_the_mastered_profile(
    built_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A governed view without a row filter passes its non-PII columns through: the scan
    copies their profile from the mastered table's, and it equals a scan of the view."""
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

    from fs_assets.catalog.scanner import SameRows, scan_warehouse
    from fs_assets.catalog.tables import declared_tables
    from fs_assets.definitions import defs
    from fs_assets.defs.asset_graph import graph_view
    from fs_assets.defs.governed import same_rows_views
    from fs_assets.transforms.governance.policies import load_policies

    graph = graph_view(AssetGraph.from_assets(list(defs.assets or ())))
    declared = declared_tables(graph)
    same = same_rows_views(load_policies())
    assert "governed.analyst_customer" in same
    assert "governed.branch_maharashtra_customer" not in same  # a row filter: scanned
    assert {"cust_segment", "valid_from"} <= same["governed.analyst_customer_history"].columns
    # The pending flag: profiled in the first view over mastered.customer, copied to others.
    assert same["governed.sales_customer"].sibling == "governed.analyst_customer"
    assert same["governed.sales_customer"].shared == {"has_pending_correction"}
    assert same["governed.analyst_customer"].sibling is None
    assert "mobile_number1" not in same["governed.pii_reader_customer"].columns  # PII

    from fs_assets.catalog import scanner

    copies: dict[str, set[str]] = {}
    scan_table = scanner.scan_table

    def recorded(
        conn, schema, table, table_type, pii=frozenset(), masked=frozenset(), copied=None, **kw
    ):
        copies[f"{schema}.{table}"] = set(copied or ())
        return scan_table(conn, schema, table, table_type, pii, masked, copied, **kw)

    monkeypatch.setattr(scanner, "scan_table", recorded)
    conn = duckdb.connect(str(built_template / "warehouse.duckdb"), read_only=True)
    try:
        full = scan_warehouse(conn, declared, lambda key: None, reuse=False)
        copied = scan_warehouse(conn, declared, lambda key: None, reuse=False, same_rows=same)
        assert {"cust_segment", "valid_from"} <= copies["governed.analyst_customer_history"]
        assert "has_pending_correction" in copies["governed.sales_customer"]
        assert "has_pending_correction" not in copies["governed.analyst_customer"]
        # A view that does not have its claimed source's rows is scanned, not copied.
        wrong = {"governed.analyst_customer": SameRows("mastered.account", frozenset({"cust_id"}))}
        fallback = scan_warehouse(conn, declared, lambda key: None, reuse=False, same_rows=wrong)
    finally:
        conn.close()

    def columns(result, table: str) -> dict:
        scan = next(t for t in result.tables if f"{t.schema}.{t.table}" == table)
        return {c.name: c for c in scan.columns}

    compared = 0
    for view, rows in same.items():
        got, want = columns(copied, view), columns(full, view)
        assert got.keys() == want.keys(), view
        for name in (rows.columns | rows.shared) & got.keys():
            a, b = got[name], want[name]
            assert (a.null_count, a.min_value, a.max_value) == (
                b.null_count,
                b.min_value,
                b.max_value,
            ), (view, name)
            # approx_count_distinct is a sketch: the view's and the table's may differ by one
            if b.distinct_count is None:  # a masked column: unprofiled either way
                assert a.distinct_count is None, (view, name)
            else:
                assert abs(a.distinct_count - b.distinct_count) <= 1, (view, name)
            compared += 1
    assert compared > 100
    assert columns(fallback, "governed.analyst_customer") == columns(
        full, "governed.analyst_customer"
    )
