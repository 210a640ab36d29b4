-- Spend (successful debits) per month, category, spend segment and flow.
-- Segments are people's: a person's spend is the sum over all their core records
-- ({cross_sell}.person_id), so a person counts once, in one segment, and each transaction
-- once. Parameters: the spend predicate's, then the segment bounds and names (low, name,
-- high, name, name).
with spend as (
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
select 'flow', null, g.segment, s.category, s.mode, count(distinct s.person_id), count(*),
  sum(s.amount), null
from spend s join segmented g using (person_id) group by all
