-- Per archetype and funnel stage: distinct people with a valid event of the stage's type
-- in mastered.campaign_event on any of their core records (person_id), in the archetype of
-- their person_record, and the conversions. A person reached through two records counts
-- once. Parameters: the stage names, the event types (same order), the archetype names.
with stages as (
  select unnest(?::varchar[]) as stage, unnest(?::varchar[]) as event_type,
    unnest(range(1, len(?::varchar[]) + 1)) as stage_order
),
archetypes as (select unnest(?::varchar[]) as archetype),
reached_events as (
  select p.archetype, e.event_type, count(distinct x.person_id) as n
  from {events} e join {cross_sell} x using (cust_id)
  join {cross_sell} p on p.person_id = x.person_id and p.person_record
  group by all
),
reached as (
  select a.archetype, s.stage_order, s.stage, coalesce(r.n, 0)::bigint as customers
  from archetypes a cross join stages s
  left join reached_events r on r.archetype = a.archetype and r.event_type = s.event_type
)
select archetype, stage_order, stage, customers,
  customers / nullif(lag(customers) over w, 0) as conversion_from_previous,
  customers / nullif(first_value(customers) over w, 0) as conversion_from_reached
from reached
window w as (partition by archetype order by stage_order)
order by archetype, stage_order
