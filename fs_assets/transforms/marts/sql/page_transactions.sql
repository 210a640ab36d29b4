-- Transactions (all statuses) per filter cell, month and {member}, with their amount.
select k.cell, date_trunc('month', t.transaction_ts)::date as month,
  t.{member_column} as {member}, count(*) as transactions,
  sum(t.amount_reporting)::double as amount
from mastered.transaction t
join {cells} k using (cust_id)
group by all
