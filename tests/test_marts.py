"""The cross-sell marts and dashboards on a real build of the small generated data set."""

import datetime as dt
import json
import re
import struct
from pathlib import Path

import duckdb
import pytest
import vl_convert as vlc

from asset_checks.mart_verify import (
    archetype_problems,
    chart_data,
    dashboard_problems,
    eligibility_problems,
    funnel_problems,
    lead_problems,
    page_specs,
    spend_problems,
)
from fs_assets.model.paths import DataPaths
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES, DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.marts.charts import funnel_charts, lead_charts, spend_charts
from fs_assets.transforms.marts.cross_sell import build_cross_sell
from fs_assets.transforms.marts.flow_charts import SEGMENT_COLOURS, sankey_layout
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    DECEASED,
    FIGURE_ORDER,
    FUNNEL_STAGES,
    INELIGIBILITY,
    LEVEL_ORDER,
    MIN_CARD_CIBIL,
    NO_CARD_LEFT,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
)
from fs_assets.transforms.marts.page_data import page_data
from fs_assets.transforms.marts.report import DASHBOARD_ORDER
from fs_assets.transforms.marts.uplift import build_uplift, uplift_charts

CHARTS_OF = {
    "campaign_funnel": funnel_charts,
    "campaign_uplift": uplift_charts,
    "lead_generation": lead_charts,
    "spend_analysis": spend_charts,
}


@pytest.fixture
def wh(built: DataPaths) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(built.warehouse))
    yield conn
    conn.close()


def scalar(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    return conn.execute(sql, params or []).fetchall()[0][0]


def test_every_customer_has_exactly_one_archetype(wh: duckdb.DuckDBPyConnection) -> None:
    customers = scalar(wh, "select count(*) from mastered.customer")
    assert scalar(wh, "select count(distinct cust_id) from marts.cross_sell") == customers
    assert scalar(wh, "select count(*) from marts.cross_sell") == customers
    found = dict(
        wh.execute("select archetype, count(*) from marts.cross_sell group by 1").fetchall()
    )
    # All six archetypes occur in 1,500 generated customers, and nothing else does.
    assert set(found) == set(ARCHETYPE_NAMES)
    assert archetype_problems(wh) == {}


def test_archetype_proof_catches_a_wrong_row(wh: duckdb.DuckDBPyConnection) -> None:
    wh.execute(
        "update marts.cross_sell set archetype = 'Generic' where cust_id = "
        "(select min(cust_id) from marts.cross_sell where archetype = 'Deal Chasers')"
    )
    wh.execute(
        "delete from marts.cross_sell where cust_id = (select max(cust_id) from marts.cross_sell)"
    )
    assert archetype_problems(wh) == {"customers_without_row": 1, "wrong_archetype": 1}


def test_recommendations_respect_eligibility(wh: duckdb.DuckDBPyConnection) -> None:
    assert eligibility_problems(wh) == {}
    rows = wh.execute(
        """select f.customer_status, f.customer_type, f.minor_flag, f.risk_category,
                  f.cibil_score, x.recommended_product_id, x.ineligible_reason,
                  x.recommendation_reason
           from marts.cross_sell x join marts.customer_features f using (cust_id)"""
    ).fetchall()
    seen = set()
    for status, ctype, minor, risk, cibil, card, why_not, reason in rows:
        assert reason, "every row says why"
        if status == "Deceased":
            expected = "customer is deceased"
        elif ctype != "Personal":
            expected = f"{ctype} customer: the catalog's cards are personal cards"
        elif minor == "Yes":
            expected = "minor: under 18"
        elif risk == "High":
            expected = "risk category High"
        elif cibil < MIN_CARD_CIBIL:
            expected = f"CIBIL {cibil} below the lowest card minimum {MIN_CARD_CIBIL}"
        else:
            expected = None
        assert why_not == expected
        if expected:
            assert card is None and reason == expected
            seen.add(expected.split(" ")[0])
        elif card is None:
            assert reason == NO_CARD_LEFT
        else:
            assert f"CIBIL {cibil} meets the" in reason
    # Each ineligibility rule is exercised by the data set.
    assert len(seen) >= len(INELIGIBILITY) - 1


def test_eligibility_proof_catches_a_card_for_a_deceased_customer(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    wh.execute(
        """update marts.cross_sell set recommended_product_id = 'PRD0000010'
           where cust_id = (select min(cust_id) from marts.customer_features
                            where customer_status = 'Deceased')"""
    )
    problems = eligibility_problems(wh)
    assert problems["ineligible_with_card"] == 1


def test_card_choice_follows_the_written_rules(wh: duckdb.DuckDBPyConnection) -> None:
    """Hand-set features for two customers and read the card and reason the rules give."""
    ids = [
        r[0]
        for r in wh.execute(
            "select cust_id from marts.customer_features order by cust_id limit 2"
        ).fetchall()
    ]
    common = (
        "customer_status = 'Active', customer_type = 'Personal', minor_flag = 'No', "
        "risk_category = 'Low', failed_share = 0, all_txns = 20, spend_txns = 20, "
        "share_card = 0.5, deal_share = 0.05, held_cards = []::varchar[], "
        "dominant_category = 'Travel', dominant_share = 0.6"
    )
    wh.execute(
        f"update marts.customer_features set {common}, affluence_level = 'High', "
        "cibil_score = 820 where cust_id = ?",
        [ids[0]],
    )
    wh.execute(
        f"update marts.customer_features set {common}, affluence_level = 'Low', "
        "cibil_score = 720 where cust_id = ?",
        [ids[1]],
    )
    build_cross_sell(wh)
    got = {
        r[0]: r[1:]
        for r in wh.execute(
            "select cust_id, archetype, recommended_card, recommendation_reason "
            "from marts.cross_sell where cust_id in (?, ?)",
            ids,
        ).fetchall()
    }
    archetype, card, reason = got[ids[0]]
    assert archetype == "Prosperous and Content"
    assert card == "Signature Travel"  # travel miles, highest tier open to CIBIL 820
    assert reason.startswith("Signature Travel (Signature, Travel Miles): Travel is 60% of spend")
    archetype, card, reason = got[ids[1]]
    assert archetype == "Generic"
    # Low affluence caps the tier at Classic: no travel card there, so the best other one.
    assert card == "Fuel Saver"
    assert "no Travel Miles card open to them" in reason and "Classic cap" in reason


def test_marts_reconcile_with_mastered(wh: duckdb.DuckDBPyConnection) -> None:
    assert lead_problems(wh) == {} and spend_problems(wh) == {} and funnel_problems(wh) == {}
    spend = scalar(
        wh,
        "select sum(amount_reporting) from mastered.transaction "
        "where transaction_status = 'Success' and transaction_type = 'Debit'",
    )
    assert (
        scalar(wh, "select sum(spend) from marts.spend_analysis where figure = 'monthly'") == spend
    )
    assert scalar(wh, "select sum(spend) from marts.spend_analysis where figure = 'flow'") == spend
    assert (
        scalar(
            wh, "select max(cumulative_spend) from marts.spend_analysis where figure = 'monthly'"
        )
        == spend
    )
    by_mode = dict(
        wh.execute(
            "select transaction_mode, count(*) from mastered.transaction group by 1"
        ).fetchall()
    )
    lead_mode = dict(
        wh.execute(
            "select member, sum(transactions) from marts.lead_generation "
            "where figure = 'mode_by_month' group by 1"
        ).fetchall()
    )
    assert lead_mode == by_mode
    by_reason = dict(
        wh.execute(
            "select transaction_reason, count(*) from mastered.transaction group by 1"
        ).fetchall()
    )
    lead_reason = dict(
        wh.execute(
            "select member, transactions from marts.lead_generation where figure = 'reason'"
        ).fetchall()
    )
    assert lead_reason == by_reason
    segments = dict(
        wh.execute(
            "select segment, customers from marts.spend_analysis where figure = 'segment'"
        ).fetchall()
    )
    assert set(segments) <= set(SPEND_SEGMENTS)
    assert sum(segments.values()) == scalar(wh, "select count(*) from mastered.customer")
    stages = wh.execute(
        "select stage from marts.campaign_funnel where archetype = ? order by stage_order",
        [ARCHETYPE_NAMES[0]],
    ).fetchall()
    assert tuple(s for (s,) in stages) == FUNNEL_STAGES


def test_reconciliation_proof_catches_a_lost_month(wh: duckdb.DuckDBPyConnection) -> None:
    wh.execute(
        "delete from marts.spend_analysis where figure = 'monthly' and month = "
        "(select min(month) from marts.spend_analysis where figure = 'monthly')"
    )
    assert "monthly_total_differs" in spend_problems(wh)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_chart_file_is_valid_and_shows_the_mart(built: DataPaths, wh) -> None:
    reports = built.reports
    index = (reports / "index.html").read_text(encoding="utf-8")
    for slug in DASHBOARD_ORDER:
        charts = CHARTS_OF[slug](wh)
        assert charts
        assert dashboard_problems(wh, reports, slug, CHARTS_OF[slug]) == []
        page = reports / f"{slug}.html"
        text = page.read_text(encoding="utf-8")
        # Self-contained: the Vega libraries are inline, nothing is loaded from elsewhere.
        assert "<script src" not in text and "vegaEmbed" in text
        assert f'href="{page.name}"' in index
        specs = page_specs(page)
        for chart, shown in zip(charts, specs, strict=True):
            png = reports / "png" / f"{chart.name}.png"
            width, height = _png_size(png.read_bytes())
            assert width > 200 and height > 100
            assert f'src="png/{chart.name}.png"' in index
            assert chart_data(shown["spec"]) == json.loads(json.dumps(list(chart.rows)))


def test_numbers_drawn_equal_the_mart(wh: duckdb.DuckDBPyConnection) -> None:
    """Render a chart's scene graph and read its labels back: they are the mart's numbers."""
    chart = next(c for c in lead_charts(wh) if c.name == "transactions_by_reason")
    texts = set(_texts(vlc.vegalite_to_scenegraph(chart.spec)))
    mart = wh.execute(
        "select member, transactions from marts.lead_generation where figure = 'reason'"
    ).fetchall()
    assert mart
    for member, n in mart:
        assert f"{n:,}" in texts and member in texts
    stats = next(c for c in funnel_charts(wh) if c.name == "campaign_stats")
    texts = set(_texts(vlc.vegalite_to_scenegraph(stats.spec)))
    for (n,) in wh.execute("select customers from marts.campaign_funnel").fetchall():
        assert f"{n:,}" in texts


def _texts(node) -> list[str]:
    """Every text item of a rendered scene graph."""
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in _texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _texts(v)]
    return []


def test_dashboard_materialization_carries_the_charts(built: DataPaths) -> None:
    import dagster as dg

    instance = dg.DagsterInstance.get()
    event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "spend_analysis"]))
    assert event is not None
    metadata = event.asset_materialization.metadata
    charts = [k for k in metadata if k.startswith("chart/")]
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        names = {c.name for c in spend_charts(conn)}
    assert {k.removeprefix("chart/") for k in charts} == names
    assert all("data:image/png;base64," in metadata[k].value for k in charts)
    assert Path(metadata["dashboard"].value).name == "spend_analysis.html"


def test_spend_figures_are_sums_of_reporting_currency_amounts_and_name_it(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """Every spend figure of the dashboards' data is a sum of amount_reporting (never of
    amounts in mixed currencies), and its title, tile and table name the currency."""
    from fs_assets.defs.marts import _spend_kpis

    spend_where = "where transaction_status = 'Success' and transaction_type = 'Debit'"
    truth, mixed, currencies = wh.execute(
        f"select sum(amount_reporting), sum(amount), count(distinct currency) "
        f"from mastered.transaction {spend_where}"
    ).fetchone()
    assert currencies > 1 and truth != mixed  # the sample has foreign-currency accounts
    charts = {c.name: c for c in spend_charts(wh)}
    monthly = charts["cumulative_spend"].rows
    assert sum(r["spend"] for r in monthly) == pytest.approx(float(truth), abs=0.005)
    assert max(r["cumulative_spend"] for r in monthly) == pytest.approx(float(truth), abs=0.005)
    for name in ("spend_by_category", "spend_flow_sankey", "spend_treemap"):
        assert sum(r["spend"] for r in charts[name].rows) == pytest.approx(float(truth), abs=0.01)
    per_reason = dict(
        wh.execute(
            f"select transaction_reason, sum(amount_reporting) from mastered.transaction "
            f"{spend_where} group by 1"
        ).fetchall()
    )
    drawn: dict[str, float] = {}
    for r in charts["spend_by_category"].rows:
        drawn[r["category"]] = drawn.get(r["category"], 0.0) + r["spend"]
    assert drawn == pytest.approx({k: float(v) for k, v in per_reason.items()}, abs=0.01)
    # The currency is named: in every row of the data (the chart's table), the titles, tile.
    unit = DEFAULT_REPORTING_CURRENCY
    for chart in charts.values():
        assert {r["currency"] for r in chart.rows} == {unit}, chart.name
        if "spend" in chart.name and chart.name != "customers_by_spend_segment":
            assert unit in chart.description or unit in json.dumps(chart.spec), chart.name
    assert (
        charts["cumulative_spend"]
        .spec["title"]
        .startswith(f"Cumulative spend (total {float(truth):,.0f}, {unit})")
    )
    assert _spend_kpis(wh)[f"Spend ({unit})"] == f"{float(truth):,.2f}"


def test_a_dashboard_number_traces_back_to_the_landing_column(built: DataPaths) -> None:
    """Lineage from source file to dashboard column: spend -> amount_reporting -> the CSV's
    'Amount' and the fx rate it was converted with."""
    import argparse
    import io

    from fs_assets.app.lineage_cli import add_lineage_commands

    parser = argparse.ArgumentParser()
    add_lineage_commands(parser.add_subparsers())
    args = parser.parse_args(["lineage", "marts.spend_analysis.spend"])
    out = io.StringIO()
    assert args.func(args, out=out) == 0, out.getvalue()
    upstream = out.getvalue().split("downstream (what consumes it):")[0]
    assert "mastered.transaction.amount_reporting" in upstream
    assert "raw.transaction.amount" in upstream
    assert "mastered.fx_rate.rate" in upstream
    assert 'column "Amount"' in upstream and "/transaction/" in upstream
    # How each input is used: amount is summed, status and type only filter.
    lines = upstream.splitlines()
    amount = next(ln for ln in lines if "mastered.transaction.amount_reporting" in ln)
    status = next(ln for ln in lines if "mastered.transaction.transaction_status" in ln)
    assert "DIRECT/AGGREGATION" in amount
    assert "INDIRECT/FILTER" in status


def test_marts_and_charts_survive_a_warehouse_without_transactions(
    wh: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Day one of a new bank: customers but no payments yet. Nothing breaks, all adds up."""
    from fs_assets.transforms.marts.dashboards import (
        build_funnel,
        build_lead_generation,
        build_spend_analysis,
    )
    from fs_assets.transforms.marts.features import build_features
    from fs_assets.transforms.marts.report import write_dashboard

    wh.execute("delete from mastered.transaction")
    customers = scalar(wh, "select count(*) from mastered.customer")
    assert build_features(wh) == customers and build_cross_sell(wh) == customers
    # Every mart a page reads: the uplift page's cubes are compared with its mart too.
    for build in (build_funnel, build_lead_generation, build_spend_analysis, build_uplift):
        assert build(wh) > 0
    assert scalar(wh, "select sum(total_spend) from marts.customer_features") == 0
    for slug, charts_of in CHARTS_OF.items():
        # With the filters' cubes: the page check sums them against the mart too.
        page = page_data(wh, slug, with_customers=False)
        write_dashboard(tmp_path, slug, slug, "", {}, charts_of(wh), page)
        assert dashboard_problems(wh, tmp_path, slug, charts_of) == []
    assert archetype_problems(wh) == {} and eligibility_problems(wh) == {}
    assert spend_problems(wh) == {} and lead_problems(wh) == {}


def _rebuild_people(wh: duckdb.DuckDBPyConnection) -> None:
    """The features (over the identity links and golden records) and the cross-sell
    rebuilt, as the marts' assets build them."""
    from fs_assets.identity.source_entity import core_source
    from fs_assets.identity.tables import CUSTOMER_IDENTITY, GOLDEN_CUSTOMER
    from fs_assets.transforms.marts.features import IdentityLink, build_features

    build_features(wh, IdentityLink(CUSTOMER_IDENTITY, core_source(), GOLDEN_CUSTOMER))
    build_cross_sell(wh)


def _sales_lead_list(wh: duckdb.DuckDBPyConnection) -> tuple[MaskingKey, str]:
    """The masking key (applied to `wh`) and the sales role's lead list select, with the
    columns and row filter of its governed customer view."""
    from fs_assets.defs.governed import governed_view
    from fs_assets.model.entities import CUSTOMER
    from fs_assets.transforms.governance.lead_list import lead_list_sql
    from fs_assets.transforms.governance.masking_key import key_from_env
    from fs_assets.transforms.governance.policies import SALES, load_policies

    key = key_from_env()
    key.apply(wh)
    view = governed_view(CUSTOMER, SALES, load_policies())
    return key, lead_list_sql({c.name: c.sql for c in view.columns}, view.row_filter)


def _link_two_core_records(wh: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """Two core customers with a card recommended, an open account of one product and
    different states and archetypes made one person (golden id G0000000007), the second
    the newer record (its person_record); the features and cross-sell rebuilt."""
    from fs_assets.identity.source_entity import core_source

    first, second = wh.execute(
        """with held as (
             select distinct a.cust_id::varchar as cust_id, a.product_id
             from mastered.account a join marts.cross_sell x on x.cust_id = a.cust_id
             where a.account_status <> 'Closed' and x.recommended_product_id is not null)
           select a.cust_id, b.cust_id from held a join held b
             on a.product_id = b.product_id and a.cust_id < b.cust_id
           join marts.cross_sell xa on xa.cust_id = a.cust_id
           join marts.cross_sell xb on xb.cust_id = b.cust_id
           where xa.state <> xb.state and xa.archetype <> xb.archetype
           order by 1, 2 limit 1"""
    ).fetchone()
    wh.execute(
        "insert into mastered.customer_identity values ($s, $a, $s || ':' || $a, 'G0000000007'), "
        "($s, $b, $s || ':' || $b, 'G0000000007')",
        {"s": core_source(), "a": first, "b": second},
    )
    wh.execute(
        "update mastered.customer set modified_at = (select max(modified_at) from "
        "mastered.customer) + interval 1 day where cust_id = ?",
        [second],
    )
    _rebuild_people(wh)
    return first, second


def test_a_person_with_two_core_records_counts_once(wh: duckdb.DuckDBPyConnection) -> None:
    """Identity resolution found two core customers to be one person: the features carry
    the golden id, and the lead mart counts the person once in its total, in every
    breakdown (through the newer record) and per product held; the page's filter cubes,
    summed with no filter, give the same figures."""
    from fs_assets.transforms.marts.dashboards import build_lead_generation
    from fs_assets.transforms.marts.page_data import unfiltered_problems

    customers = scalar(wh, "select count(*) from mastered.customer")
    first, second = _link_two_core_records(wh)
    assert wh.execute(
        "select cust_id::varchar, golden_id, person_record from marts.customer_features "
        "where golden_id is not null order by 1"
    ).fetchall() == [(first, "G0000000007", False), (second, "G0000000007", True)]
    state, archetype, product = wh.execute(
        "select x.state || ', ' || x.country, x.archetype, p.product_name from marts.cross_sell x "
        "join mastered.account a using (cust_id) join mastered.product p using (product_id) "
        "where x.cust_id = ? and a.account_status <> 'Closed' and p.product_id in (select "
        "product_id from mastered.account where cust_id = ? and account_status <> 'Closed') "
        "limit 1",
        [second, first],
    ).fetchone()
    build_lead_generation(wh)

    def figure(name: str) -> dict[str, int]:
        return dict(wh.execute(
            "select member, customers from marts.lead_generation where figure = ?", [name]
        ).fetchall())  # fmt: skip

    assert figure("total_customers") == {"All customers": customers - 1}
    for name in ("archetype", "risk_category", "affluence_level", "segment", "state"):
        assert sum(figure(name).values()) == customers - 1, name
    holders = scalar(
        wh,
        "select count(distinct a.cust_id) from mastered.account a join mastered.product p "
        "using (product_id) where p.product_name = ? and a.account_status <> 'Closed'",
        [product],
    )
    assert figure("product_sales")[product] == holders - 1
    # The person counts where the newer record puts them: its state and archetype.
    assert scalar(wh, "select person_record from marts.cross_sell where state || ', ' || "
                  "country = ? and archetype = ? and cust_id = ?",
                  [state, archetype, second])  # fmt: skip
    assert lead_problems(wh) == {}
    page = page_data(wh, "lead_generation", with_customers=False)
    for chart in lead_charts(wh):
        if chart.binding is not None:
            assert unfiltered_problems(page, chart.binding, chart.rows) == [], chart.name
    wh.execute("update marts.lead_generation set customers = customers + 1 "
               "where figure = 'total_customers'")  # fmt: skip
    assert lead_problems(wh) == {"customer_total_differs": 1}
    wh.execute("update marts.lead_generation set customers = customers + 1 "
               "where figure = 'state' and member = ?", [state])  # fmt: skip
    assert lead_problems(wh)["breakdowns_not_summing_to_total"] == 1
    wh.execute("update marts.lead_generation set customers = customers + 1 "
               "where figure = 'product_sales' and member = ?", [product])  # fmt: skip
    assert lead_problems(wh)["product_holders_differ"] == 1


def test_a_person_with_two_core_records_has_the_persons_features(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """The person's two core records carry the person's features: spend and transactions
    summed over both, the cards of both, the newer record's attributes, so both get one
    archetype and one card; a card the older record holds is not offered through the
    newer one, and the eligibility check recounts the holdings from mastered.account."""
    from fs_assets.transforms.marts.features import spend_predicate
    from fs_assets.transforms.marts.model import SPEND_WINDOW_DAYS

    first, second = _link_two_core_records(wh)
    spend, params = spend_predicate()
    truth = scalar(
        wh,
        f"""select sum(amount_reporting::double) from mastered.transaction
            where cust_id in (?, ?) and {spend} and transaction_ts > (select
              max(transaction_ts) from mastered.transaction) - to_days(?::integer)""",
        [first, second, *params, SPEND_WINDOW_DAYS],
    )
    rows = wh.execute(
        "select distinct f.total_spend, f.all_txns, f.held_cards, f.cibil_score, "
        "f.risk_category, "
        "x.archetype, x.recommended_product_id from marts.customer_features f "
        "join marts.cross_sell x using (cust_id) where cust_id in (?, ?)",
        [first, second],
    ).fetchall()
    assert len(rows) == 1 and rows[0][0] == pytest.approx(truth), rows
    newest = wh.execute("select cibil_score, customer_risk_category from mastered.customer "
                        "where cust_id = ?", [second]).fetchone()  # fmt: skip
    assert rows[0][3:5] == newest
    card = rows[0][6]
    assert card is not None
    # The older record opens the card the person is offered: the person holds it now.
    wh.execute(
        "insert into mastered.account by name select '999999999999' as account_id, "
        "? as cust_id, ? as product_id, 'Active' as account_status, date '2024-01-01' "
        "as open_date, currency from mastered.account limit 1",
        [first, card],
    )
    _rebuild_people(wh)
    offered = wh.execute(
        "select distinct f.held_cards, x.recommended_product_id from marts.customer_features f "
        "join marts.cross_sell x using (cust_id) where cust_id in (?, ?)",
        [first, second],
    ).fetchall()
    assert len(offered) == 1 and card in offered[0][0] and offered[0][1] != card, offered
    assert eligibility_problems(wh) == {}
    # Offering it through the newer record fails the check, even when that record's
    # features forget the card (the holdings are recounted per person from mastered).
    wh.execute("update marts.cross_sell set recommended_product_id = ? where cust_id = ?",
               [card, second])  # fmt: skip
    wh.execute("update marts.customer_features set held_cards = [] where cust_id = ?", [second])
    assert eligibility_problems(wh) == {"held_by_the_person": 1}


def _page_agrees(wh: duckdb.DuckDBPyConnection, slug: str) -> None:
    """The page's cubes, summed with no filter, give each bound chart the mart's rows."""
    from fs_assets.transforms.marts.page_data import unfiltered_problems

    page = page_data(wh, slug, with_customers=False)
    for chart in CHARTS_OF[slug](wh):
        if chart.binding is not None:
            assert unfiltered_problems(page, chart.binding, chart.rows) == [], chart.name


def test_a_person_with_two_core_records_spends_once(wh: duckdb.DuckDBPyConnection) -> None:
    """Two core records of one person: the spend mart puts the person once in the segment
    of their spend summed over both records (each transaction once), in the flows once;
    the spend page's cubes give the same figures and the check recomputes them per person."""
    from fs_assets.transforms.marts.dashboards import build_spend_analysis
    from fs_assets.transforms.marts.features import spend_predicate

    customers = scalar(wh, "select count(*) from mastered.customer")
    first, second = _link_two_core_records(wh)
    spend, params = spend_predicate()
    # Each record's spend moved into Medium: together the person is High, apart two Medium.
    low, high = SPEND_SEGMENT_BOUNDS
    for cust, target in ((first, low + 500), (second, low + 1_000)):
        wh.execute(
            f"update mastered.transaction set amount_reporting = ? / (select count(*) "
            f"from mastered.transaction where cust_id = ? and {spend}) "
            f"where cust_id = ? and {spend}",
            [target, cust, *params, cust, *params],
        )
    paid = wh.execute(
        f"select cust_id::varchar, sum(amount_reporting) from mastered.transaction "
        f"where cust_id in (?, ?) and {spend} group by 1",
        [first, second, *params],
    ).fetchall()
    assert len(paid) == 2 and all(low <= a < high for _, a in paid), paid
    assert sum(a for _, a in paid) >= high
    build_spend_analysis(wh)

    def segment(name: str) -> dict[str, int]:
        return dict(wh.execute(
            f"select segment, {name} from marts.spend_analysis where figure = 'segment'"
        ).fetchall())  # fmt: skip

    assert sum(segment("customers").values()) == customers - 1
    truth = scalar(
        wh, f"select sum(amount_reporting) from mastered.transaction where {spend}", params
    )
    assert sum(segment("spend").values()) == truth
    # Per record the two would be Medium customers; as one person they are one High.
    persons = wh.execute(
        f"""select f.person_id, sum(t.amount_reporting) as s
            from mastered.transaction t join marts.customer_features f using (cust_id)
            where {spend} group by 1""",
        params,
    ).fetchall()
    per_person = {SPEND_SEGMENTS[0]: 0, SPEND_SEGMENTS[1]: 0, SPEND_SEGMENTS[2]: 0}
    for _, amount in persons:
        per_person[SPEND_SEGMENTS[(amount >= low) + (amount >= high)]] += 1
    zero = customers - 1 - len(persons)  # people without spend are Low
    per_person[SPEND_SEGMENTS[0]] += zero
    assert segment("customers") == per_person
    assert "G0000000007" in {p for p, a in persons if a >= high}
    flow_people = scalar(
        wh,
        "select sum(customers) from marts.spend_analysis where figure = 'flow' "
        "and segment = ? and category = (select transaction_reason from mastered.transaction "
        f"where cust_id = ? and {spend} limit 1)",
        [SPEND_SEGMENTS[2], first, *params],
    )
    assert flow_people >= 1
    assert spend_problems(wh) == {}
    _page_agrees(wh, "spend_analysis")
    # A segment counting the two records apart fails the check.
    wh.execute("update marts.spend_analysis set customers = customers + 1 "
               "where figure = 'segment' and segment = ?", [SPEND_SEGMENTS[1]])  # fmt: skip
    assert spend_problems(wh) == {"segment_totals_differ": 1, "segment_people_differ": 1}


def test_campaign_marts_count_a_person_once_on_built_data(wh: duckdb.DuckDBPyConnection) -> None:
    """The linked person's two records both contacted by one campaign, one applying: the
    funnel and uplift count them once, as their checks and pages do (the hand-made case is
    tests/test_campaigns.py::test_a_person_reached_through_two_core_records_is_one_contact)."""
    from asset_checks.mart_verify import uplift_problems
    from fs_assets.transforms.marts.dashboards import build_funnel, build_lead_generation

    first, second = _link_two_core_records(wh)
    campaign = scalar(wh, "select min(campaign_id) from mastered.campaign")
    wh.execute("delete from mastered.campaign_event where cust_id in (?, ?)", [first, second])
    wh.execute(
        "insert into mastered.campaign_event (event_id, campaign_id, cust_id, event_type, "
        "event_ts) values ('t1', $k, $a, 'contacted', timestamp '2024-01-02'), "
        "('t2', $k, $b, 'contacted', timestamp '2024-01-03'), "
        "('t3', $k, $b, 'responded', timestamp '2024-01-04'), "
        "('t4', $k, $a, 'applied', timestamp '2024-01-05')",
        {"k": campaign, "a": first, "b": second},
    )
    build_cross_sell(wh)
    build_funnel(wh)
    build_uplift(wh)
    contacted = scalar(
        wh,
        "select count(distinct coalesce(x.golden_id, x.cust_id)) from mastered.campaign_event e "
        "join marts.cross_sell x using (cust_id) where e.event_type = 'contacted'",
    )
    assert scalar(wh, "select sum(customers) from marts.campaign_funnel where stage_order = 1") == (
        contacted
    )
    assert funnel_problems(wh) == {} and uplift_problems(wh) == {}
    for slug in ("campaign_funnel", "campaign_uplift"):
        _page_agrees(wh, slug)
    # Onboarded through the older record, after an onboarding of the newer one by another
    # campaign: one campaign sale, at the card of the latest onboarding.
    other = scalar(wh, "select min(campaign_id) from mastered.campaign where product_id <> "
                   "(select product_id from mastered.campaign where campaign_id = ?)",
                   [campaign])  # fmt: skip
    wh.execute(
        "insert into mastered.campaign_event (event_id, campaign_id, cust_id, event_type, "
        "event_ts) values ('t5', $o, $b, 'onboarded', timestamp '2024-01-06'), "
        "('t6', $k, $a, 'onboarded', timestamp '2024-01-07')",
        {"k": campaign, "o": other, "a": first, "b": second},
    )
    sales = dict(wh.execute(
        "select member, customers from marts.lead_generation where figure = 'campaign_onboarded'"
    ).fetchall())  # fmt: skip
    build_cross_sell(wh)
    build_lead_generation(wh)
    name = (
        "select p.product_name from mastered.campaign c join mastered.product p "
        "using (product_id) where c.campaign_id = ?"
    )
    card, other_card = (scalar(wh, name, [k]) for k in (campaign, other))
    now = dict(wh.execute(
        "select member, customers from marts.lead_generation where figure = 'campaign_onboarded'"
    ).fetchall())  # fmt: skip
    assert now.get(card, 0) == sales.get(card, 0) + 1
    assert now.get(other_card, 0) == sales.get(other_card, 0)
    assert lead_problems(wh) == {}
    _page_agrees(wh, "lead_generation")
    wh.execute("update marts.lead_generation set customers = customers + 1 "
               "where figure = 'campaign_onboarded' and member = ?", [other_card])  # fmt: skip
    assert lead_problems(wh) == {"onboarded_people_differ": 1}


def test_a_person_counts_in_the_state_of_their_golden_record(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """The linked person's golden record lives in the older record's state (survivorship
    kept it, e.g. the newer record's state was invalid): the lead mart's state figure and
    the pages' cells put the person there, once; the other breakdowns stay the person
    record's; the lead check recounts the states from the golden record."""
    from fs_assets.identity.tables import GOLDEN_CUSTOMER
    from fs_assets.transforms.governance.masking_key import key_from_env
    from fs_assets.transforms.marts.dashboards import build_lead_generation
    from fs_assets.transforms.marts.page_data import customer_table

    customers = scalar(wh, "select count(*) from mastered.customer")
    first, second = _link_two_core_records(wh)
    old_state, old_country = wh.execute(
        "select state, country from mastered.customer where cust_id = ?", [first]
    ).fetchone()
    new_state = scalar(wh, "select state from mastered.customer where cust_id = ?", [second])
    assert old_state != new_state
    wh.execute(
        f"insert into {GOLDEN_CUSTOMER} (golden_id, state, country) values ('G0000000007', ?, ?)",
        [old_state, old_country],
    )
    _rebuild_people(wh)
    assert wh.execute(
        "select distinct person_state, person_country from marts.cross_sell "
        "where golden_id = 'G0000000007'"
    ).fetchall() == [(old_state, old_country)]
    build_lead_generation(wh)
    states = dict(wh.execute(
        "select member, customers from marts.lead_generation where figure = 'state'"
    ).fetchall())  # fmt: skip
    per_record = dict(wh.execute(
        "select state || ', ' || country, count(*) from mastered.customer group by 1"
    ).fetchall())  # fmt: skip
    old_member = f"{old_state}, {old_country}"
    new_member = next(m for m in per_record if m.startswith(f"{new_state}, "))
    assert states[old_member] == per_record[old_member]  # the person, through the golden record
    assert states.get(new_member, 0) == per_record[new_member] - 1  # not the newer record
    assert sum(states.values()) == customers - 1
    assert lead_problems(wh) == {}
    _page_agrees(wh, "lead_generation")
    cells = page_data(wh, "lead_generation", with_customers=False).cells.table.to_pylist()
    person_cell = wh.execute(
        "select archetype, segment from marts.cross_sell where cust_id = ?", [second]
    ).fetchone()
    assert any(
        (c["archetype"], c["segment"], c["state"]) == (*person_cell, old_member) for c in cells
    )
    # The customer list shows both records in that cell, as the analyst reads them.
    key = key_from_env()
    key.apply(wh)
    listed = customer_table(wh, per_cell=customers)
    cols = list(listed.columns)
    where = {
        r[cols.index("cust_id")]: (r[cols.index("archetype")], r[cols.index("segment")],
                                   r[cols.index("state")])
        for r in listed.rows
    }  # fmt: skip
    assert where[key.token(first)] == where[key.token(second)] == (*person_cell, old_member)
    # One person moved to another state (the sum kept) fails the recount.
    wh.execute("update marts.lead_generation set customers = customers + 1 "
               "where figure = 'state' and member = ?", [old_member])  # fmt: skip
    wh.execute("update marts.lead_generation set customers = customers - 1 "
               "where figure = 'state' and member = ?", [new_member])  # fmt: skip
    assert lead_problems(wh) == {"state_people_differ": 2}


def test_the_lead_list_holds_a_person_once_and_honours_their_do_not_contact(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """One person, two core records: the newer gives consent, the older asks not to be
    contacted. The sales lead list holds the person once, through the newer record, and
    without contact details: the request in the other record binds them."""
    first, second = _link_two_core_records(wh)
    wh.execute("update mastered.customer set marketing_consent = 'Yes', do_not_contact = 'No' "
               "where cust_id = ?", [second])  # fmt: skip
    wh.execute("update mastered.customer set do_not_contact = 'Yes' where cust_id = ?", [first])
    key, sql = _sales_lead_list(wh)
    tokens = {key.token(first): first, key.token(second): second}
    leads = wh.execute(
        f"select cust_id, email_addr, mobile_number1, marketing_consent, do_not_contact "
        f"from ({sql}) where cust_id in (select unnest(?::varchar[]))",
        [list(tokens)],
    ).fetchall()
    assert [(tokens[r[0]], *r[1:]) for r in leads] == [(second, None, None, "Yes", "Yes")]
    # Without the request the same person is contactable through that record.
    wh.execute("update mastered.customer set do_not_contact = 'No' where cust_id = ?", [first])
    (lead,) = wh.execute(f"select cust_id, email_addr, do_not_contact from ({sql}) "
                         "where cust_id = ?", [key.token(second)]).fetchall()  # fmt: skip
    assert lead[1] is not None and lead[2] == "No"
    people = scalar(wh, "select count(*) from marts.cross_sell "
                    "where person_record and recommended_product_id is not null")  # fmt: skip
    assert scalar(wh, f"select count(*) from ({sql})") == people


def test_the_lead_list_offers_a_person_no_card_they_hold_on_any_record(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """The person's older record holds the card their newer record (the person record)
    would be offered: the sales lead list still holds the person once, through the newer
    record, with another card, the person's, and with the contact details the newer
    record consents to (masked for the role)."""
    first, second = _link_two_core_records(wh)
    card = scalar(wh, "select recommended_product_id from marts.cross_sell where cust_id = ?",
                  [second])  # fmt: skip
    wh.execute(
        "insert into mastered.account by name select '999999999999' as account_id, "
        "? as cust_id, ? as product_id, 'Dormant' as account_status, date '2024-01-01' "
        "as open_date, currency from mastered.account limit 1",
        [first, card],
    )
    wh.execute("update mastered.customer set marketing_consent = 'Yes', do_not_contact = 'No' "
               "where cust_id in (?, ?)", [first, second])  # fmt: skip
    _rebuild_people(wh)
    key, sql = _sales_lead_list(wh)
    tokens = {key.token(first): first, key.token(second): second}
    leads = wh.execute(
        f"select l.cust_id, l.recommended_card, p.product_id, l.email_addr "
        f"from ({sql}) l join mastered.product p on p.product_name = l.recommended_card "
        f"where l.cust_id in (select unnest(?::varchar[]))",
        [list(tokens)],
    ).fetchall()
    assert len(leads) == 1 and tokens[leads[0][0]] == second, leads
    assert leads[0][2] != card
    email = scalar(wh, "select email_addr from mastered.customer where cust_id = ?", [second])
    assert leads[0][3] == key.token(email)  # masked (HMAC) for the sales role, not clear
    # Every person with a card is listed once, with a card none of their records holds.
    people = scalar(wh, "select count(distinct person_id) from marts.cross_sell "
                    "where recommended_product_id is not null")  # fmt: skip
    assert scalar(wh, f"select count(*) from ({sql})") == people
    assert eligibility_problems(wh) == {}


def test_a_death_recorded_on_any_record_of_a_person_binds_the_person(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """The person's older record says Deceased, their newer record (the person record)
    Active: the person is deceased on both rows, offered no card and not on the lead list.
    Deciding on the person record alone (its Active status) offers a card, which the
    eligibility check's recount from mastered.customer catches."""
    first, second = _link_two_core_records(wh)
    wh.execute("update mastered.customer set customer_status = ? where cust_id = ?",
               [DECEASED, first])  # fmt: skip
    assert scalar(wh, "select customer_status from mastered.customer where cust_id = ?",
                  [second]) != DECEASED  # fmt: skip
    _rebuild_people(wh)
    rows = wh.execute(
        "select cust_id, eligible, recommended_product_id, ineligible_reason "
        "from marts.cross_sell where cust_id in (?, ?) order by cust_id",
        [first, second],
    ).fetchall()
    assert rows == [(c, False, None, "customer is deceased") for c in (first, second)]
    key, sql = _sales_lead_list(wh)
    listed = f"select count(*) from ({sql}) where cust_id in (?, ?)"
    assert scalar(wh, listed, [key.token(first), key.token(second)]) == 0
    assert eligibility_problems(wh) == {}
    # The person record's own status (the rule before) offers the person a card.
    wh.execute("update marts.customer_features set customer_status = 'Active' "
               "where golden_id = 'G0000000007'")  # fmt: skip
    build_cross_sell(wh)
    assert scalar(wh, listed, [key.token(first), key.token(second)]) == 1
    assert eligibility_problems(wh) == {"deceased_on_a_record": 2}


def test_the_lead_list_shows_the_stage_a_person_reached_on_any_record(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """The person's older record was contacted and applied, their newer record (the person
    record, through which the lead list holds them) never reached: the lead list shows the
    person at Applied, as the funnel counts them; cross-sell keeps each record's own stage
    and gives both rows the person's."""
    first, second = _link_two_core_records(wh)
    wh.execute("delete from mastered.campaign_event where cust_id in (?, ?)", [first, second])
    wh.execute(
        "insert into mastered.campaign_event by name select "
        "e.* exclude (event_id, cust_id, event_type, event_ts), "
        "'9999999999990' || i::varchar as event_id, ? as cust_id, t as event_type, "
        "timestamp '2024-03-01' + to_days(i) as event_ts "
        "from (select * from mastered.campaign_event limit 1) e, "
        "(values (1, 'contacted'), (2, 'responded'), (3, 'applied')) v(i, t)",
        [first],
    )
    build_cross_sell(wh)
    stages = wh.execute(
        "select cust_id, campaign_stage_name, person_campaign_stage, person_campaign_stage_name "
        "from marts.cross_sell where cust_id in (?, ?) order by cust_id",
        [first, second],
    ).fetchall()
    assert stages == [(first, "Applied", 3, "Applied"), (second, None, 3, "Applied")]
    key, sql = _sales_lead_list(wh)
    leads = wh.execute(
        f"select cust_id, campaign_stage from ({sql}) where cust_id in (?, ?)",
        [key.token(first), key.token(second)],
    ).fetchall()
    assert leads == [(key.token(second), "Applied")]
    # Every lead's stage is their person's furthest, recounted from the events.
    recount = dict(
        wh.execute(
            """select x.person_id, max(list_position(?::varchar[], e.event_type))
               from mastered.campaign_event e join marts.cross_sell x using (cust_id)
               group by 1""",
            [list(CAMPAIGN_EVENT_TYPES)],
        ).fetchall()
    )
    rows = wh.execute(
        "select person_id, person_campaign_stage from marts.cross_sell "
        "where person_record and recommended_product_id is not null"
    ).fetchall()
    assert rows and all(stage == recount.get(person) for person, stage in rows)
    listed = dict(
        wh.execute(f"""select l.campaign_stage, count(*) from ({sql}) l group by 1""").fetchall()
    )
    expected: dict[object, int] = {}
    for _, stage in rows:
        name = FUNNEL_STAGES[stage - 1] if stage else None
        expected[name] = expected.get(name, 0) + 1
    assert listed == expected


def _role_items(node, role: str) -> list[dict]:
    """Items of every mark with this role ('axis-title', 'legend-title', 'axis-label', ...)."""
    if isinstance(node, dict):
        if node.get("role") == role:
            return list(node.get("items", []))
        return [i for v in node.values() for i in _role_items(v, role)]
    if isinstance(node, list):
        return [i for v in node for i in _role_items(v, role)]
    return []


def _scene(chart) -> dict:
    if chart.grammar == "vega":
        return vlc.vega_to_scenegraph(chart.spec)
    return vlc.vegalite_to_scenegraph(chart.spec)


def test_every_legend_and_axis_says_what_it_shows(wh: duckdb.DuckDBPyConnection) -> None:
    """No legend titled 'member', no raw column names; amount axes name their unit."""
    legends = {}
    for charts_of in CHARTS_OF.values():
        for chart in charts_of(wh):
            scene = _scene(chart)
            legends[chart.name] = [i["text"] for i in _role_items(scene, "legend-title")]
            axes = [i["text"] for i in _role_items(scene, "axis-title")]
            for title in legends[chart.name] + axes:
                assert title and title != "member" and "_" not in title, (chart.name, title)
            for title in axes:
                if "spend" in title.lower():
                    assert f"({DEFAULT_REPORTING_CURRENCY}" in title, (chart.name, title)
    assert legends["transactions_by_mode"] == ["Payment mode"]
    assert legends["customers_by_archetype"] == ["Archetype"]
    assert legends["spend_by_category"] == ["Spend category"]
    assert legends["spend_flow_sankey"] == ["Spend segment (band colour)"]


def test_ordered_categories_are_drawn_in_their_natural_order(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    assert FIGURE_ORDER["risk_category"] == LEVEL_ORDER == ("Low", "Medium", "High")
    charts = {c.name: c for c in lead_charts(wh)}
    for figure in ("risk_category", "affluence_level", "segment"):
        chart = charts[f"{figure}_bar"]
        order = FIGURE_ORDER[figure]
        labels = [
            (i["y"], i["text"])
            for i in _role_items(_scene(chart), "axis-label")
            if i.get("text") in order
        ]
        assert [t for _, t in sorted(labels)] == list(order), figure


def test_amount_axes_count_in_the_unit_they_name(wh: duckdb.DuckDBPyConnection) -> None:
    chart = next(c for c in spend_charts(wh) if c.name == "cumulative_spend")
    scene = _scene(chart)
    (title,) = [i["text"] for i in _role_items(scene, "axis-title") if "spend" in i["text"]]
    divisor = {"thousands": 1e3, "millions": 1e6, "billions": 1e9}[title.split(", ")[1][:-1]]
    ticks = [
        float(i["text"].replace(",", ""))
        for i in _role_items(scene, "axis-label")
        if i["text"].replace(",", "").replace(".", "").isdigit()
    ]
    total = max(r["cumulative_spend"] for r in chart.rows)
    assert 0.5 * total <= max(ticks) * divisor <= 2 * total, (title, ticks, total)


def test_funnel_is_drawn_as_funnels_with_conversion_labels(wh: duckdb.DuckDBPyConnection) -> None:
    """One funnel per archetype; between stages, the % of the previous stage, from the counts."""
    chart = next(c for c in funnel_charts(wh) if c.name == "funnel_by_archetype")
    assert chart.spec["facet"]["field"] == "archetype"
    scene = vlc.vegalite_to_scenegraph(chart.spec)
    drawn = sorted(float(t[2:-1]) for t in _texts(scene) if t.startswith("↓ ") and t[-1] == "%")
    rows = wh.execute(
        """select customers, lag(customers) over (partition by archetype order by stage_order)
           from marts.campaign_funnel"""
    ).fetchall()
    expected = sorted(100 * c / prev for c, prev in rows if prev)
    assert len(drawn) == len(expected) > 0
    assert all(abs(d - e) <= 0.05 + 1e-9 for d, e in zip(drawn, expected, strict=True))


def test_sankey_bands_keep_their_segment_all_the_way(wh: duckdb.DuckDBPyConnection) -> None:
    flow = next(c for c in spend_charts(wh) if c.name == "spend_flow_sankey")
    _, bands = sankey_layout(flow.rows)
    for segment in SPEND_SEGMENTS:
        spend = sum(r["spend"] for r in flow.rows if r["segment"] == segment)
        first = sum(b["spend"] for b in bands if b["segment"] == segment and b["source"] == segment)
        second = sum(
            b["spend"] for b in bands if b["segment"] == segment and b["source"] != segment
        )
        assert first == pytest.approx(spend) and second == pytest.approx(spend), segment
    svg = vlc.vega_to_svg(flow.spec)
    assert flow.spec["background"] == "white"
    for colour in SEGMENT_COLOURS:
        assert f'fill="{colour}" fill-opacity="0.5"' in svg


def test_index_draws_wide_charts_across_the_row(built: DataPaths) -> None:
    index = (built.reports / "index.html").read_text(encoding="utf-8")
    for name in ("spend_flow_sankey", "spend_treemap", "funnel_by_archetype"):
        figure = index[: index.index(f'src="png/{name}.png"')].rsplit("<figure", 1)[1]
        assert figure.startswith(' class="wide"'), name


def _line_months(chart) -> list[str]:
    """The months a line chart drew points for, as 'YYYY-MM', oldest first.

    Read from the drawn items' descriptions ('Month: Nov 2022; ...'): the scene graph
    carries what was drawn, not the data behind it.
    """
    drawn = _role_items(vlc.vegalite_to_scenegraph(chart.spec), "mark")
    found = {
        m
        for i in drawn
        for m in re.findall(r"Month: ([A-Z][a-z]{2} \d{4})", i.get("description", ""))
    }
    return sorted(dt.datetime.strptime(m, "%b %Y").strftime("%Y-%m") for m in found)


def test_time_series_leave_out_part_months(wh: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """A feed that stops before a month ends: that month stays in the mart, not on the line."""
    from fs_assets.transforms.marts.dashboards import build_lead_generation, build_spend_analysis
    from fs_assets.transforms.marts.report import write_dashboard

    charts = {c.name: c for c in lead_charts(wh) + spend_charts(wh)}
    whole = _line_months(charts["transactions_by_mode"])
    assert len(whole) == 12 and "Part months" not in charts["transactions_by_mode"].description
    last = scalar(wh, "select max(transaction_ts)::date from mastered.transaction")
    wh.execute("delete from mastered.transaction where transaction_ts::date = ?", [last])
    build_lead_generation(wh)
    build_spend_analysis(wh)
    charts = {c.name: c for c in lead_charts(wh) + spend_charts(wh)}
    for name in ("transactions_by_mode", "cumulative_spend", "spend_by_category"):
        chart = charts[name]
        assert _line_months(chart) == whole[:-1], name
        assert f"Part months left out of the line: {whole[-1]}" in chart.description
        # The mart and the chart's data still hold the part month.
        assert any(r["month"].startswith(whole[-1]) for r in chart.rows)
    for slug, charts_of in CHARTS_OF.items():
        # With the filters' cubes: the page check sums them against the mart too.
        page = page_data(wh, slug, with_customers=False)
        write_dashboard(tmp_path, slug, slug, "", {}, charts_of(wh), page)
        assert dashboard_problems(wh, tmp_path, slug, charts_of) == []


def test_data_tables_name_their_columns_and_keep_the_natural_order(built: DataPaths) -> None:
    page = (built.reports / "lead_generation.html").read_text(encoding="utf-8")
    sections = dict(re.findall(r'<section data-chart="([^"]+)">(.*?)</section>', page, re.S))
    assert "<th>member</th>" not in page
    risk = sections["risk_category_bar"]
    assert "<th>Risk category</th>" in risk
    cells = re.findall(r"<tr><td>([^<]*)</td>", risk)
    assert cells == list(LEVEL_ORDER)


def test_campaign_sales_count_the_card_of_the_campaign_that_onboarded(
    wh: duckdb.DuckDBPyConnection,
) -> None:
    """A customer onboarded in one campaign and contacted later by a campaign offering
    another card: the offered card follows the last contact, campaign sales keep the card
    the customer was onboarded to."""
    from fs_assets.transforms.marts.dashboards import build_lead_generation

    cust, card = wh.execute(
        "select e.cust_id, c.product_id from mastered.campaign_event e "
        "join mastered.campaign c using (campaign_id) where e.event_type = 'onboarded' "
        "order by e.cust_id limit 1"
    ).fetchall()[0]
    other, other_card = wh.execute(
        "select campaign_id, product_id from mastered.campaign where product_id <> ? "
        "order by campaign_id limit 1",
        [card],
    ).fetchall()[0]
    before = dict(wh.execute(
        "select member, customers from marts.lead_generation where figure = 'campaign_onboarded'"
    ).fetchall())  # fmt: skip
    wh.execute(
        "insert into mastered.campaign_event (event_id, campaign_id, cust_id, event_type, "
        "event_ts) select (max(event_id::bigint) + 1)::varchar, ?, ?, 'contacted', "
        "max(event_ts) + interval 1 day from mastered.campaign_event",
        [other, cust],
    )
    build_cross_sell(wh)
    assert wh.execute(
        "select offered_product_id, onboarded_product_id from marts.cross_sell where cust_id = ?",
        [cust],
    ).fetchall() == [(other_card, card)]
    build_lead_generation(wh)
    after = dict(wh.execute(
        "select member, customers from marts.lead_generation where figure = 'campaign_onboarded'"
    ).fetchall())  # fmt: skip
    assert after == before
