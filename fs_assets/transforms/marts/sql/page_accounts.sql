-- Open accounts and their holders per filter cell and product. A customer is in one cell,
-- so holders add up across cells.
select x.archetype, x.state || ', ' || x.country as state, x.segment, x.risk_category as risk,
  x.affluence_level as affluence, p.product_name as product,
  count(distinct a.cust_id) as customers, count(*) as accounts
from mastered.account a
join mastered.product p using (product_id)
join {cross_sell} x using (cust_id)
where a.account_status <> 'Closed'
group by all
