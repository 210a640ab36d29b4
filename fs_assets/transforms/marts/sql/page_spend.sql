-- Spend (successful debits) per filter cell, spend segment, month, category and mode.
-- Parameters: the spend predicate's, then the spend segment bounds and names (low, name,
-- high, name, name).
with spend as (
  select t.cust_id, t.amount_reporting as amount, t.transaction_reason as category,
    t.transaction_mode as mode, date_trunc('month', t.transaction_ts)::date as month
  from mastered.transaction t where {spend}
),
segmented as (
  select cust_id,
    case when sum(amount) < ? then ? when sum(amount) < ? then ? else ? end as spend_segment
  from spend group by cust_id
)
select x.archetype, x.state || ', ' || x.country as state, x.segment,
  x.risk_category as risk, x.affluence_level as affluence, g.spend_segment, s.month,
  s.category, s.mode, count(*) as transactions, sum(s.amount) as spend
from spend s
join segmented g using (cust_id)
join {cross_sell} x using (cust_id)
group by all
