"""The three dashboards' marts: campaign funnel, lead generation, spend analysis.

Each mart is one long table whose `figure` column says which chart a row feeds, so a
dashboard reads `where figure = ?` and a test can compare a chart's numbers with the
table's. All are set-based SQL over the mastered tables and `marts.cross_sell`:

- transaction activity (lead generation) counts every mastered transaction, whatever its
  status or type, and reconciles with mastered.transaction counts per mode and reason;
- spend (spend analysis) is successful debits only, and reconciles with their sum.
Amounts are mastered.transaction's amount_reporting; both marts name the reporting
currency in their `currency` column.
"""

from __future__ import annotations

import duckdb

from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.marts.cross_sell import CROSS_SELL_TABLE
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    CURRENCY_COLUMN,
    FUNNEL_STAGES,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
)

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
    "campaign_onboarded": "Customers onboarded by the campaign, per recommended card.",
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
    sql = f"""
    create or replace table {FUNNEL_TABLE} as
    with stages as (
      select unnest(?::varchar[]) as stage, unnest(range(1, ?::bigint + 1)) as stage_order
    ),
    archetypes as (select unnest(?::varchar[]) as archetype),
    ended as (
      select archetype, campaign_stage as stage_order, count(*) as n
      from {CROSS_SELL_TABLE} where campaign_stage is not null group by all
    ),
    reached as (
      select a.archetype, s.stage_order, s.stage,
        sum(coalesce(e.n, 0)) over (
          partition by a.archetype order by s.stage_order desc)::bigint as customers
      from archetypes a cross join stages s
      left join ended e on e.archetype = a.archetype and e.stage_order = s.stage_order
    )
    select archetype, stage_order, stage, customers,
      customers / nullif(lag(customers) over w, 0) as conversion_from_previous,
      customers / nullif(first_value(customers) over w, 0) as conversion_from_reached
    from reached
    window w as (partition by archetype order by stage_order)
    order by archetype, stage_order
    """
    return sql, [list(FUNNEL_STAGES), len(FUNNEL_STAGES), list(ARCHETYPE_NAMES)]


def lead_sql() -> tuple[str, list[object]]:
    breakdowns = ("archetype", "risk_category", "affluence_level", "segment")
    customer_parts = "\n      union all\n      ".join(
        f"select ? as figure, {col}::varchar as member, count(*) as customers "
        f"from {CROSS_SELL_TABLE} group by all"
        for col in breakdowns
    )
    sql = f"""
    create or replace table {LEAD_TABLE} as
    with customers as (
      select 'total_customers' as figure, 'All customers' as member, count(*) as customers
      from {CROSS_SELL_TABLE}
      union all
      {customer_parts}
      union all
      select 'state', state || ', ' || country, count(*) from {CROSS_SELL_TABLE} group by all
    ),
    totals as (select count(*) as n from {CROSS_SELL_TABLE})
    select figure, member, null::date as month, customers, null::bigint as accounts,
      null::bigint as transactions, null::decimal(38, 2) as amount,
      customers / nullif((select n from totals), 0) as share
    from customers
    union all
    select 'product_sales', p.product_name, null, count(distinct a.cust_id), count(*), null,
      null, count(*) / sum(count(*)) over ()
    from mastered.account a join mastered.product p using (product_id)
    where a.account_status <> 'Closed'
    group by all
    union all
    select 'campaign_onboarded', recommended_card, null, count(*), null, null, null,
      count(*) / sum(count(*)) over ()
    from {CROSS_SELL_TABLE} where campaign_stage = ?
    group by all
    union all
    select 'mode_by_month', transaction_mode, date_trunc('month', transaction_ts)::date, null,
      null, count(*), sum(amount_reporting), null
    from mastered.transaction group by all
    union all
    select 'reason', transaction_reason, null, null, null, count(*), sum(amount_reporting),
      count(*) / sum(count(*)) over ()
    from mastered.transaction group by all
    """
    order = "figure, month nulls first, member"
    return _with_currency(sql, order), [DEFAULT_REPORTING_CURRENCY, *breakdowns, len(FUNNEL_STAGES)]


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


def reporting_currency(conn: duckdb.DuckDBPyConnection, table: str) -> str:
    """The currency a dashboard mart's amounts are in (its `currency` column)."""
    found = conn.execute(f"select min({CURRENCY_COLUMN}) from {table}").fetchone()
    return str(found[0]) if found and found[0] else DEFAULT_REPORTING_CURRENCY


def spend_sql() -> tuple[str, list[object]]:
    spend, spend_params = spend_predicate("t")
    low, high = SPEND_SEGMENT_BOUNDS
    sql = f"""
    create or replace table {SPEND_TABLE} as
    with spend as (
      select t.cust_id, t.amount_reporting as amount, t.transaction_reason as category,
             t.transaction_mode as mode, date_trunc('month', t.transaction_ts)::date as month
      from mastered.transaction t where {spend}
    ),
    per_customer as (
      select c.cust_id, coalesce(sum(s.amount), 0) as spend
      from mastered.customer c left join spend s using (cust_id) group by c.cust_id
    ),
    segmented as (
      select cust_id, spend,
        case when spend < ? then ? when spend < ? then ? else ? end as segment
      from per_customer
    ),
    monthly as (
      select month, count(*) as transactions, sum(amount) as spend from spend group by month
    )
    select 'monthly' as figure, month, null::varchar as segment, null::varchar as category,
      null::varchar as mode, null::bigint as customers, transactions, spend,
      sum(spend) over (order by month) as cumulative_spend
    from monthly
    union all
    select 'category_month', month, null, category, null, null, count(*), sum(amount), null
    from spend group by all
    union all
    select 'segment', null, segment, null, null, count(*), null, sum(spend), null
    from segmented group by all
    union all
    select 'flow', null, g.segment, s.category, s.mode, count(distinct s.cust_id), count(*),
      sum(s.amount), null
    from spend s join segmented g using (cust_id) group by all
    """
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
