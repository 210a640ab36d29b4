-- Contacts per filter cell and offer, as the uplift mart counts them: a contact is a
-- customer with a recommended card and a campaign that contacted them; its offer is the
-- recommended card when that campaign offered it, another otherwise; it converted when the
-- customer has an event of the converted types in the same campaign. The page divides the
-- summed counts. Parameters: the converted event types, the contacted event type, then the
-- offers' names (recommended, other).
with contacts as (
  select e.cust_id, e.campaign_id,
    bool_or(list_contains(?::varchar[], e.event_type)) as converted
  from {events} e
  group by e.cust_id, e.campaign_id
  having bool_or(e.event_type = ?)
)
select k.cell, case when c.product_id = x.recommended_product_id then ? else ? end as offer,
  count(*) as contacted, count(*) filter (where t.converted) as converted
from contacts t
join {cross_sell} x using (cust_id)
join {campaigns} c using (campaign_id)
join {cells} k using (cust_id)
where x.recommended_product_id is not null
group by all
