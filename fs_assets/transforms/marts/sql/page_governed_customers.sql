-- The first customers of each filter cell as the page's role reads them: its governed view's
-- columns only (cust_id is the role's keyed token), joined to the cross-sell on that token.
-- A core record is listed in its person's cell (page_cells.sql: their person_record's
-- filter values and the person's state), so a selection lists the records it counts.
-- Parameters: the number of customers kept per cell.
with persons as (
  select person_id, archetype, person_state || ', ' || person_country as state, segment,
    risk_category as risk, affluence_level as affluence
  from {cross_sell} where person_record
),
cells as (
  select {token} as cust_id, p.archetype, p.state, p.segment, p.risk, p.affluence,
    x.recommended_card, x.campaign_stage_name
  from {cross_sell} x join persons p using (person_id)
)
select c.archetype, c.state, c.segment, c.risk, c.affluence, {columns},
  c.recommended_card, c.campaign_stage_name
from {view} g join cells c on c.cust_id = g.cust_id
qualify row_number() over (
  partition by c.archetype, c.state, c.segment, c.risk, c.affluence order by g.cust_id) <= ?
order by all
