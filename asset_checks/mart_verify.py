"""Independent proofs over the marts, used by the asset checks and the tests alike.

Each function recomputes a claim with SQL written differently from the build (the
archetype as the position of the first true rule in a list rather than a CASE; the
reconciliations straight from mastered.transaction) and returns the problems it found,
so an empty result is a pass and anything else names what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import duckdb

from fs_assets.identity.tables import GOLDEN_CUSTOMER
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.duckdb_file import table_exists
from fs_assets.transforms.marts.charts import Chart
from fs_assets.transforms.marts.cross_sell import CAMPAIGNS_TABLE, CROSS_SELL_TABLE, EVENTS_TABLE
from fs_assets.transforms.marts.dashboards import FUNNEL_TABLE, LEAD_TABLE, SPEND_TABLE
from fs_assets.transforms.marts.features import FEATURES_TABLE, spend_predicate
from fs_assets.transforms.marts.model import (
    ARCHETYPES,
    CARD_TIERS_ORDERED,
    CONVERTED_EVENTS,
    DECEASED,
    FUNNEL_STAGES,
    INELIGIBILITY,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
    TIER_CAP_BY_AFFLUENCE,
    TIER_CAP_BY_ARCHETYPE,
)
from fs_assets.transforms.marts.page_data import PageData, unfiltered_problems
from fs_assets.transforms.marts.sql_builder import SqlBuilder
from fs_assets.transforms.marts.uplift import OTHER, RECOMMENDED, UPLIFT_TABLE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _rows(conn: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> list:
    return conn.execute(sql, params or []).fetchall()


def archetype_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Every mastered customer has exactly one archetype: the first rule that holds."""
    s = SqlBuilder()
    s.add("select f.cust_id, (?::varchar[])[list_position([", [a.name for a in ARCHETYPES])
    s.join([(f"coalesce({a.predicate}, false)", a.params) for a in ARCHETYPES], ", ")
    s.add(f"], true)] as expected from {FEATURES_TABLE} f")
    counts = _rows(
        conn,
        f"""with expected as ({s.text})
        select
          (select count(*) from mastered.customer m anti join {CROSS_SELL_TABLE} x using (cust_id)),
          (select count(*) from {CROSS_SELL_TABLE} x anti join mastered.customer m using (cust_id)),
          (select count(*) - count(distinct cust_id) from {CROSS_SELL_TABLE}),
          (select count(*) from {CROSS_SELL_TABLE} x left join expected e using (cust_id)
           where x.archetype is distinct from e.expected)""",
        s.params,
    )[0]
    names = ("customers_without_row", "rows_without_customer", "duplicate_rows", "wrong_archetype")
    return {n: int(v) for n, v in zip(names, counts, strict=True) if v}


def eligibility_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """A recommended card respects every eligibility rule and the customer's tier cap, no
    core record of the person holds it open (recounted from mastered.account) and none is
    deceased (from mastered.customer).

    In stages, so memory stays bounded at 10M customers: the rules of each row first
    (cross-sell with its features), then the person's accounts and records against the
    recommendations alone. One statement joining all of them held every join's table in
    memory at once, and ran out of a 4 GB limit at 10M."""
    problems = _row_eligibility_problems(conn)
    problems.update(_person_eligibility_problems(conn))
    return problems


def _row_eligibility_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The rules each row can prove from its own features and its card."""
    s = SqlBuilder()
    s.add("select\n  count(*) filter (where x.recommended_product_id is not null and (")
    s.join([(f"coalesce({r.predicate}, true)", r.params) for r in INELIGIBILITY], " or ")
    tiers = list(CARD_TIERS_ORDERED)
    s.add(
        """)) as ineligible_with_card,
  count(*) filter (where p.min_cibil_score > f.cibil_score) as below_card_minimum,
  count(*) filter (where list_contains(f.held_cards, x.recommended_product_id)) as already_held,
  count(*) filter (where x.recommended_product_id is not null
                     and p.product_type is distinct from 'Credit Card') as not_a_card,
  count(*) filter (where list_position(?::varchar[], p.card_tier) > least(
      list_position(?::varchar[], """,
        tiers,
        tiers,
    )
    s.case_map("f.affluence_level", TIER_CAP_BY_AFFLUENCE)
    s.add("), coalesce(list_position(?::varchar[], ", tiers)
    s.case_map("x.archetype", TIER_CAP_BY_ARCHETYPE)
    s.add(
        f"""), 99))) as above_tier_cap,
  count(*) filter (where x.recommendation_reason is null) as no_reason
from (select cust_id, archetype, recommended_product_id, recommendation_reason
      from {CROSS_SELL_TABLE}) x
join {FEATURES_TABLE} f using (cust_id)
left join mastered.product p on p.product_id = x.recommended_product_id"""
    )
    cur = conn.execute(s.text, s.params)
    names = [d[0] for d in cur.description]
    return {n: int(v) for n, v in zip(names, cur.fetchall()[0], strict=True) if v}


# Each recommendation's person (from the golden id) and card, staged once for both counts.
_RECOMMENDED = "_eligibility_recommended"


def _person_eligibility_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Recommendations of a card the person holds open on any core record, and of anything
    to a person deceased on any core record."""
    conn.execute(
        f"""create or replace temp table {_RECOMMENDED} as
        select coalesce(f.golden_id, 'cust:' || x.cust_id) as person,
               x.recommended_product_id as product_id
        from {CROSS_SELL_TABLE} x join {FEATURES_TABLE} f using (cust_id)
        where x.recommended_product_id is not null"""
    )
    try:
        held, deceased = _rows(
            conn,
            f"""select
              -- The recommended cards a person holds open on any of their core records.
              (select count(*) from {_RECOMMENDED} r semi join (
                 select coalesce(g.golden_id, 'cust:' || a.cust_id) as person, a.product_id
                 from mastered.account a left join {FEATURES_TABLE} g using (cust_id)
                 where a.account_status <> 'Closed'
                   and a.product_id in (select product_id from {_RECOMMENDED})) h
               on h.person = r.person and h.product_id = r.product_id),
              -- The people any of whose core records is deceased.
              (select count(*) from {_RECOMMENDED} r semi join (
                 select coalesce(g.golden_id, 'cust:' || c.cust_id) as person
                 from mastered.customer c left join {FEATURES_TABLE} g using (cust_id)
                 where c.customer_status = ?) d
               on d.person = r.person)""",
            [DECEASED],
        )[0]
    finally:
        conn.execute(f"drop table if exists {_RECOMMENDED}")
    counts = {"held_by_the_person": held, "deceased_on_a_record": deceased}
    return {n: int(v) for n, v in counts.items() if v}


# A person: the golden id, or a core customer identity resolution has not linked.
_PERSON = "coalesce(f.golden_id, 'cust:' || x.cust_id)"
_PEOPLE = (
    f"select count(distinct {_PERSON}) from mastered.customer x "
    f"left join {FEATURES_TABLE} f using (cust_id)"
)
# Each core customer's person (from the golden id, not the mart's person_id), and each
# person's archetype and recommended card: those of the row marked as their person record.
_PERSON_OF = (
    f"select cust_id, coalesce(golden_id, 'cust:' || cust_id) as person from {CROSS_SELL_TABLE}"
)
_PERSON_ROW = (
    f"select coalesce(golden_id, 'cust:' || cust_id) as person, * from {CROSS_SELL_TABLE} "
    "where person_record"
)


def funnel_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Stages never grow, and the first stage is, per archetype (of the person record), every
    person with a contacted event on any of their core records (not every person with any
    event: one with an applied event only counts at Applied, as the funnel counts)."""
    grows, first_stage_off, row_count = _rows(
        conn,
        f"""select
          count(*) filter (where customers > prev),
          (select count(*) from (
             select a.archetype, count(distinct p.person) as n
             from {EVENTS_TABLE} e join ({_PERSON_OF}) p on p.cust_id = e.cust_id
             join ({_PERSON_ROW}) a on a.person = p.person
             where e.event_type = ? group by a.archetype) t
           full join (select archetype, customers from {FUNNEL_TABLE} where stage_order = 1) r
           using (archetype)
           where coalesce(t.n, 0) <> coalesce(r.customers, 0)),
          (select count(*) from {FUNNEL_TABLE})
        from (select customers, lag(customers) over (
                partition by archetype order by stage_order) as prev from {FUNNEL_TABLE})""",
        [CAMPAIGN_EVENT_TYPES[0]],
    )[0]
    out = {"stage_larger_than_previous": grows, "reached_not_targeted": first_stage_off}
    if row_count != len(ARCHETYPES) * len(FUNNEL_STAGES):
        out["rows_not_archetypes_x_stages"] = row_count
    out["stages_not_matching_events"] = funnel_event_mismatches(conn)
    return {k: int(v) for k, v in out.items() if v}


def funnel_event_mismatches(conn: duckdb.DuckDBPyConnection) -> int:
    """Stages whose people (all archetypes) differ from the distinct people with a valid
    event of the stage's type in mastered.campaign_event on any of their core records."""
    return int(
        _rows(
            conn,
            f"""with stages as (
              select unnest(?::varchar[]) as event_type,
                unnest(range(1, len(?::varchar[]) + 1)) as stage_order),
            events as (
              select e.event_type, count(distinct p.person) as n from {EVENTS_TABLE} e
              join ({_PERSON_OF}) p on p.cust_id = e.cust_id group by 1),
            funnel as (
              select stage_order, sum(customers) as n from {FUNNEL_TABLE} group by 1)
            select count(*) from stages s
            left join events e using (event_type) full join funnel f using (stage_order)
            where coalesce(e.n, 0) <> coalesce(f.n, -1)""",
            [list(CAMPAIGN_EVENT_TYPES), list(CAMPAIGN_EVENT_TYPES)],
        )[0][0]
    )


def uplift_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Each uplift group (archetype, offer) has the contacts of people whose person record
    has a recommended card, whose campaign offered it (or another card), and as conversions
    those contacts with an applied-or-further event in the same campaign; no group converts
    more than it contacted. Counted per (person, campaign) from the events of all a person's
    core records, independently of the mart."""
    counts = _rows(
        conn,
        f"""with person_events as (
          select p.person, e.campaign_id, e.event_type
          from {EVENTS_TABLE} e join ({_PERSON_OF}) p on p.cust_id = e.cust_id),
        contacts as (
          select distinct person, campaign_id from person_events where event_type = ?),
        conversions as (
          select distinct person, campaign_id from person_events
          where event_type in (select unnest(?::varchar[]))),
        truth as (
          select a.archetype,
            case when c.product_id = a.recommended_product_id then ? else ? end as offer,
            count(*) as contacted, count(w.person) as converted
          from contacts k
          join ({_PERSON_ROW}) a on a.person = k.person
          join {CAMPAIGNS_TABLE} c on c.campaign_id = k.campaign_id
          left join conversions w on w.person = k.person and w.campaign_id = k.campaign_id
          where a.recommended_product_id is not null
          group by all)
        select
          count(*) filter (where coalesce(t.contacted, 0) <> coalesce(u.contacted, 0)),
          count(*) filter (where coalesce(t.converted, 0) <> coalesce(u.converted, 0)),
          (select count(*) from {UPLIFT_TABLE} where converted > contacted)
        from truth t full join {UPLIFT_TABLE} u using (archetype, offer)""",
        [CAMPAIGN_EVENT_TYPES[0], list(CONVERTED_EVENTS), RECOMMENDED, OTHER],
    )[0]
    names = ("contacted_differs", "converted_differs", "converted_above_contacted")
    return {n: int(v) for n, v in zip(names, counts, strict=True) if v}


def lead_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Counts per mode and reason and the customer total (people) equal mastered's; each
    state holds the people whose golden record (else newest core record) lives there."""
    checks = {
        "mode_counts_differ": f"""select count(*) from (
            select transaction_mode as member, count(*) as n from mastered.transaction group by 1) m
            full join (select member, sum(transactions) as n from {LEAD_TABLE}
                       where figure = 'mode_by_month' group by 1) l using (member)
            where m.n is distinct from l.n""",
        "reason_counts_or_amounts_differ": f"""select count(*) from (
            select transaction_reason as member, count(*) as n, sum(amount_reporting) as a
            from mastered.transaction group by 1) m
            full join (select member, transactions as n, amount as a from {LEAD_TABLE}
                       where figure = 'reason') l using (member)
            where m.n is distinct from l.n or m.a is distinct from l.a""",
        # People: core records of one golden id (identity resolution) count once, in the
        # total and in every breakdown, and once per product they hold.
        "customer_total_differs": f"""select count(*) from {LEAD_TABLE}
            where figure = 'total_customers' and customers <> ({_PEOPLE})""",
        "breakdowns_not_summing_to_total": f"""select count(*) from (
            select figure, sum(customers) as n from {LEAD_TABLE}
            where figure in ('archetype', 'risk_category', 'affluence_level', 'segment', 'state')
            group by figure) b
            where n <> ({_PEOPLE})""",
        "product_holders_differ": f"""select count(*) from (
            select p.product_name as member, count(distinct {_PERSON}) as n, count(*) as a
            from mastered.account x join mastered.product p using (product_id)
            left join {FEATURES_TABLE} f using (cust_id)
            where x.account_status <> 'Closed' group by 1) m
            full join (select member, customers as n, accounts as a from {LEAD_TABLE}
                       where figure = 'product_sales') l using (member)
            where m.n is distinct from l.n or m.a is distinct from l.a""",
    }
    out = {k: int(_rows(conn, sql)[0][0]) for k, sql in checks.items()}
    out["state_people_differ"] = _state_mismatches(conn)
    out["onboarded_people_differ"] = _onboarded_mismatches(conn)
    return {k: v for k, v in out.items() if v}


def _onboarded_mismatches(conn: duckdb.DuckDBPyConnection) -> int:
    """Cards of the lead mart's campaign sales whose people differ from a recount: each
    person with an onboarded event on any of their core records, once, at the card of the
    campaign of their latest one."""
    return int(
        _rows(
            conn,
            f"""with latest as (
              select p.person, e.campaign_id from {EVENTS_TABLE} e
              join ({_PERSON_OF}) p on p.cust_id = e.cust_id
              where e.event_type = ?
              qualify row_number() over (
                partition by p.person order by e.event_ts desc, e.event_id desc) = 1),
            truth as (
              select d.product_name as member, count(*) as n from latest l
              join {CAMPAIGNS_TABLE} c using (campaign_id)
              join mastered.product d on d.product_id = c.product_id group by 1)
            select count(*) from truth t
            full join (select member, customers as n from {LEAD_TABLE}
                       where figure = 'campaign_onboarded') m using (member)
            where t.n is distinct from m.n""",
            [CAMPAIGN_EVENT_TYPES[-1]],
        )[0][0]
    )


def _state_mismatches(conn: duckdb.DuckDBPyConnection) -> int:
    """States of the lead mart whose people differ from a recount: a person's state and
    country are their golden record's, each where it has one, else those of their newest
    core record (modified_at, then the lowest cust_id)."""
    golden = (
        f"(select golden_id, state, country from {GOLDEN_CUSTOMER})"
        if table_exists(conn, *GOLDEN_CUSTOMER.split("."))
        else "(select null::varchar as golden_id, null as state, null as country limit 0)"
    )
    return int(
        _rows(
            conn,
            f"""with persons as (
              select f.golden_id, x.state, x.country, row_number() over (
                partition by {_PERSON} order by x.modified_at desc, x.cust_id) as k
              from mastered.customer x left join {FEATURES_TABLE} f using (cust_id)),
            truth as (
              select coalesce(g.state, p.state) || ', ' || coalesce(g.country, p.country)
                as member, count(*) as n
              from persons p left join {golden} g on g.golden_id = p.golden_id
              where p.k = 1 group by 1)
            select count(*) from truth t
            full join (select member, customers as n from {LEAD_TABLE} where figure = 'state') l
              on l.member is not distinct from t.member
            where t.n is distinct from l.n""",
        )[0][0]
    )


def spend_problems(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Spend figures equal the sum of successful debits, by month, category and in total;
    each spend segment holds the people (golden id, or a core customer not linked) whose
    successful debits over all their core records fall in it, with that spend."""
    spend, params = spend_predicate()
    low, high = SPEND_SEGMENT_BOUNDS
    person_spend = f"""select {_PERSON} as person, coalesce(sum(t.amount_reporting)
              filter (where {spend}), 0) as spend
            from mastered.customer x left join {FEATURES_TABLE} f using (cust_id)
            left join mastered.transaction t using (cust_id) group by 1"""
    truth = (
        f"select count(*) as n, sum(amount_reporting) as a from mastered.transaction where {spend}"
    )
    checks = {
        "monthly_total_differs": f"""select count(*) from ({truth}) t,
            (select sum(transactions) as n, sum(spend) as a,
                    max(cumulative_spend) as c from {SPEND_TABLE} where figure = 'monthly') m
            where t.n <> coalesce(m.n, 0)
               or t.a is distinct from m.a or t.a is distinct from m.c""",
        "category_totals_differ": f"""select count(*) from (
            select transaction_reason as category, sum(amount_reporting) as a
            from mastered.transaction
            where {spend} group by 1) t
            full join (select category, sum(spend) as a from {SPEND_TABLE}
                       where figure = 'category_month' group by 1) m using (category)
            where t.a is distinct from m.a""",
        "flow_total_differs": f"""select count(*) from ({truth}) t,
            (select sum(transactions) as n, sum(spend) as a from {SPEND_TABLE}
             where figure = 'flow') m where t.n <> m.n or t.a is distinct from m.a""",
        "segment_totals_differ": f"""select count(*) from ({truth}) t,
            (select sum(customers) as c, sum(spend) as a from {SPEND_TABLE}
             where figure = 'segment') m
            where m.c <> ({_PEOPLE})
               or coalesce(t.a, 0) <> coalesce(m.a, 0)""",
    }
    out = {k: int(_rows(conn, sql, params * sql.count(spend))[0][0]) for k, sql in checks.items()}
    # The segments recomputed per person: the position of their spend among the bounds.
    out["segment_people_differ"] = int(
        _rows(
            conn,
            f"""select count(*) from (
            select (?::varchar[])[1 + (spend >= ?)::int + (spend >= ?)::int] as segment,
              count(*) as c, sum(spend) as a
            from ({person_spend}) group by 1) t
            full join (select segment, customers as c, spend as a from {SPEND_TABLE}
                       where figure = 'segment') m using (segment)
            where coalesce(t.c, 0) <> coalesce(m.c, 0)
               or coalesce(t.a, 0) <> coalesce(m.a, 0)""",
            [list(SPEND_SEGMENTS), low, high, *params],
        )[0][0]
    )
    return {k: v for k, v in out.items() if v}


_SPECS = re.compile(r"const charts = (\[.*?\]);\n", re.S)
_PAGE = re.compile(r"const PAGE = (\{.*?\});</script>", re.S)


def page_filter_data(page: Path) -> dict:
    """The filters' data embedded in a dashboard page (cubes, bindings), or {} without."""
    match = _PAGE.search(page.read_text(encoding="utf-8"))
    return json.loads(match.group(1).replace("<\\/", "</")) if match else {}


def page_specs(page: Path) -> list[dict]:
    """The chart specs embedded in a dashboard page, as the browser receives them."""
    match = _SPECS.search(page.read_text(encoding="utf-8"))
    if not match:
        raise ValueError(f"{page}: no embedded chart specs")
    return json.loads(match.group(1).replace("<\\/", "</"))


def chart_data(spec: dict) -> list[dict]:
    """The mart rows inside a spec (Vega-Lite inline data, or Vega's first data set)."""
    data = spec["data"]
    return list(data["values"] if isinstance(data, dict) else data[0]["values"])


def dashboard_problems(
    conn: duckdb.DuckDBPyConnection,
    reports: Path,
    slug: str,
    charts_of: Callable[[duckdb.DuckDBPyConnection], list[Chart]],
) -> list[str]:
    """The page and PNGs exist and are valid, and every chart shows the mart's current rows."""
    problems = []
    page = reports / f"{slug}.html"
    if not page.is_file() or page.stat().st_size == 0:
        return [f"{page} is missing or empty"]
    text = page.read_text(encoding="utf-8")
    if not text.lstrip().lower().startswith("<!doctype html>") or "</html>" not in text:
        problems.append(f"{page} is not a complete HTML document")
    specs = {s["id"]: s["spec"] for s in page_specs(page)}
    filters = page_filter_data(page)
    # The page's cells and cubes as Arrow columns: summed in DuckDB, not row by row.
    data = PageData.decoded(filters) if filters else None
    for i, chart in enumerate(charts_of(conn)):
        # The filters' cubes, with no filter set, give the chart the mart's rows.
        b = chart.binding
        if b is None:
            problems.append(f"{chart.name}: not bound to the page's filters")
        elif data is None or b.cube not in {c.name for c in data.cubes}:
            problems.append(f"{chart.name}: no filter data on the page")
        else:
            problems += [f"{chart.name}: {p}" for p in unfiltered_problems(data, b, chart.rows)]
        png = reports / "png" / f"{chart.name}.png"
        if not png.is_file() or png.read_bytes()[:8] != PNG_SIGNATURE:
            problems.append(f"{png} is missing or not a PNG")
        shown = specs.get(f"chart-{i}")
        if shown is None:
            problems.append(f"{chart.name}: not on the page")
        elif _canon(chart_data(shown)) != _canon(list(chart.rows)):
            problems.append(f"{chart.name}: the page's numbers differ from {chart.table}")
    return problems


def _canon(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)
