-- Contacts per filter cell and offer, as the uplift mart counts them (uplift.py): a contact
-- is a person and a campaign that contacted any of their core records, for people whose
-- person_record has a recommended card; its offer is that card when the campaign offered
-- it, another otherwise; it converted when any of the person's records has an event of the
-- converted types in the same campaign. A person is in the cell of their person_record.
-- The page divides the summed counts. Parameters: the converted event types, the
-- contacted event type, then the offers' names (recommended, other).
with contacts as (
  select x.person_id, e.campaign_id,
    bool_or(list_contains(?::varchar[], e.event_type)) as converted
  from {events} e join {cross_sell} x using (cust_id)
  group by x.person_id, e.campaign_id
  having bool_or(e.event_type = ?)
)
select k.cell, case when c.product_id = x.recommended_product_id then ? else ? end as offer,
  count(*) as contacted, count(*) filter (where t.converted) as converted
from contacts t
join {cross_sell} x on x.person_id = t.person_id and x.person_record
join {campaigns} c using (campaign_id)
join {cells} k using (cust_id)
where x.recommended_product_id is not null
group by all
