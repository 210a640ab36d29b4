-- One long table, `figure` naming the chart each row feeds (customers, sales, activity).
-- Parameters: the four breakdown figures' names.
-- Customers are people: a person (person_id: golden id, or a core customer identity
-- resolution has not linked) counts once, through their person_record, in every breakdown
-- and the total: in the archetype, risk, affluence and segment of that record, and in the
-- state of their golden record (person_state: survivorship over every source, else the
-- person record's); product holders count each person once per product; campaign sales
-- count each onboarded person once, at the card of their latest onboarded event on any of
-- their core records (person_onboarded_product_id).
with people as (
  select * from {cross_sell} where person_record
),
customers as (
  select 'total_customers' as figure, 'All customers' as member, count(*) as customers
  from people
  union all
  select ? as figure, archetype::varchar as member, count(*) as customers
  from people group by all
  union all
  select ? as figure, risk_category::varchar as member, count(*) as customers
  from people group by all
  union all
  select ? as figure, affluence_level::varchar as member, count(*) as customers
  from people group by all
  union all
  select ? as figure, segment::varchar as member, count(*) as customers
  from people group by all
  union all
  select 'state', person_state || ', ' || person_country, count(*) from people group by all
),
totals as (select count(*) as n from people)
select figure, member, null::date as month, customers, null::bigint as accounts,
  null::bigint as transactions, null::decimal(38, 2) as amount,
  customers / nullif((select n from totals), 0) as share
from customers
union all
select 'product_sales', p.product_name, null,
  count(distinct x.person_id), count(*), null,
  null, count(*) / sum(count(*)) over ()
from mastered.account a join mastered.product p using (product_id)
left join {cross_sell} x using (cust_id)
where a.account_status <> 'Closed'
group by all
union all
select 'campaign_onboarded', p.product_name, null, count(*), null, null, null,
  count(*) / sum(count(*)) over ()
from people x join mastered.product p on p.product_id = x.person_onboarded_product_id
group by all
union all
select 'mode_by_month', transaction_mode, date_trunc('month', transaction_ts)::date, null,
  null, count(*), sum(amount_reporting), null
from mastered.transaction group by all
union all
select 'reason', transaction_reason, null, null, null, count(*), sum(amount_reporting),
  count(*) / sum(count(*)) over ()
from mastered.transaction group by all
