"""The dashboard pages' filters in Debian's Chromium, against the marts queried in DuckDB.

On each page a filter is changed (and a bar clicked, and the month range narrowed), then
the numbers a chart's Vega view holds are compared with the same question asked of the
marts in DuckDB. Reuses the session's built data folder (a copy).
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from test_dashboards_browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT

from fs_assets.model.paths import DataPaths
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.model import ARCHETYPE_NAMES, CONVERTED_EVENTS, FUNNEL_STAGES
from fs_assets.transforms.marts.uplift import OFFERS

# A chart's rows as its Vega view holds them (`name`: the data set).
VIEW_ROWS = """([chart, name]) => {
  const id = document.querySelector(`section[data-chart="${chart}"] .chart`).id;
  return window.vegaViews[id].data(name);
}"""
STATE = "({...window.dashboardFilters.state.filters})"
TOLERANCE = 0.01


@pytest.fixture
def page(built: DataPaths) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport=VIEWPORT)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            yield tab
            assert errors == []
        finally:
            browser.close()


@pytest.fixture
def wh(built: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(built.warehouse), read_only=True)
    yield conn
    conn.close()


def _open(tab, built: DataPaths, slug: str) -> None:
    tab.goto((built.reports / f"{slug}.html").as_uri())
    n = tab.eval_on_selector_all("section[data-chart]", "els => els.length")
    tab.wait_for_function(f"document.body.dataset.rendered === '{n}'", timeout=60_000)
    assert tab.evaluate("window.chartErrors") == []


def _updated(tab, action) -> None:
    """Run `action` (a filter change) and wait until every chart holds the new rows."""
    before = int(tab.evaluate("document.body.dataset.updates || '0'"))
    action()
    tab.wait_for_function(f"Number(document.body.dataset.updates || '0') > {before}")


def _rows(tab, chart: str, name: str = "rows") -> list[dict]:
    return tab.evaluate(VIEW_ROWS, [chart, name])


def _one(wh, sql: str, params: list) -> object:
    return wh.execute(sql, params).fetchone()[0]


@pytest.mark.slow
def test_funnel_page_filters_equal_the_mart(page, built: DataPaths, wh) -> None:
    _open(page, built, "campaign_funnel")
    segment, risk = wh.execute(
        "select segment, risk_category from marts.cross_sell group by all"
        " order by count(*) desc, 1, 2"
    ).fetchone()
    _updated(page, lambda: page.select_option("#filter-segment", segment))
    _updated(page, lambda: page.select_option("#filter-risk", risk))
    shown = {
        (r["archetype"], r["stage_order"]): r["customers"]
        for r in _rows(page, "funnel_by_archetype")
    }
    truth = {
        (a, s): _one(
            wh,
            "select count(distinct x.cust_id) from marts.cross_sell x"
            " join mastered.campaign_event e using (cust_id)"
            " where x.archetype = ? and x.segment = ? and x.risk_category = ?"
            " and e.event_type = ?",
            [a, segment, risk, CAMPAIGN_EVENT_TYPES[s - 1]],
        )
        for a in ARCHETYPE_NAMES
        for s in range(1, len(FUNNEL_STAGES) + 1)
    }
    assert shown == truth and sum(truth.values()) > 0
    tile = int(page.inner_text("#selected-customers").replace(",", ""))
    assert tile == _one(
        wh,
        "select count(*) from marts.cross_sell where segment = ? and risk_category = ?",
        [segment, risk],
    )


@pytest.mark.slow
def test_lead_page_filters_and_cross_filters_equal_the_mart(page, built: DataPaths, wh) -> None:
    _open(page, built, "lead_generation")
    archetype = _one(
        wh, "select archetype from marts.cross_sell group by 1 order by count(*) desc, 1", []
    )
    _updated(page, lambda: page.select_option("#filter-archetype", archetype))
    shown = {r["member"]: r["customers"] for r in _rows(page, "risk_category_bar")}
    truth = dict(
        wh.execute(
            "select risk_category, count(*) from marts.cross_sell where archetype = ? group by 1",
            [archetype],
        ).fetchall()
    )
    assert shown == truth
    # Clicking a risk bar filters the other charts (the archetype pie ignores its own filter).
    bar = page.locator('section[data-chart="risk_category_bar"] .mark-rect path').first
    _updated(page, lambda: bar.click())
    risk = page.evaluate(STATE)["risk"]
    pie = {r["member"]: r["customers"] for r in _rows(page, "customers_by_archetype")}
    assert pie == dict(
        wh.execute(
            "select archetype, count(*) from marts.cross_sell where risk_category = ? group by 1",
            [risk],
        ).fetchall()
    )
    # The month range on transactions by reason: all statuses, from mastered via the mart.
    months = page.eval_on_selector_all("#month-first option", "os => os.map(o => o.value)")[1:]
    first, last = months[2], months[5]
    _updated(page, lambda: page.select_option("#month-first", first))
    _updated(page, lambda: page.select_option("#month-last", last))
    reasons = {r["member"]: r["transactions"] for r in _rows(page, "transactions_by_reason")}
    assert reasons == dict(
        wh.execute(
            """select t.transaction_reason, count(*) from mastered.transaction t
               join marts.cross_sell x using (cust_id)
               where x.archetype = ? and x.risk_category = ?
                 and strftime(t.transaction_ts, '%Y-%m') between ? and ? group by 1""",
            [archetype, risk, first, last],
        ).fetchall()
    )
    # The customer list shows only customers of the selection, as the governed view has them.
    cols = page.eval_on_selector_all("#customer-list th", "ths => ths.map(t => t.textContent)")
    cells = page.eval_on_selector_all(
        "#customer-list tbody tr", "trs => trs.map(tr => [...tr.cells].map(c => c.textContent))"
    )
    assert cells and all(
        r[cols.index("archetype")] == archetype and r[cols.index("risk")] == risk for r in cells
    )


@pytest.mark.slow
def test_spend_page_filters_equal_the_mart(page, built: DataPaths, wh) -> None:
    _open(page, built, "spend_analysis")
    state = _one(
        wh,
        "select state || ', ' || country from marts.cross_sell"
        " group by 1 order by count(*) desc, 1",
        [],
    )
    _updated(page, lambda: page.select_option("#filter-state", state))
    spend, params = spend_predicate("t")
    truth = {
        (m.isoformat(), c): float(a)
        for m, c, a in wh.execute(
            f"""select date_trunc('month', t.transaction_ts)::date, t.transaction_reason,
                       sum(t.amount_reporting)
                from mastered.transaction t join marts.cross_sell x using (cust_id)
                where {spend} and x.state || ', ' || x.country = ? group by 1, 2""",
            [*params, state],
        ).fetchall()
    }
    shown = {(r["month"], r["category"]): r["spend"] for r in _rows(page, "spend_by_category")}
    assert set(shown) == set(truth) and truth
    assert all(abs(shown[k] - v) <= TOLERANCE for k, v in truth.items())
    # The Sankey's flow is the same spend, laid out again on the page.
    flow = sum(r["spend"] for r in _rows(page, "spend_flow_sankey", "flow"))
    assert abs(flow - sum(truth.values())) <= TOLERANCE * len(truth)


@pytest.mark.slow
def test_uplift_page_filters_equal_the_mart(page, built: DataPaths, wh) -> None:
    """Conversion per archetype and offer under a segment filter: the page divides the
    summed counts, as the uplift mart does over the filtered customers."""
    _open(page, built, "campaign_uplift")
    segment = _one(
        wh, "select segment from marts.cross_sell group by 1 order by count(*) desc, 1", []
    )
    _updated(page, lambda: page.select_option("#filter-segment", segment))
    shown = {
        (r["archetype"], r["offer"]): (r["contacted"], r["converted"], r["conversion"])
        for r in _rows(page, "campaign_uplift")
    }
    truth = {
        (a, o): (n, k, k / n)
        for a, o, n, k in wh.execute(
            """select x.archetype, case when x.offered_recommended then ? else ? end,
                 count(*), count(*) filter (where exists (
                   select 1 from mastered.campaign_event e where e.cust_id = x.cust_id
                   and e.event_type in (select unnest(?::varchar[]))))
               from marts.cross_sell x
               where x.recommended_product_id is not null
                 and x.offered_product_id is not null and x.segment = ?
               group by 1, 2""",
            [*OFFERS, list(CONVERTED_EVENTS), segment],
        ).fetchall()
    }
    assert set(shown) == set(truth) and truth
    for key, (n, k, rate) in truth.items():
        assert shown[key][:2] == (n, k) and abs(shown[key][2] - rate) <= 1e-9, key
    tile = int(page.inner_text("#selected-customers").replace(",", ""))
    assert tile == _one(wh, "select count(*) from marts.cross_sell where segment = ?", [segment])
