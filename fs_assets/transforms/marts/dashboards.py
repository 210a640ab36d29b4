"""The three dashboards' marts: campaign funnel, lead generation, spend analysis.

Each mart is one long table whose `figure` column says which chart a row feeds, so a
dashboard reads `where figure = ?` and a test can compare a chart's numbers with the
table's. All are set-based SQL over the mastered tables and `marts.cross_sell`, kept in
`sql/*.sql`:

- transaction activity (lead generation) counts every mastered transaction, whatever its
  status or type, and reconciles with mastered.transaction counts per mode and reason;
- spend (spend analysis) is successful debits only, and reconciles with their sum.
Amounts are mastered.transaction's amount_reporting; both marts name the reporting
currency in their `currency` column.
"""

from __future__ import annotations

import duckdb

from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES, DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.marts.cross_sell import CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    CURRENCY_COLUMN,
    FUNNEL_STAGES,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
)
from fs_assets.transforms.reader import SqlReader
from fs_assets.transforms.sql_files import load_sql

SQL_PACKAGE = "fs_assets.transforms.marts"  # its sql/ folder holds the static SQL
FUNNEL_TABLE = "marts.campaign_funnel"
LEAD_TABLE = "marts.lead_generation"
SPEND_TABLE = "marts.spend_analysis"

# The figures of each long mart, in dashboard order: (figure, what it holds).
LEAD_FIGURES = {
    "total_customers": "Customers in the data product.",
    "archetype": "Customers per cross-sell archetype.",
    "risk_category": "Customers per risk category.",
    "affluence_level": "Customers per affluence level.",
    "segment": "Customers per segment (Rural, Semi-Urban, Urban).",
    "state": "Customers per state ('State, Country').",
    "product_sales": "Open accounts and their holders per product (sales).",
    "campaign_onboarded": "Customers onboarded by the campaigns, per card offered.",
    "mode_by_month": "Transactions and amount per mode and month (all statuses).",
    "reason": "Transactions and amount per reason (all statuses).",
}
SPEND_FIGURES = {
    "monthly": "Spend per month and cumulative spend.",
    "category_month": "Spend per category and month.",
    "segment": "Customers and spend per spend segment.",
    "flow": "Spend per segment, category and mode (Sankey links and treemap leaves).",
}


def funnel_sql() -> tuple[str, list[object]]:
    select = load_sql(
        SQL_PACKAGE, "campaign_funnel.sql", cross_sell=CROSS_SELL_TABLE, events=EVENTS_TABLE
    )
    sql = f"create or replace table {FUNNEL_TABLE} as\n{select}"
    stages, events = list(FUNNEL_STAGES), list(CAMPAIGN_EVENT_TYPES)
    return sql, [stages, events, events, list(ARCHETYPE_NAMES)]


def lead_sql() -> tuple[str, list[object]]:
    breakdowns = ("archetype", "risk_category", "affluence_level", "segment")
    select = load_sql(SQL_PACKAGE, "lead_generation.sql", cross_sell=CROSS_SELL_TABLE)
    sql = f"create or replace table {LEAD_TABLE} as\n{select}"
    order = "figure, month nulls first, member"
    return _with_currency(sql, order), [DEFAULT_REPORTING_CURRENCY, *breakdowns]


def _with_currency(sql: str, order: str) -> str:
    """`create ... as <select>` with the reporting currency as a last column on every row.

    mastered.transaction holds one reporting currency (a change re-masters every row);
    with no transactions the default is named. Its one `?`, the default, comes first.
    """
    create, select = sql.split(" as\n", 1)
    return f"""{create} as
    select u.*, (select coalesce(min(reporting_currency), ?) from mastered.transaction)
      as {CURRENCY_COLUMN}
    from ({select}) u
    order by {order}"""


def reporting_currency(conn: SqlReader, table: str) -> str:
    """The currency a dashboard mart's amounts are in (its `currency` column)."""
    (found,) = conn.execute(f"select min({CURRENCY_COLUMN}) from {table}").fetchall()
    return str(found[0]) if found and found[0] else DEFAULT_REPORTING_CURRENCY


def spend_sql() -> tuple[str, list[object]]:
    spend, spend_params = spend_predicate("t")
    low, high = SPEND_SEGMENT_BOUNDS
    select = load_sql(SQL_PACKAGE, "spend_analysis.sql", spend=spend, cross_sell=CROSS_SELL_TABLE)
    sql = f"create or replace table {SPEND_TABLE} as\n{select}"
    segs = list(SPEND_SEGMENTS)
    order = "figure, month, segment, category, mode"
    params = [DEFAULT_REPORTING_CURRENCY, *spend_params, low, segs[0], high, segs[1], segs[2]]
    return _with_currency(sql, order), params


def build_funnel(conn: duckdb.DuckDBPyConnection) -> int:
    return _create(conn, FUNNEL_TABLE, *funnel_sql())


def build_lead_generation(conn: duckdb.DuckDBPyConnection) -> int:
    return _create(conn, LEAD_TABLE, *lead_sql())


def build_spend_analysis(conn: duckdb.DuckDBPyConnection) -> int:
    return _create(conn, SPEND_TABLE, *spend_sql())


def _create(conn: duckdb.DuckDBPyConnection, table: str, sql: str, params: list[object]) -> int:
    conn.execute(sql, params)
    return int(conn.execute(f"select count(*) from {table}").fetchall()[0][0])
