-- Every customer's filter cell: the archetype, segment, risk and affluence of their
-- person's person_record and the person's state (person_state: the golden record's), so
-- all core records of a person (their transactions, accounts and events) fall in the one
-- cell the person counts in, as the marts count; the combination numbered from 0 in the
-- order of its values (the page's cell table).
with filters as (
  select person_id, archetype, person_state || ', ' || person_country as state, segment,
    risk_category as risk, affluence_level as affluence
  from {cross_sell} where person_record
),
cells as (
  select *,
    (row_number() over (order by archetype, state, segment, risk, affluence) - 1)::integer
      as cell
  from (select distinct archetype, state, segment, risk, affluence from filters)
)
select x.cust_id, c.cell, c.archetype, c.state, c.segment, c.risk, c.affluence
from {cross_sell} x
join filters f using (person_id)
join cells c
  on c.archetype is not distinct from f.archetype and c.state is not distinct from f.state
  and c.segment is not distinct from f.segment and c.risk is not distinct from f.risk
  and c.affluence is not distinct from f.affluence
