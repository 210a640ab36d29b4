-- Customers per filter cell (archetype, state, segment, risk, affluence), with the campaign
-- stage they reached, the card the campaign onboarded them to and their spend segment.
-- Parameters: the onboarded stage's number, then the spend segment bounds and names (low,
-- name, high, name, name).
select archetype, state || ', ' || country as state, segment, risk_category as risk,
  affluence_level as affluence, campaign_stage as stage,
  case when campaign_stage = ? then recommended_card end as onboarded_card,
  case when coalesce(s.spend, 0) < ? then ? when coalesce(s.spend, 0) < ? then ? else ? end
    as spend_segment,
  count(*) as customers, sum(coalesce(s.spend, 0)) as spend
from {cross_sell} x
left join (
  select cust_id, sum(amount_reporting) as spend from mastered.transaction t
  where {spend} group by cust_id
) s using (cust_id)
group by all
