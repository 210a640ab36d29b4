"""The catalog profiles the governed views' keyed columns as the exports hold them."""

from pathlib import Path

import duckdb


def test_scanner_profiles_keyed_columns_with_the_key(built_template: Path) -> None:
    conn = duckdb.connect(str(built_template / "warehouse.duckdb"), read_only=True)
    try:
        rows = conn.execute(
            "select table_name, column_name, row_count, null_count, distinct_count, "
            "min_value from catalog.columns where table_schema = 'governed' "
            "and table_name in ('analyst_customer', 'restricted_acess_customer') "
            "and column_name in ('cust_id', 'mobile_number1')"
        ).fetchall()
        first_token = conn.execute("select min(cust_id) from mastered.customer").fetchone()
    finally:
        conn.close()
    got = {(t, c): (n, nulls, distinct, lo) for t, c, n, nulls, distinct, lo in rows}
    assert len(got) == 4
    for (table, column), (n, nulls, distinct, _lo) in got.items():
        assert n > 0, table
        if column == "cust_id" or table == "restricted_acess_customer":
            # Keyed: a token per customer, not NULL as in a session without the key.
            assert nulls == 0 and distinct > n * 0.9, (table, column, nulls, distinct)
        else:
            assert distinct == 1, (table, column)  # the analyst's redacted mobile
    # The catalog holds tokens, never a clear id: min(cust_id) is a 64-hex token.
    analyst_min = got[("analyst_customer", "cust_id")][3]
    assert len(analyst_min) == 64 and analyst_min != first_token[0]
