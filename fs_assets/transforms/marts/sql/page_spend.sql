-- Spend (successful debits) per filter cell, month, spend segment, category and mode: the
-- flows' grain, which the page's other spend cubes sum (spend exact, as a decimal). A
-- person's segment is that of their spend summed over all their core records, as the
-- mart's: read from page_people.sql's rows (kept, or as a subquery).
-- Parameters: the spend predicate's, then the people rows' (none when kept).
with spend as (
  select t.cust_id, x.person_id, t.amount_reporting as amount,
    t.transaction_reason as category, t.transaction_mode as mode,
    date_trunc('month', t.transaction_ts)::date as month
  from mastered.transaction t join {cross_sell} x using (cust_id) where {spend}
)
select k.cell, s.month, g.spend_segment, s.category, s.mode, count(*) as transactions,
  sum(s.amount) as spend
from spend s
join {people} g using (person_id)
join {cells} k using (cust_id)
group by all
