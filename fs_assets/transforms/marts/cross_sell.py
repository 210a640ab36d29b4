"""`marts.cross_sell`: each customer's archetype, recommended credit card, and campaign stage.

All rules come from `fs_assets.transforms.marts.model` and run as one set-based statement over
`marts.customer_features`, whose rows carry their person's features (features.py), so every
core record of a person gets the person's archetype and card, and a card the person holds
on any record is not offered:

1. the archetype is the first rule of ARCHETYPES that holds (Generic always holds);
2. a customer is ineligible for the first INELIGIBILITY rule that holds, with its reason;
3. an eligible customer is offered, among the cards of mastered.product it does not hold
   and whose minimum CIBIL it meets, up to its tier cap (the lower of the affluence and the
   archetype cap): the card whose reward fits its largest spend category (or its
   archetype), then the highest tier, then the lowest fee. The reason says which of these
   decided. No card left means no recommendation, with that reason;
4. the campaign stage is the furthest stage (CAMPAIGN_EVENT_TYPES) of the customer's
   valid events in mastered.campaign_event (`person_campaign_stage`: of the events on any
   of the person's core records, which the lead list shows), and the offered card is the card of the
   campaign that contacted them last (mastered.campaign), so the uplift of recommended
   cards can be measured; the person's onboarded card is that of the campaign of the
   latest onboarded event on any of the person's core records (campaign sales count it).

The features row with its archetype (`f`) is read again where each part needs it, not
kept: at 10M customers keeping it (2.7 GB, spilled) and reading it three times took 15 s
of the statement's operator time, each read about 4 s. The table has no order (a reader
orders what it reads): the sort of 10M rows took 14 s.
"""

from __future__ import annotations

import duckdb

from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.marts.features import FEATURES_TABLE
from fs_assets.transforms.marts.model import (
    ARCHETYPES,
    CARD_TIERS_ORDERED,
    DEFAULT_REWARD,
    FUNNEL_STAGES,
    INELIGIBILITY,
    NO_CARD_LEFT,
    REWARD_BY_ARCHETYPE,
    REWARD_BY_CATEGORY,
    TIER_CAP_BY_AFFLUENCE,
    TIER_CAP_BY_ARCHETYPE,
)
from fs_assets.transforms.marts.sql_builder import SqlBuilder

CROSS_SELL_TABLE = "marts.cross_sell"
EVENTS_TABLE = "mastered.campaign_event"
CAMPAIGNS_TABLE = "mastered.campaign"


def archetype_case(s: SqlBuilder, what: str) -> None:
    """`case when <rule 1> then <name or reason 1> ... end`, first match wins."""
    s.add("case")
    for a in ARCHETYPES:
        s.add(f" when ({a.predicate}) then ?", *a.params, a.name if what == "name" else a.reason)
    s.add(" end")


def cross_sell_sql() -> tuple[str, list[object]]:
    s = SqlBuilder()
    s.add(
        f"create or replace table {CROSS_SELL_TABLE} as\n"
        "with f as not materialized (\n  select f.*, "
    )
    archetype_case(s, "name")
    s.add(" as archetype, ")
    archetype_case(s, "reason")
    s.add(" as archetype_reason, case")
    for rule in INELIGIBILITY:
        s.add(f" when ({rule.predicate}) then {rule.reason}", *rule.params)
    s.add(f" end as ineligible_reason\n  from {FEATURES_TABLE} f\n),\n")
    tiers = list(CARD_TIERS_ORDERED)
    s.add("g as (\n  select f.*, ")
    s.case_map("affluence_level", TIER_CAP_BY_AFFLUENCE)
    s.add(" as affluence_cap, ")
    s.case_map("archetype", TIER_CAP_BY_ARCHETYPE)
    s.add(" as archetype_cap, coalesce(")
    s.case_map("archetype", REWARD_BY_ARCHETYPE)
    s.add(", ")
    s.case_map("dominant_category", REWARD_BY_CATEGORY)
    s.add(", ?) as wanted_reward\n  from f\n),\n", DEFAULT_REWARD)
    s.add(
        "h as (\n  select g.*, least(list_position(cast(? as varchar[]), affluence_cap),"
        " coalesce(list_position(cast(? as varchar[]), archetype_cap), 99)) as tier_cap_rank\n"
        "  from g\n),\n",
        tiers,
        tiers,
    )
    s.add(
        "cards as (\n  select product_id, product_name, card_tier, reward_type, annual_fee,"
        " min_cibil_score, list_position(cast(? as varchar[]), card_tier) as tier_rank\n"
        "  from mastered.product where product_type = 'Credit Card'\n),\n",
        tiers,
    )
    s.add(
        f"""best as (
  select h.cust_id, c.product_id, c.product_name, c.card_tier, c.reward_type,
         c.min_cibil_score, c.reward_type = h.wanted_reward as reward_match
  from h join cards c
    on c.min_cibil_score <= h.cibil_score and c.tier_rank <= h.tier_cap_rank
   and not list_contains(h.held_cards, c.product_id)
  where h.ineligible_reason is null
  qualify row_number() over (
    partition by h.cust_id
    order by reward_match desc, c.tier_rank desc, c.annual_fee, c.product_id) = 1
),
ev as (
  select e.cust_id, max(list_position(cast(? as varchar[]), e.event_type)) as campaign_stage,
    arg_max(c.product_id, (e.event_type = ?, e.event_ts, e.event_id)) as offered_product_id,
    arg_max(c.product_id, (e.event_ts, e.event_id)) filter (where e.event_type = ?)
      as onboarded_product_id
  from {EVENTS_TABLE} e join {CAMPAIGNS_TABLE} c using (campaign_id)
  group by e.cust_id
),
person_ev as (
  select h.person_id,
    max(list_position(cast(? as varchar[]), e.event_type)) as person_campaign_stage,
    arg_max(c.product_id, (e.event_ts, e.event_id)) filter (where e.event_type = ?)
      as person_onboarded_product_id
  from {EVENTS_TABLE} e join {CAMPAIGNS_TABLE} c using (campaign_id) join h using (cust_id)
  group by h.person_id
),
staged as (
  select h.*, b.product_id as recommended_product_id, b.product_name as recommended_card,
    b.card_tier as recommended_tier, b.reward_type as recommended_reward,
    b.min_cibil_score as card_min_cibil, b.reward_match,
""",
        list(CAMPAIGN_EVENT_TYPES),
        CAMPAIGN_EVENT_TYPES[0],
        CAMPAIGN_EVENT_TYPES[-1],
        list(CAMPAIGN_EVENT_TYPES),
        CAMPAIGN_EVENT_TYPES[-1],
    )
    s.add("    ev.campaign_stage, ev.offered_product_id, ev.onboarded_product_id,\n")
    s.add("    pe.person_campaign_stage, pe.person_onboarded_product_id\n")
    s.add("  from h left join best b using (cust_id) left join ev using (cust_id)\n")
    s.add("  left join person_ev pe using (person_id)\n)\n")
    s.add(
        """select cust_id, archetype, archetype_reason,
  recommended_product_id is not null as eligible,
  recommended_product_id, recommended_card, recommended_tier, recommended_reward,
  case
    when ineligible_reason is not null then ineligible_reason
    when recommended_product_id is null then ?
    else recommended_card || ' (' || recommended_tier || ', ' || recommended_reward || '): '
      || case
           when reward_match and archetype in (select unnest(cast(? as varchar[])))
             then archetype || ' earn most from ' || recommended_reward
           when reward_match and dominant_category is not null
             then dominant_category || ' is ' || printf('%.0f%%', dominant_share * 100)
               || ' of spend'
           when reward_match then 'no spend history yet; ' || recommended_reward || ' by default'
           else 'no ' || wanted_reward || ' card open to them; the best one that is'
         end
      || '; ' || recommended_tier || ' is within the '
      || coalesce(list_extract(cast(? as varchar[]), tier_cap_rank), 'top') || ' cap (affluence '
      || affluence_level || ', ' || archetype || '); CIBIL ' || cibil_score::varchar
      || ' meets the ' || card_min_cibil::varchar || ' minimum'
  end as recommendation_reason,
  ineligible_reason,
  campaign_stage,
  case when campaign_stage is not null then (cast(? as varchar[]))[campaign_stage] end
    as campaign_stage_name,
  person_campaign_stage,
  case when person_campaign_stage is not null then (cast(? as varchar[]))[person_campaign_stage]
    end as person_campaign_stage_name,
  offered_product_id,
  offered_product_id = recommended_product_id as offered_recommended,
  onboarded_product_id,
  person_onboarded_product_id,
  affluence_level, risk_category, segment, state, country, person_state, person_country,
  cibil_score, total_spend,
  golden_id, person_id, person_record
from staged
""",
        NO_CARD_LEFT,
        list(REWARD_BY_ARCHETYPE),
        tiers,
        list(FUNNEL_STAGES),
        list(FUNNEL_STAGES),
    )
    return s.text, s.params


def build_cross_sell(conn: duckdb.DuckDBPyConnection) -> int:
    """(Re)create the cross-sell table in one statement; the row count."""
    sql, params = cross_sell_sql()
    conn.execute(sql, params)
    return int(conn.execute(f"select count(*) from {CROSS_SELL_TABLE}").fetchall()[0][0])
