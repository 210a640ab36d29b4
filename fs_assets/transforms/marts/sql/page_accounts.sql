-- Open accounts and their holders per filter cell and product. A person is in one cell (that
-- of their person_record) with the accounts of all their core records, and counts once per
-- product, so holders and accounts add up across cells to the lead mart's product_sales.
with people as (
  select cust_id, coalesce(golden_id, 'cust:' || cust_id) as person from {cross_sell}
),
person_cells as (
  select p.person, k.cell
  from {cross_sell} x join {cells} k using (cust_id) join people p using (cust_id)
  where x.person_record
)
select c.cell, p.product_name as product, count(distinct x.person) as customers,
  count(*) as accounts
from mastered.account a
join mastered.product p using (product_id)
join people x using (cust_id)
join person_cells c using (person)
where a.account_status <> 'Closed'
group by all
