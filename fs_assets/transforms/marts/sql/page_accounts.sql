-- Open accounts and their holders per filter cell and product. A customer is in one cell,
-- so holders add up across cells.
select k.cell, p.product_name as product, count(distinct a.cust_id) as customers,
  count(*) as accounts
from mastered.account a
join mastered.product p using (product_id)
join {cells} k using (cust_id)
where a.account_status <> 'Closed'
group by all
