"""The catalog counts the governed views' rows but does not profile their masked columns.

A masked column's data is the mastered column's, profiled there; profiling the mask itself
would compute a keyed hash (two SHA-256) per value per role, most of the scan at a million
customers. So: no statistics for masked columns (and never a clear value), full statistics
for the view's other columns, and the view's row count as the role reads it.
"""

from pathlib import Path

import duckdb


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
