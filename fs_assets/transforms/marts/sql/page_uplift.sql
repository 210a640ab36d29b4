-- Contacted customers with a recommended card per filter cell and offer (their recommended
-- card, or another), and how many of them converted (a valid event of the converted
-- types): the uplift chart's counts, which the page divides after summing. Parameters: the
-- converted event types, then the offers' names (recommended, other).
with converted as (
  select distinct cust_id from {events}
  where event_type in (select unnest(?::varchar[]))
)
select k.cell, case when x.offered_recommended then ? else ? end as offer,
  count(*) as contacted, count(c.cust_id) as converted
from {cross_sell} x
join {cells} k using (cust_id)
left join converted c using (cust_id)
where x.recommended_product_id is not null and x.offered_product_id is not null
group by all
