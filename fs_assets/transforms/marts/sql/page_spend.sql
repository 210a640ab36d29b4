-- Spend (successful debits) per filter cell, month, spend segment, category and mode: the
-- flows' grain, which the page's other spend cubes sum (spend exact, as a decimal). A
-- person's segment is that of their spend summed over all their core records, as the
-- mart's: read from page_people.sql's rows (kept, or as a subquery), with their cell,
-- which is every one of their records' (page_cells.sql). So each transaction meets one
-- table of its customer's cell and segment: at 10M customers (92M spend rows) a join
-- per table (person, segment, cell) took 28.6 s.
-- Parameters: the people rows' (none when kept), then the spend predicate's.
with who as (
  select x.cust_id, g.cell, g.spend_segment
  from {cross_sell} x join {people} g using (person_id)
)
select w.cell, date_trunc('month', t.transaction_ts)::date as month, w.spend_segment,
  t.transaction_reason as category, t.transaction_mode as mode, count(*) as transactions,
  sum(t.amount_reporting) as spend
from mastered.transaction t join who w using (cust_id)
where {spend}
group by all
