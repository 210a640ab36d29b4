-- Spend (successful debits) per month, category, spend segment and flow.
-- Segments are people's: a person's spend is the sum over all their core records
-- ({cross_sell}.person_id), so a person counts once, in one segment, and each transaction
-- once. Parameters: the spend predicate's, then the segment bounds and names (low, name,
-- high, name, name).
-- Each figure is summed from a smaller one (a person's flows, a month's categories), so
-- the spend rows are grouped twice, not four times: at 10M customers (92M spend rows) the
-- flows' distinct people counted apart from their sums took 40 of the mart's 48 s.
with spend as not materialized (
  select x.person_id, t.amount_reporting as amount, t.transaction_reason as category,
         t.transaction_mode as mode, date_trunc('month', t.transaction_ts)::date as month
  from mastered.transaction t left join {cross_sell} x using (cust_id) where {spend}
),
per_person as (
  select x.person_id, coalesce(sum(s.amount), 0) as spend
  from (select distinct person_id from {cross_sell}) x left join spend s using (person_id)
  group by x.person_id
),
segmented as (
  select person_id, spend,
    case when spend < ? then ? when spend < ? then ? else ? end as segment
  from per_person
),
category_month as (
  select month, category, count(*) as transactions, sum(amount) as spend
  from spend group by all
),
monthly as (
  select month, sum(transactions)::bigint as transactions, sum(spend) as spend
  from category_month group by month
)
select 'monthly' as figure, month, null::varchar as segment, null::varchar as category,
  null::varchar as mode, null::bigint as customers, transactions, spend,
  sum(spend) over (order by month) as cumulative_spend
from monthly
union all
select 'category_month', month, null, category, null, null, transactions, spend, null
from category_month
union all
select 'segment', null, segment, null, null, count(*), null, sum(spend), null
from segmented group by all
union all
select 'flow', null, g.segment, f.category, f.mode, count(*), sum(f.transactions)::bigint,
  sum(f.spend), null
from (
  -- A person's spend per category and mode: each row is one person in one flow.
  select person_id, category, mode, count(*) as transactions, sum(amount) as spend
  from spend group by all
) f join segmented g using (person_id) group by all
