-- Open accounts and their holders per filter cell and product. A person is in one cell (that
-- of their person_record) with the accounts of all their core records, and counts once per
-- product, so holders and accounts add up across cells to the lead mart's product_sales.
with people as (
  select cust_id, coalesce(golden_id, 'cust:' || cust_id) as person from {cross_sell}
),
cells as (
  select coalesce(golden_id, 'cust:' || cust_id) as person, archetype,
    state || ', ' || country as state, segment, risk_category as risk,
    affluence_level as affluence
  from {cross_sell} where person_record
)
select c.archetype, c.state, c.segment, c.risk, c.affluence, p.product_name as product,
  count(distinct x.person) as customers, count(*) as accounts
from mastered.account a
join mastered.product p using (product_id)
join people x using (cust_id)
join cells c using (person)
where a.account_status <> 'Closed'
group by all
