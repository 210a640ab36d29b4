-- The first customers of each filter cell as the page's role reads them: its governed view's
-- columns only (cust_id is the role's keyed token), joined to the cross-sell on that token.
-- Parameters: the number of customers kept per cell.
with cells as (
  select {token} as cust_id, archetype, state || ', ' || country as state, segment,
    risk_category as risk, affluence_level as affluence, recommended_card,
    campaign_stage_name
  from {cross_sell}
)
select c.archetype, c.state, c.segment, c.risk, c.affluence, {columns},
  c.recommended_card, c.campaign_stage_name
from {view} g join cells c on c.cust_id = g.cust_id
qualify row_number() over (
  partition by c.archetype, c.state, c.segment, c.risk, c.affluence order by g.cust_id) <= ?
order by all
