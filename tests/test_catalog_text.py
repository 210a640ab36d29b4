"""Catalog text a reader can act on: each column says what its value is, in its unit."""

import datetime as dt
import re

import duckdb
import pytest

from asset_checks.freshness import duration, evaluate_freshness_check, freshness_check_specs
from fs_assets.defs.marts_metadata import (
    CROSS_SELL_COLUMNS,
    FEATURE_COLUMNS,
    FUNNEL_COLUMNS,
    LEAD_COLUMNS,
    SPEND_COLUMNS_DOC,
    UPLIFT_COLUMNS,
)
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import DataPaths

MARTS = {
    "customer_features": FEATURE_COLUMNS,
    "cross_sell": CROSS_SELL_COLUMNS,
    "campaign_funnel": FUNNEL_COLUMNS,
    "campaign_uplift": UPLIFT_COLUMNS,
    "lead_generation": LEAD_COLUMNS,
    "spend_analysis": SPEND_COLUMNS_DOC,
}
MART_COLUMNS = [(f"{t}.{n}", typ, d) for t, cols in MARTS.items() for n, typ, d, _ in cols]
# Money: amounts summed from mastered.transaction.amount. Fractions: ratios of two counts
# or two amounts. Counts: whole numbers of customers, accounts, transactions, months.
MONEY = re.compile(r"(spend|amount|ticket)(_\w+)?$")
NOT_MONEY = {"spend_trend", "spend_txns", "deal_share"}
FRACTION = re.compile(r"(share|conversion)")
COUNTS = re.compile(r"(txns|customers|accounts|transactions|months|days)$")


@pytest.mark.parametrize(("column", "sql_type", "text"), MART_COLUMNS)
def test_every_mart_column_says_what_it_is_in_its_unit(
    column: str, sql_type: str, text: str
) -> None:
    name = column.split(".", 1)[1]
    assert len(text) >= 20 and not re.match(r"(Its|Their|Customers|Month)\b", text), text
    numeric = sql_type == "DOUBLE" or sql_type.startswith("DECIMAL")
    if numeric and MONEY.search(name) and name not in NOT_MONEY:
        assert "in reporting currency units" in text, column
    if FRACTION.search(name) and sql_type == "DOUBLE":
        assert "fraction" in text and "0 to 1" in text, column
    if COUNTS.search(name) and sql_type == "BIGINT":
        assert text.startswith(("Number of", "Whole days")), column


def test_the_rules_check_the_columns_they_name() -> None:
    """The patterns above are not vacuous: they select the columns the issue was about."""
    money = [c for c, _, _ in MART_COLUMNS if MONEY.search(c.split(".")[1])]
    assert {
        "spend_analysis.spend",
        "lead_generation.amount",
        "customer_features.avg_ticket",
    } <= set(money)
    assert sum(bool(FRACTION.search(c)) for c, _, _ in MART_COLUMNS) >= 7


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (dt.timedelta(seconds=45), "45 s"),
        (dt.timedelta(minutes=12, seconds=59), "12 min"),
        (dt.timedelta(hours=3, minutes=12, seconds=30), "3 h 12 min"),
        (dt.timedelta(hours=24), "24 h"),
        (dt.timedelta(days=2, hours=5), "53 h"),
        (dt.timedelta(days=4, hours=2, minutes=59), "4 d 2 h"),
        (dt.timedelta(days=30), "30 d"),
    ],
)
def test_durations_read_as_a_person_writes_them(age: dt.timedelta, text: str) -> None:
    assert duration(age) == text


@pytest.fixture
def mastered_customer(tmp_path) -> duckdb.DuckDBPyConnection:
    """A real DuckDB file with mastered.customer's ingestion time, the column the check reads."""
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    conn.execute("create schema mastered")
    conn.execute("create table mastered.customer (cust_id varchar, _ingested_at timestamp)")
    yield conn
    conn.close()


def _freshness(conn: duckdb.DuckDBPyConnection):
    (result,) = evaluate_freshness_check(conn, CUSTOMER, {"data_freshness"})
    return result


def test_freshness_check_says_the_age_and_the_limit_in_words(mastered_customer) -> None:
    (spec,) = freshness_check_specs(CUSTOMER)
    assert spec.description == (
        "The newest mastered customer row was ingested within the last 24 h (a warning when older)."
    )
    empty = _freshness(mastered_customer)
    assert not empty.passed and empty.description == "nothing ingested yet, limit 24 h"

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cases = [
        (now - dt.timedelta(hours=3, minutes=12, seconds=20), True, "3 h 12 min ago"),
        (now - dt.timedelta(hours=30, minutes=5, seconds=20), False, "30 h 5 min ago"),
        (now + dt.timedelta(minutes=10, seconds=30), True, "10 min in the future (clock skew?)"),
    ]
    for ingested_at, passed, words in cases:
        mastered_customer.execute("delete from mastered.customer")
        mastered_customer.execute("insert into mastered.customer values ('1', ?)", [ingested_at])
        result = _freshness(mastered_customer)
        assert result.passed is passed
        assert result.description == f"newest ingestion {words}, limit 24 h"
        assert "day," not in result.description and "0:00:00" not in result.description


def test_the_built_catalog_carries_the_new_descriptions(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        rows = dict(
            conn.execute(
                "select table_name || '.' || column_name, description from catalog.columns "
                "where table_schema = 'marts'"
            ).fetchall()
        )
    expected = {c: d for c, _, d in MART_COLUMNS}
    assert rows == expected
    assert rows["spend_analysis.spend"] == (
        "Sum of successful debits in the row's group, in reporting currency units "
        "(mastered.transaction.reporting_currency)."
    )
