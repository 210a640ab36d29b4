-- Every person once, through their person_record (its cell), with the stages they have an
-- event of as a bit set (bit k - 1 for stage k, as the funnel mart counts them: a person
-- counts at each stage they have an event of, whatever the order), the card the campaign
-- onboarded them to, and the spend segment and spend of all their core records, as the
-- marts count. The pages' people cubes (people per cell, and per cell and one of these)
-- and the spend flows' segments are sums of these rows.
-- Parameters: the event types in stage order, then the spend segment bounds and names
-- (low, name, high, name, name), then the spend predicate's.
with reached as (
  select x.person_id, bit_or(1 << (list_position(?::varchar[], e.event_type) - 1)) as stages
  from {events} e join {cross_sell} x using (cust_id) group by x.person_id
),
customers as (
  select k.cell, x.person_id, r.stages as stage,
    (select p.product_name from mastered.product p
     where p.product_id = x.person_onboarded_product_id) as onboarded_card
  from {cross_sell} x
  join {cells} k using (cust_id)
  left join reached r using (person_id)
  where x.person_record
)
select c.*,
  case when coalesce(s.spend, 0) < ? then ? when coalesce(s.spend, 0) < ? then ? else ? end
    as spend_segment,
  coalesce(s.spend, 0) as spend
from customers c
left join (
  select x.person_id, sum(t.amount_reporting) as spend
  from mastered.transaction t join {cross_sell} x using (cust_id)
  where {spend} group by x.person_id
) s using (person_id)
