-- Open accounts and their holders per filter cell and product. A person is in one cell (that
-- of their person_record: page_cells.sql) with the accounts of all their core records, and
-- counts once per product, so holders and accounts add up across cells to the lead mart's
-- product_sales.
select k.cell, p.product_name as product, count(distinct x.person_id) as customers,
  count(*) as accounts
from mastered.account a
join mastered.product p using (product_id)
join {cross_sell} x using (cust_id)
join {cells} k using (cust_id)
where a.account_status <> 'Closed'
group by all
