-- Transactions (all statuses) per filter cell, month and {member}, with their amount.
select x.archetype, x.state || ', ' || x.country as state, x.segment,
  x.risk_category as risk, x.affluence_level as affluence,
  date_trunc('month', t.transaction_ts)::date as month, t.{member_column} as {member},
  count(*) as transactions, sum(t.amount_reporting) as amount
from mastered.transaction t
join {cross_sell} x using (cust_id)
group by all
