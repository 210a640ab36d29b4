-- One long table, `figure` naming the chart each row feeds (customers, sales, activity).
-- Parameters: the four breakdown figures' names, then the onboarded stage's number.
-- Total customers counts people: core records of one golden id count once.
with customers as (
  select 'total_customers' as figure, 'All customers' as member,
    count(distinct coalesce(f.golden_id, 'cust:' || f.cust_id)) as customers
  from {cross_sell} x join {features} f using (cust_id)
  union all
  select ? as figure, archetype::varchar as member, count(*) as customers
  from {cross_sell} group by all
  union all
  select ? as figure, risk_category::varchar as member, count(*) as customers
  from {cross_sell} group by all
  union all
  select ? as figure, affluence_level::varchar as member, count(*) as customers
  from {cross_sell} group by all
  union all
  select ? as figure, segment::varchar as member, count(*) as customers
  from {cross_sell} group by all
  union all
  select 'state', state || ', ' || country, count(*) from {cross_sell} group by all
),
totals as (select count(*) as n from {cross_sell})
select figure, member, null::date as month, customers, null::bigint as accounts,
  null::bigint as transactions, null::decimal(38, 2) as amount,
  customers / nullif((select n from totals), 0) as share
from customers
union all
select 'product_sales', p.product_name, null, count(distinct a.cust_id), count(*), null,
  null, count(*) / sum(count(*)) over ()
from mastered.account a join mastered.product p using (product_id)
where a.account_status <> 'Closed'
group by all
union all
select 'campaign_onboarded', p.product_name, null, count(*), null, null, null,
  count(*) / sum(count(*)) over ()
from {cross_sell} x join mastered.product p on p.product_id = x.offered_product_id
where x.campaign_stage = ?
group by all
union all
select 'mode_by_month', transaction_mode, date_trunc('month', transaction_ts)::date, null,
  null, count(*), sum(amount_reporting), null
from mastered.transaction group by all
union all
select 'reason', transaction_reason, null, null, null, count(*), sum(amount_reporting),
  count(*) / sum(count(*)) over ()
from mastered.transaction group by all
