"""Campaigns end to end: the generated source, consent in mastering, the funnel from
events, the uplift of recommended cards, and the governed sales lead list.

Generator and mastering tests use the session's small landing zone (1,500 customers); the
mart and export tests use a copy of the session's built data folder.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest
from pii_scan import pii_values, scan, vocabulary

from asset_checks.campaign_checks import out_of_order_events
from asset_checks.mart_verify import funnel_problems, uplift_problems
from fs_assets.app.cli import main
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.generator.campaigns import CAMPAIGNS, fitting_campaign
from fs_assets.model.entities import CAMPAIGN, CAMPAIGN_EVENT, CUSTOMER, ENTITIES
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES, LEVELS
from fs_assets.transforms.governance.export import export_path
from fs_assets.transforms.governance.policies import SALES
from fs_assets.transforms.marts.charts import FUNNEL_BINDING, fetch
from fs_assets.transforms.marts.dashboards import FUNNEL_TABLE, build_funnel
from fs_assets.transforms.marts.model import ARCHETYPE_NAMES, CONVERTED_EVENTS
from fs_assets.transforms.marts.page_data import page_data, unfiltered_problems
from fs_assets.transforms.marts.uplift import build_uplift
from fs_assets.transforms.mastering import build_mastered

CODE = [PROJECT_ROOT / d for d in ("fs_assets", "policies", "resources", "asset_checks")]


def _landed(small_landing: Path) -> duckdb.DuckDBPyConnection:
    """The generated customers, campaigns and events as text tables (model column names)."""
    db = duckdb.connect()
    for ent in (CUSTOMER, CAMPAIGN, CAMPAIGN_EVENT):
        files = [str(p) for p in sorted((small_landing / ent.name).glob("*.csv"))]
        names = ["_row", *ent.column_names]
        db.execute(
            f"create table {ent.name} as select * exclude (_row) from read_csv(?, header = true,"
            " all_varchar = true, names = ?)",
            [files, names],
        )
    return db


def test_only_contactable_customers_are_contacted_in_stage_order(small_landing: Path) -> None:
    db = _landed(small_landing)
    events = db.execute("select count(*) from campaign_event").fetchone()[0]
    customers = db.execute("select count(*) from customer").fetchone()[0]
    assert 0 < events < customers  # events for a fraction of customers only
    not_allowed = db.execute(
        """select count(*) from campaign_event e join customer c using (cust_id)
           where c.marketing_consent <> 'Yes' or c.do_not_contact <> 'No'
              or c.customer_type <> 'Personal' or c.minor_flag = 'Yes'
              or c.customer_status = 'Deceased'
              or e.event_ts::timestamp < c.created_at::timestamp"""
    ).fetchone()[0]
    assert not_allowed == 0
    # Every stage after contacted has the stage before it, no later, for the same campaign.
    out_of_order = db.execute(
        """select count(*) from campaign_event e
           where list_position(?::varchar[], e.event_type) > 1
             and not exists (select 1 from campaign_event p
               where p.cust_id = e.cust_id and p.campaign_id = e.campaign_id
                 and list_position(?::varchar[], p.event_type)
                     = list_position(?::varchar[], e.event_type) - 1
                 and p.event_ts::timestamp <= e.event_ts::timestamp)""",
        [list(CAMPAIGN_EVENT_TYPES)] * 3,
    ).fetchone()[0]
    assert out_of_order == 0
    assert db.execute("select count(*) from campaign").fetchone()[0] == len(CAMPAIGNS)


def test_fitting_offers_convert_better(small_landing: Path) -> None:
    """Conversion depends on whether the card offered fits the customer (measurable uplift)."""
    db = _landed(small_landing)
    rows = db.execute(
        """select c.cibil_score::int, c.afflunce_level, e.campaign_id,
             bool_or(e.event_type in (select unnest(?::varchar[])))
           from campaign_event e join customer c using (cust_id) group by all""",
        [list(CONVERTED_EVENTS)],
    ).fetchall()
    fit = fitting_campaign(
        np.array([r[0] for r in rows]), np.array([LEVELS.index(r[1]) for r in rows])
    )
    ids = [c.campaign_id for c in CAMPAIGNS]
    fits = [f >= 0 and ids[f] == r[2] for f, r in zip(fit, rows, strict=True)]
    rate = {
        flag: sum(r[3] for r, f in zip(rows, fits, strict=True) if f == flag)
        / max(1, sum(f == flag for f in fits))
        for flag in (True, False)
    }
    assert sum(fits) > 20 and len(fits) - sum(fits) > 20
    assert rate[True] > rate[False] + 0.05, rate


def test_an_event_for_a_customer_without_consent_is_quarantined_with_the_rule(
    conn: duckdb.DuckDBPyConnection, small_landing: Path, tmp_path: Path
) -> None:
    for name in ("customer", "product", "campaign", "campaign_event"):
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    assert conn.execute("select count(*) from quarantine.campaign_event_rejects").fetchone()[0] == 0
    refused = conn.execute(
        "select min(cust_id) from mastered.customer where marketing_consent = 'No'"
    ).fetchone()[0]
    dnc = conn.execute(
        "select min(cust_id) from mastered.customer where marketing_consent = 'Yes' "
        "and do_not_contact = 'Yes'"
    ).fetchone()[0]
    path = tmp_path / "campaign_event_late.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["", *(c.source_header for c in CAMPAIGN_EVENT.columns)])
        ts = "2023-05-02 10:00:00"
        for i, cust in enumerate((refused, dnc)):
            event = [f"9999999999999{i}", CAMPAIGNS[0].campaign_id, cust, "contacted", ts, ts, ts]
            out.writerow([i, *event])
    ingest_file(conn, CAMPAIGN_EVENT, path)
    build_mastered(conn, CAMPAIGN_EVENT)
    rejects = conn.execute(
        "select cust_id, _failed_rules from quarantine.campaign_event_rejects order by cust_id"
    ).fetchall()
    assert sorted(r[0] for r in rejects) == sorted([refused, dnc])
    assert all("cust_id__without_consent" in r[1] for r in rejects)
    stored = conn.execute(
        "select count(*) from mastered.campaign_event where cust_id in (?, ?)", [refused, dnc]
    ).fetchone()[0]
    assert stored == 0


def _write_rows(path: Path, ent, rows: list[list[object]]) -> Path:
    """A landing CSV of the entity (index column first, the source headers)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["", *(c.source_header for c in ent.columns)])
        for i, row in enumerate(rows):
            out.writerow([i, *row])
    return path


def test_consent_is_judged_at_the_events_time_not_by_the_current_version(
    conn: duckdb.DuckDBPyConnection, small_landing: Path, tmp_path: Path
) -> None:
    """A consent withdrawn after a contact leaves the contact valid; a contact after the
    withdrawal is rejected with the rule, and one just before it is not."""
    for name in ("customer", "product", "campaign", "campaign_event"):
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    # A consenting customer aged 30 to 50 (no age flag changes) with contacts.
    cust, last = conn.execute(
        """select c.cust_id, greatest(max(e.event_ts), any_value(c.modified_at))
           from mastered.customer c join mastered.campaign_event e using (cust_id)
           where c.cust_dob between date '1975-01-01' and date '1992-12-31'
           group by c.cust_id order by c.cust_id limit 1"""
    ).fetchone()
    contacts = conn.execute(
        "select count(*) from mastered.campaign_event where cust_id = ?", [cust]
    ).fetchone()[0]
    withdrawn = last + dt.timedelta(days=1)
    cols = ", ".join(f'"{c}"' for c in CUSTOMER.column_names)
    version = list(
        conn.execute(
            f"select {cols} from raw.customer where cust_id = ? order by modified_at desc limit 1",
            [cust],
        ).fetchone()
    )
    version[CUSTOMER.column_names.index("marketing_consent")] = "No"
    version[CUSTOMER.column_names.index("modified_at")] = f"{withdrawn:%Y-%m-%d %H:%M:%S}"
    ingest_file(
        conn, CUSTOMER, _write_rows(tmp_path / "customer_withdrawn.csv", CUSTOMER, [version])
    )
    build_mastered(conn, CUSTOMER)
    assert conn.execute(
        "select marketing_consent from mastered.customer where cust_id = ?", [cust]
    ).fetchone() == ("No",)
    build_mastered(conn, CAMPAIGN_EVENT)
    # The earlier contacts stay mastered: consent was given when they were made.
    assert (
        conn.execute(
            "select count(*) from mastered.campaign_event where cust_id = ?", [cust]
        ).fetchone()[0]
        == contacts
    )
    for table in ("rejects", "pending_corrections"):
        assert (
            conn.execute(f"select count(*) from quarantine.campaign_event_{table}").fetchone()[0]
            == 0
        )
    # An hour before the withdrawal: valid; a day after it: rejected with the rule.
    stamp = [withdrawn - dt.timedelta(hours=1), withdrawn + dt.timedelta(days=1)]
    events = [
        [
            f"9999999999990{i}",
            CAMPAIGNS[0].campaign_id,
            cust,
            "contacted",
            *[f"{t:%Y-%m-%d %H:%M:%S}"] * 3,
        ]
        for i, t in enumerate(stamp)
    ]
    ingest_file(conn, CAMPAIGN_EVENT, _write_rows(tmp_path / "events.csv", CAMPAIGN_EVENT, events))
    build_mastered(conn, CAMPAIGN_EVENT)
    rejects = conn.execute(
        "select event_id, _failed_rules from quarantine.campaign_event_rejects"
    ).fetchall()
    assert [r[0] for r in rejects] == ["99999999999901"]
    assert "cust_id__without_consent" in rejects[0][1]
    assert (
        conn.execute(
            "select count(*) from mastered.campaign_event where event_id = '99999999999900'"
        ).fetchone()[0]
        == 1
    )


def _wh(paths: DataPaths) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(paths.warehouse))


@pytest.mark.slow
def test_funnel_counts_customers_with_each_event_and_a_mismatch_fails(built: DataPaths) -> None:
    with _wh(built) as wh:
        assert funnel_problems(wh) == {}
        per_stage = dict(
            wh.execute(
                "select stage_order, sum(customers) from marts.campaign_funnel group by 1"
            ).fetchall()
        )
        truth = dict(
            wh.execute(
                "select list_position(?::varchar[], event_type), count(distinct cust_id) "
                "from mastered.campaign_event group by 1",
                [list(CAMPAIGN_EVENT_TYPES)],
            ).fetchall()
        )
        assert per_stage == truth and truth[1] > 0
        # A planted mismatch: one customer more at the Applied stage of one archetype.
        wh.execute(
            "update marts.campaign_funnel set customers = customers + 1 "
            "where stage_order = 3 and archetype = ?",
            [ARCHETYPE_NAMES[-1]],
        )
        assert funnel_problems(wh).get("stages_not_matching_events") == 1
        # And the other way: an event mastered after the funnel was built.
        wh.execute(
            "update marts.campaign_funnel set customers = customers - 1 "
            "where stage_order = 3 and archetype = ?",
            [ARCHETYPE_NAMES[-1]],
        )
        wh.execute(
            "delete from mastered.campaign_event where event_id = "
            "(select min(event_id) from mastered.campaign_event where event_type = 'onboarded')"
        )
        assert funnel_problems(wh).get("stages_not_matching_events") == 1


def _uplift_inputs(conn: duckdb.DuckDBPyConnection) -> None:
    """Hand-made marts.cross_sell, mastered.campaign and mastered.campaign_event.

    The cross-sell carries the columns it has in the build (offered_product_id: the card
    of the campaign that contacted the customer last), so the mart can read either.
    c1 (recommended P1) is contacted by K1 (offering P1) without converting and by K2
    (offering P2), where they apply; c2 converts in K1; c3 has no recommended card; c4
    applied in K2 without a contacted event (no contact: the stage-order check names it).
    """
    conn.execute("create schema if not exists marts")
    conn.execute(
        """create table marts.cross_sell as select * from (values
          ('c1', 'A', 'P1', 3, 'P2', false), ('c2', 'A', 'P1', 3, 'P1', true),
          ('c3', 'A', null, 3, 'P1', null), ('c4', 'A', 'P2', 3, 'P2', true))
          t(cust_id, archetype, recommended_product_id, campaign_stage, offered_product_id,
            offered_recommended)"""
    )
    # Four people, each with one core record (identity resolution found no links).
    conn.execute(
        """alter table marts.cross_sell add column golden_id varchar;
           alter table marts.cross_sell add column person_id varchar;
           alter table marts.cross_sell add column person_record boolean default true;
           update marts.cross_sell set person_id = 'cust:' || cust_id"""
    )
    conn.execute(
        "create table mastered.campaign as select * from (values ('K1', 'P1'), ('K2', 'P2'))"
        " t(campaign_id, product_id)"
    )
    conn.execute(
        """create table mastered.campaign_event as
          select row_number() over ()::varchar as event_id, * from (values
          ('K1', 'c1', 'contacted', timestamp '2023-03-01 10:00'),
          ('K2', 'c1', 'contacted', timestamp '2023-04-01 10:00'),
          ('K2', 'c1', 'responded', timestamp '2023-04-02 10:00'),
          ('K2', 'c1', 'applied', timestamp '2023-04-03 10:00'),
          ('K1', 'c2', 'contacted', timestamp '2023-03-01 10:00'),
          ('K1', 'c2', 'responded', timestamp '2023-03-02 10:00'),
          ('K1', 'c2', 'applied', timestamp '2023-03-03 10:00'),
          ('K1', 'c3', 'contacted', timestamp '2023-03-01 10:00'),
          ('K1', 'c3', 'applied', timestamp '2023-03-03 10:00'),
          ('K2', 'c4', 'applied', timestamp '2023-04-03 10:00'))
          t(campaign_id, cust_id, event_type, event_ts)"""
    )


def test_uplift_counts_each_contact_with_its_own_campaigns_offer_and_outcome(
    conn: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fs_assets.transforms.marts.uplift.ARCHETYPE_NAMES", ("A",))
    _uplift_inputs(conn)
    build_uplift(conn)
    rows = conn.execute(
        "select offer, contacted, converted, conversion, uplift_points"
        " from marts.campaign_uplift where archetype = 'A' order by offer desc"
    ).fetchall()
    # c1's contact by K1 (its recommended card) did not convert, its contact by K2 did;
    # c2 converted in K1; c3 (no recommended card) and c4 (no contact) are not counted.
    assert rows == [("Recommended card", 2, 1, 0.5, -50.0), ("Other card", 1, 1, 1.0, -50.0)]
    assert uplift_problems(conn) == {}
    # Conversions moved between the groups (same total) are found per group.
    conn.execute(
        "update marts.campaign_uplift set converted = converted + case offer"
        " when 'Recommended card' then 1 else -1 end"
    )
    assert uplift_problems(conn) == {"converted_differs": 2}


def test_the_funnel_pages_cube_counts_customers_with_each_stages_event_as_the_mart(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    """A customer with events out of stage order counts at the stages they have an event
    of, on the page as in the mart: not at a missing earlier stage."""
    a, b = ARCHETYPE_NAMES[0], ARCHETYPE_NAMES[1]
    conn.execute("create schema if not exists marts")
    conn.execute(
        f"""create table marts.cross_sell as select * from (values
          ('c1', '{a}', 'Urban', 5, 'P1'), ('c2', '{a}', 'Rural', 3, 'P1'),
          ('c3', '{a}', 'Urban', 2, null), ('c4', '{b}', 'Urban', null, null))
          t(cust_id, archetype, segment, campaign_stage, offered_product_id)"""
    )
    conn.execute(
        """alter table marts.cross_sell add column state varchar default 'Goa';
           alter table marts.cross_sell add column country varchar default 'India';
           alter table marts.cross_sell add column person_state varchar default 'Goa';
           alter table marts.cross_sell add column person_country varchar default 'India';
           alter table marts.cross_sell add column risk_category varchar default 'Low';
           alter table marts.cross_sell add column affluence_level varchar default 'Low';
           alter table marts.cross_sell add column person_record boolean default true;
           alter table marts.cross_sell add column golden_id varchar;
           alter table marts.cross_sell add column person_id varchar;
           update marts.cross_sell set person_id = 'cust:' || cust_id;
           alter table marts.cross_sell add column onboarded_product_id varchar;
           alter table marts.cross_sell add column person_onboarded_product_id varchar;
           create table mastered.product as select 'P1' as product_id, 'Card' as product_name;
           create table mastered.transaction as select 'c1' as cust_id,
             1.0::decimal(18,2) as amount_reporting, 'x' as transaction_status,
             'x' as transaction_type limit 0"""
    )
    # c1 has every stage; c2 applied without an earlier event; c3 contacted and responded.
    conn.execute(
        """create table mastered.campaign_event as select * from (values
          ('c1', 'contacted'), ('c1', 'responded'), ('c1', 'applied'), ('c1', 'kyc_passed'),
          ('c1', 'onboarded'), ('c2', 'applied'), ('c3', 'contacted'), ('c3', 'responded'))
          t(cust_id, event_type)"""
    )
    build_funnel(conn)
    mart = fetch(conn, FUNNEL_TABLE, None)
    got = {(r["archetype"], r["stage_order"]): r["customers"] for r in mart}
    assert [got[(a, k)] for k in range(1, 6)] == [2, 2, 2, 1, 1]
    page = page_data(conn, "campaign_funnel", with_customers=False)
    assert unfiltered_problems(page, FUNNEL_BINDING, mart) == []
    rural = page.rows(FUNNEL_BINDING, {"segment": "Rural"})
    assert [r["customers"] for r in rural if r["archetype"] == a] == [0, 0, 1, 0, 0]
    assert funnel_problems(conn) == {}


def test_a_person_reached_through_two_core_records_is_one_contact(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    """c1 and c1b are one person (G1; c1b the person record, in archetype a and Urban; c1
    older, in b and Rural); c2 a person of their own. Campaign K1 (offering both people's
    recommended card P1) contacted c1, c1b and c2; c1b responded and c1 applied in K1. The
    person G1 is one contact of K1, converted through c1's event, counted once at each of
    Contacted, Responded and Applied, in the archetype and cell of c1b; the pages' cubes
    agree with the marts and the checks recompute the same."""
    from fs_assets.transforms.marts.uplift import UPLIFT_BINDING, UPLIFT_TABLE

    a, b = ARCHETYPE_NAMES[0], ARCHETYPE_NAMES[1]
    conn.execute("create schema if not exists marts")
    conn.execute(
        f"""create table marts.cross_sell as select *, 'Goa' as state, 'India' as country,
             'Goa' as person_state, 'India' as person_country,
             'Low' as risk_category, 'Low' as affluence_level, 'P1' as recommended_product_id,
             null::varchar as onboarded_product_id, null::varchar as person_onboarded_product_id
           from (values
          ('c1', 'G1', 'G1', false, '{b}', 'Rural', 3),
          ('c1b', 'G1', 'G1', true, '{a}', 'Urban', 1),
          ('c2', null, 'cust:c2', true, '{a}', 'Urban', 1))
          t(cust_id, golden_id, person_id, person_record, archetype, segment, campaign_stage);
        create table mastered.product as select 'P1' as product_id, 'Card' as product_name;
        create table mastered.campaign as select 'K1' as campaign_id, 'P1' as product_id;
        create table mastered.transaction as select 'c1' as cust_id,
          1.0::decimal(18,2) as amount_reporting, 'x' as transaction_status,
          'x' as transaction_type limit 0;
        create table mastered.campaign_event as select * from (values
          ('K1', 'c1', 'contacted'), ('K1', 'c1b', 'contacted'), ('K1', 'c2', 'contacted'),
          ('K1', 'c1b', 'responded'), ('K1', 'c1', 'applied'))
          t(campaign_id, cust_id, event_type)"""
    )
    build_funnel(conn)
    funnel = fetch(conn, FUNNEL_TABLE, None)
    got = {(r["archetype"], r["stage"]): r["customers"] for r in funnel if r["customers"]}
    assert got == {(a, "Contacted"): 2, (a, "Responded"): 1, (a, "Applied"): 1}
    build_uplift(conn)
    uplift = conn.execute(
        f"select archetype, offer, contacted, converted from {UPLIFT_TABLE} where contacted > 0"
    ).fetchall()
    assert uplift == [(a, "Recommended card", 2, 1)]
    assert funnel_problems(conn) == {} and uplift_problems(conn) == {}
    funnel_page = page_data(conn, "campaign_funnel", with_customers=False)
    assert unfiltered_problems(funnel_page, FUNNEL_BINDING, funnel) == []
    rural = funnel_page.rows(FUNNEL_BINDING, {"segment": "Rural"})
    assert all(r["customers"] == 0 for r in rural)  # c1 counts in its person's cell
    uplift_page = page_data(conn, "campaign_uplift", with_customers=False)
    assert unfiltered_problems(uplift_page, UPLIFT_BINDING, fetch(conn, UPLIFT_TABLE, None)) == []
    # Counting the two records apart fails the checks.
    conn.execute(f"update {FUNNEL_TABLE} set customers = 3 where archetype = ? and stage_order "
                 "= 1", [a])  # fmt: skip
    conn.execute(f"update {UPLIFT_TABLE} set contacted = 3 where contacted = 2")
    assert funnel_problems(conn) == {"reached_not_targeted": 1, "stages_not_matching_events": 1}
    assert uplift_problems(conn) == {"contacted_differs": 1}


@pytest.mark.slow
def test_uplift_reconciles_and_is_positive_overall(built: DataPaths) -> None:
    with _wh(built) as wh:
        assert uplift_problems(wh) == {}
        rows = wh.execute(
            "select offer, sum(contacted), sum(converted) from marts.campaign_uplift group by 1"
        ).fetchall()
        conversion = {o: c / n for o, n, c in rows if n}
        assert conversion["Recommended card"] > conversion["Other card"], conversion
        wh.execute(
            "update marts.campaign_uplift set contacted = contacted + 1 where offer = ?",
            ["Other card"],
        )
        assert "contacted_differs" in uplift_problems(wh)


@pytest.mark.slow
def test_the_sales_export_holds_only_consenting_contacts_and_passes_the_pii_scan(
    built: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(built.home), "export", "--role", SALES]) == 0, capsys.readouterr()
    export = export_path(built, SALES)
    with duckdb.connect(str(export), read_only=True) as db:
        leads = db.execute(
            "select cust_id, recommended_card, recommendation_reason, campaign_stage, "
            "email_addr, mobile_number1, marketing_consent, do_not_contact "
            "from governed.sales_leads"
        ).fetchall()
    assert leads
    assert all(r[1] and r[2] for r in leads)  # every lead names its card and reason
    assert any(r[3] for r in leads)  # some leads carry a campaign stage
    consenting = [r for r in leads if r[6] == "Yes" and r[7] == "No"]
    others = [r for r in leads if not (r[6] == "Yes" and r[7] == "No")]
    assert consenting and others
    assert all(r[4] is None and r[5] is None for r in others)
    assert all(r[4] and r[5] for r in consenting)
    with _wh(built) as wh:
        clear_ids = {r[0] for r in wh.execute("select cust_id from mastered.customer").fetchall()}
    assert not clear_ids & {r[0] for r in leads}  # cust_id is the role's keyed token
    found = scan([export], pii_values(built.warehouse, vocabulary(CODE)))
    assert not found, [(f.where, f.column) for f in found]


@pytest.mark.slow
def test_an_event_out_of_stage_order_is_flagged_with_its_reason(built: DataPaths) -> None:
    with _wh(built) as wh:
        assert out_of_order_events(wh) == []
        cust = wh.execute(
            "select min(cust_id) from mastered.campaign_event where event_type = 'contacted'"
            " and cust_id not in (select cust_id from mastered.campaign_event"
            " where event_type = 'responded')"
        ).fetchone()[0]
        wh.execute(
            "insert into mastered.campaign_event by name select '99999999999999' as event_id,"
            " campaign_id, cust_id, 'applied' as event_type, event_ts + interval 1 day as"
            " event_ts, created_at, modified_at from mastered.campaign_event"
            " where cust_id = ? and event_type = 'contacted'",
            [cust],
        )
        assert out_of_order_events(wh) == [
            (
                "99999999999999",
                "applied without an earlier responded for this customer and campaign",
            )
        ]
