-- Customers per filter cell (and the page's own dimension, when {extra} names one: the
-- stages the customer has an event of, as a bit set (bit k - 1 for stage k, as the funnel
-- mart counts them: a customer counts at each stage they have an event of, whatever the
-- order), the card the campaign onboarded them to, or the spend segment), with their
-- spend. Parameters: the event types in stage order, the onboarded stage's number, then
-- the spend segment bounds and names (low, name, high, name, name), then the spend
-- predicate's. {counted}: which rows count (person_record on the lead page: people).
with reached as (
  select cust_id, bit_or(1 << (list_position(?::varchar[], event_type) - 1)) as stages
  from {events} group by cust_id
),
customers as (
  select k.cell, x.person_record, r.stages as stage,
    case when x.campaign_stage = ? then (
      select p.product_name from mastered.product p where p.product_id = x.onboarded_product_id
    ) end as onboarded_card,
    case when coalesce(s.spend, 0) < ? then ? when coalesce(s.spend, 0) < ? then ? else ? end
      as spend_segment,
    coalesce(s.spend, 0) as spend
  from {cross_sell} x
  join {cells} k using (cust_id)
  left join reached r using (cust_id)
  left join (
    select cust_id, sum(amount_reporting) as spend from mastered.transaction t
    where {spend} group by cust_id
  ) s using (cust_id)
)
select cell{extra}, count(*) as customers, sum(spend)::double as spend
from customers
where {counted}
group by all
