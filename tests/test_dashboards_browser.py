"""The dashboards as an analyst reads them, in Debian's Chromium.

Everything is read back from what the browser drew (the SVG in the page) and from the
charts' Vega views (`window.vegaViews`), never from the page source: legend titles, the
order of ordered categories, axis titles with their unit, and the funnel's conversion
labels against the stage counts in the mart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from fs_assets.model.paths import DataPaths
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.marts.model import FUNNEL_STAGES, LEVEL_ORDER

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}

# What the browser drew in one chart: legends with their titles, axis titles, axis labels
# with their position on the page.
DRAWN = """name => {
  const el = document.querySelector(`section[data-chart="${name}"] .chart`);
  const texts = sel => [...el.querySelectorAll(sel)].map(t => t.textContent);
  const placed = sel => [...el.querySelectorAll(sel)].map(t => {
    const r = t.getBoundingClientRect();
    return [t.textContent, r.top, r.left];
  });
  return {
    legends: [...el.querySelectorAll('.role-legend')].map(
      g => [...g.querySelectorAll('.role-legend-title text')].map(t => t.textContent).join(' ')),
    axisTitles: texts('.role-axis-title text'),
    axisLabels: placed('.role-axis-label text'),
  };
}"""

# The funnel's conversion labels from the Vega view's scene graph, with the data they show.
CONVERSIONS = """name => {
  const id = document.querySelector(`section[data-chart="${name}"] .chart`).id;
  const out = [];
  const walk = node => {
    if (node.marktype && node.name === 'conversion_marks') {
      for (const it of node.items) out.push([it.datum.archetype, it.datum.stage, it.text]);
      return;
    }
    for (const child of node.items || []) walk(child);
  };
  walk(window.vegaViews[id].scenegraph().root);
  return out;
}"""

AMOUNT_TITLE = re.compile(
    rf"^(?P<what>[A-Z][a-z ]+) \({re.escape(DEFAULT_REPORTING_CURRENCY)}"
    r"(, (?P<unit>thousands|millions|billions))?\)$"
)
UNIT_DIVISOR = {None: 1.0, "thousands": 1e3, "millions": 1e6, "billions": 1e9}
LEGEND_TITLES = {
    "customers_by_archetype": ["Archetype"],
    "transactions_by_mode": ["Payment mode"],
    "campaign_stats": ["Share of reached customers"],
    "spend_by_category": ["Spend category"],
    "customers_by_spend_segment": ["Spend segment"],
    "spend_by_segment": ["Spend segment"],
    "spend_flow_sankey": ["Spend segment (band colour)"],
    "spend_treemap": ["Spend category"],
}
# Count axes name what they count.
COUNT_TITLES = {"Customers", "Open accounts", "Transactions", "Month", "Reason"}


@pytest.fixture
def browser_page(built: DataPaths) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport=VIEWPORT)
        finally:
            browser.close()


def _open(page, reports: Path, slug: str) -> list[str]:
    """Load a dashboard page, wait until every chart is drawn, and return the chart names."""
    page.goto((reports / f"{slug}.html").as_uri())
    names = page.eval_on_selector_all("section[data-chart]", "els => els.map(e => e.dataset.chart)")
    page.wait_for_function(f"document.body.dataset.rendered === '{len(names)}'", timeout=60_000)
    assert page.evaluate("window.chartErrors") == []
    return names


def _drawn(page, name: str) -> dict:
    return page.evaluate(DRAWN, name)


def _in_order(labels: list, wanted: tuple[str, ...]) -> list[str]:
    """The labels among `wanted`, top to bottom (then left to right) as drawn."""
    hits = [(top, left, text) for text, top, left in labels if text in wanted]
    return [text for _, _, text in sorted(hits)]


@pytest.mark.slow
def test_dashboards_read_right_in_chromium(browser_page, built: DataPaths) -> None:
    page, reports = browser_page, built.reports
    seen_legends: dict[str, list[str]] = {}
    amount_axes: list[tuple[str, str]] = []
    for slug in ("campaign_funnel", "lead_generation", "spend_analysis"):
        for name in _open(page, reports, slug):
            drawn = _drawn(page, name)
            seen_legends[name] = drawn["legends"]
            # Every legend has a title a reader understands: none is empty or a column name.
            for title in drawn["legends"]:
                assert title and title != "member" and "_" not in title, (name, title)
            for title in drawn["axisTitles"]:
                assert title != "member" and "_" not in title, (name, title)
                if AMOUNT_TITLE.match(title):
                    amount_axes.append((name, title))
                elif "spend" in title.lower():
                    pytest.fail(f"{name}: amount axis {title!r} does not name its unit")
            if name in ("risk_category_bar", "affluence_level_bar"):
                assert _in_order(drawn["axisLabels"], LEVEL_ORDER) == list(LEVEL_ORDER), name
            if slug == "lead_generation" and name.endswith("_bar"):
                assert set(drawn["axisTitles"]) & COUNT_TITLES, (name, drawn["axisTitles"])
    for name, titles in LEGEND_TITLES.items():
        assert seen_legends[name] == titles, name
    # Each spend-over-time chart names the currency and the unit its ticks count in.
    assert {n for n, _ in amount_axes} == {
        "cumulative_spend",
        "spend_by_category",
        "spend_by_reason_and_segment",
    }


@pytest.mark.slow
def test_amount_ticks_count_in_the_unit_the_axis_names(browser_page, built: DataPaths) -> None:
    page, reports = browser_page, built.reports
    _open(page, reports, "spend_analysis")
    drawn = _drawn(page, "cumulative_spend")
    (title,) = [t for t in drawn["axisTitles"] if AMOUNT_TITLE.match(t)]
    divisor = UNIT_DIVISOR[AMOUNT_TITLE.match(title)["unit"]]
    ticks = [
        float(t.replace(",", "")) for t, _, _ in drawn["axisLabels"] if re.fullmatch(r"[\d.,]+", t)
    ]
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        (total,) = conn.execute(
            "select max(cumulative_spend)::double from marts.spend_analysis"
            " where figure = 'monthly'"
        ).fetchone()
    # The top tick, read in the named unit, is of the order of the total drawn.
    assert 0.5 * total <= max(ticks) * divisor <= 2 * total, (title, ticks, total)


@pytest.mark.slow
def test_funnel_conversion_labels_equal_the_marts_stage_counts(
    browser_page, built: DataPaths
) -> None:
    page, reports = browser_page, built.reports
    _open(page, reports, "campaign_funnel")
    labels = page.evaluate(CONVERSIONS, "funnel_by_archetype")
    drawn_texts = page.eval_on_selector_all(
        'section[data-chart="funnel_by_archetype"] .conversion_marks text',
        "els => els.map(e => e.textContent)",
    )
    # What the view holds is what the SVG shows.
    assert Counter(drawn_texts) == Counter(text for _, _, text in labels)
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        rows = conn.execute(
            """select archetype, stage, customers,
                      lag(customers) over (partition by archetype order by stage_order) as prev
               from marts.campaign_funnel"""
        ).fetchall()
    expected = {(a, s): 100 * c / prev for a, s, c, prev in rows if prev}
    shown = {}
    for archetype, stage, text in labels:
        match = re.fullmatch(r"↓ (\d+(?:\.\d)?)%", text)
        assert match, text
        shown[(archetype, stage)] = float(match[1])
    # A label between every pair of stages whose upper stage had customers, and no other.
    assert set(shown) == set(expected)
    assert {s for _, s in shown} <= set(FUNNEL_STAGES[1:])
    for key, pct in shown.items():
        assert abs(pct - expected[key]) <= 0.05 + 1e-9, (key, pct, expected[key])


@pytest.mark.slow
def test_index_shows_the_sankey_and_treemap_at_a_readable_size(
    browser_page, built: DataPaths
) -> None:
    page = browser_page
    page.goto((built.reports / "index.html").as_uri())
    page.wait_for_load_state("load")
    widths = dict(
        page.eval_on_selector_all(
            "img", "els => els.map(e => [e.getAttribute('src'), e.clientWidth])"
        )
    )
    for name in ("spend_flow_sankey", "spend_treemap", "funnel_by_archetype"):
        # Across the page's whole row: at least 1,000 of the 1,400 pixels.
        assert widths[f"png/{name}.png"] >= 1000, (name, widths[f"png/{name}.png"])
    assert min(widths.values()) >= 500, widths
