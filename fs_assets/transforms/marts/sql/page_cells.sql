-- Every customer's filter cell: its archetype, state, segment, risk and affluence, the
-- combination numbered from 0 in the order of its values (the page's cell table).
with filters as (
  select cust_id, archetype, state || ', ' || country as state, segment,
    risk_category as risk, affluence_level as affluence
  from {cross_sell}
),
cells as (
  select *,
    (row_number() over (order by archetype, state, segment, risk, affluence) - 1)::integer
      as cell
  from (select distinct archetype, state, segment, risk, affluence from filters)
)
select f.cust_id, c.cell, c.archetype, c.state, c.segment, c.risk, c.affluence
from filters f
join cells c
  on c.archetype is not distinct from f.archetype and c.state is not distinct from f.state
  and c.segment is not distinct from f.segment and c.risk is not distinct from f.risk
  and c.affluence is not distinct from f.affluence
