-- Per archetype and funnel stage: customers who reached the stage, and the conversions.
-- Parameters: the stage names, their count, the archetype names.
with stages as (
  select unnest(?::varchar[]) as stage, unnest(range(1, ?::bigint + 1)) as stage_order
),
archetypes as (select unnest(?::varchar[]) as archetype),
ended as (
  select archetype, campaign_stage as stage_order, count(*) as n
  from {cross_sell} where campaign_stage is not null group by all
),
reached as (
  select a.archetype, s.stage_order, s.stage,
    sum(coalesce(e.n, 0)) over (
      partition by a.archetype order by s.stage_order desc)::bigint as customers
  from archetypes a cross join stages s
  left join ended e on e.archetype = a.archetype and e.stage_order = s.stage_order
)
select archetype, stage_order, stage, customers,
  customers / nullif(lag(customers) over w, 0) as conversion_from_previous,
  customers / nullif(first_value(customers) over w, 0) as conversion_from_reached
from reached
window w as (partition by archetype order by stage_order)
order by archetype, stage_order
