-- Customers per filter cell (and the page's own dimension, when {extra} names one: the
-- campaign stage reached, the card the campaign onboarded them to, or the spend segment),
-- with their spend. Parameters: the onboarded stage's number, then the spend segment bounds and names
-- (low, name, high, name, name), then the spend predicate's.
with customers as (
  select k.cell, x.campaign_stage as stage,
    case when x.campaign_stage = ? then (
      select p.product_name from mastered.product p where p.product_id = x.offered_product_id
    ) end as onboarded_card,
    case when coalesce(s.spend, 0) < ? then ? when coalesce(s.spend, 0) < ? then ? else ? end
      as spend_segment,
    coalesce(s.spend, 0) as spend
  from {cross_sell} x
  join {cells} k using (cust_id)
  left join (
    select cust_id, sum(amount_reporting) as spend from mastered.transaction t
    where {spend} group by cust_id
  ) s using (cust_id)
)
select cell{extra}, count(*) as customers, sum(spend)::double as spend
from customers
group by all
