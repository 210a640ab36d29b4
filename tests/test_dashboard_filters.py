"""The dashboard pages' filters: cubes that add up to the marts, a governed customer list.

Runs on the session's built data folder (a copy): the pages the build wrote, and the
cubes and customer list recomputed from its warehouse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from pii_scan import pii_values, scan, vocabulary

from asset_checks.mart_verify import dashboard_problems, page_filter_data
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.marts.charts import (
    FLOW_BINDING,
    Chart,
    funnel_charts,
    lead_charts,
    spend_charts,
)
from fs_assets.transforms.marts.features import spend_predicate
from fs_assets.transforms.marts.model import (
    CONVERTED_EVENTS,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
)
from fs_assets.transforms.marts.page_data import (
    CELL,
    CELL_VIEW,
    CUSTOMER_COLUMNS,
    FILTER_COLUMNS,
    FLOW_GRAIN,
    MEASURES,
    MONTH,
    PAGE_ROLE,
    PAGES,
    SPEND_CUBES,
    Binding,
    PageData,
    _runs,
    _unrun,
    customer_table,
    page_cells,
    page_data,
    spend_cubes,
    spend_flow_sql,
)
from fs_assets.transforms.marts.report import _script_json
from fs_assets.transforms.marts.uplift import OFFERS, UPLIFT_BINDING, uplift_charts

CHARTS = {
    "campaign_funnel": funnel_charts,
    "campaign_uplift": uplift_charts,
    "lead_generation": lead_charts,
    "spend_analysis": spend_charts,
}
CODE = [PROJECT_ROOT / d for d in ("fs_assets", "policies", "resources", "asset_checks")]
TOLERANCE = 0.005  # amounts are summed in floats on the page, in decimals in the mart


@pytest.mark.parametrize(
    "cells",
    [[], [3], [0, 0, 0], [1, 1, 2, 1], [None, None, 1, None], [5, 5, 7, 9, 9, 9, 9, 2]],
)
def test_cell_runs_are_the_runs_of_equal_neighbours(cells: list[int | None]) -> None:
    """The cell column's runs (Arrow's run-end encoding) are those a loop over the values
    finds: a value and how many neighbours repeat it, nulls alike; decoding restores it."""
    expected: list[int | None] = []
    for value in cells:
        if expected and expected[-2] == value:
            expected[-1] += 1  # type: ignore[operator]
        else:
            expected += [value, 1]
    assert _runs(pa.array(cells, pa.int32())) == expected
    assert _unrun(expected) == cells


@pytest.fixture
def wh(built: DataPaths) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(built.warehouse))
    key_from_env().apply(conn)
    yield conn
    conn.close()


def _key(row: dict, binding: Binding) -> tuple:
    return tuple(row.get(f) for f in binding.group)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(b))


@pytest.mark.parametrize("slug", PAGES)
def test_cubes_add_up_to_every_chart_the_mart_draws(wh, slug: str) -> None:
    """With no filter, summing a chart's cube gives the chart's mart rows exactly."""
    page = page_data(wh, slug, with_customers=False)
    checked = 0
    for chart in CHARTS[slug](wh):
        b = chart.binding
        assert b is not None, f"{chart.name}: not bound to the page's filters"
        if b.kind not in ("rows", "funnel", "cumulative", "ratio"):
            continue  # the Sankey and treemap layouts: the browser test reads them
        got = {_key(r, b): r for r in page.rows(b)}
        want = {_key(r, b): r for r in chart.rows if all(f in r for f in b.group)}
        assert set(got) == set(want), chart.name
        for key, row in want.items():
            for measure in (*b.sums, *b.derived()):
                if measure in row:
                    assert _close(got[key][measure], row[measure]), (chart.name, key, measure)
        checked += 1
    assert checked >= 1


def test_a_filtered_cube_equals_the_mart_queried_with_the_filter(wh) -> None:
    """Risk per customer under archetype and segment filters, against marts.cross_sell."""
    archetype, segment = wh.execute(
        "select archetype, segment from marts.cross_sell group by all order by count(*) desc"
    ).fetchone()
    risk = next(c for c in lead_charts(wh) if c.name == "risk_category_bar")
    page = page_data(wh, "lead_generation", with_customers=False)
    filters = {"archetype": archetype, "segment": segment}
    shown = {r["member"]: r["customers"] for r in page.rows(risk.binding, filters)}
    truth = dict(
        wh.execute(
            "select risk_category, count(*) from marts.cross_sell"
            " where archetype = ? and segment = ? group by 1",
            [archetype, segment],
        ).fetchall()
    )
    assert shown == truth and sum(truth.values()) > 0
    # The chart's own dimension is not filtered (it stays whole, for cross-filtering).
    mine = page.rows(risk.binding, {"risk": "High"})
    assert len(mine) == len(risk.rows)


def test_uplift_under_a_filter_is_the_ratio_of_the_summed_counts(wh) -> None:
    """Conversion per archetype and offer, and the uplift in points, under a risk filter:
    the page divides the summed counts; recomputed here from the cross-sell and events."""
    page = page_data(wh, "campaign_uplift", with_customers=False)
    shown = {(r["archetype"], r["offer"]): r for r in page.rows(UPLIFT_BINDING, {"risk": "Low"})}
    truth = wh.execute(
        """select x.archetype, case when x.offered_recommended then ? else ? end,
             count(*), count(*) filter (where exists (
               select 1 from mastered.campaign_event e where e.cust_id = x.cust_id
               and e.event_type in (select unnest(?::varchar[]))))
           from marts.cross_sell x
           where x.recommended_product_id is not null and x.offered_product_id is not null
             and x.risk_category = ?
           group by 1, 2""",
        [*OFFERS, list(CONVERTED_EVENTS), "Low"],
    ).fetchall()
    assert {(a, o) for a, o, _, _ in truth} == set(shown) and truth
    rate = {(a, o): k / n for a, o, n, k in truth}
    for (a, o), row in shown.items():
        assert row["conversion"] == pytest.approx(rate[a, o])
        other = [rate.get((a, x)) for x in OFFERS]
        want = None if None in other else 100 * (other[0] - other[1])
        assert row["uplift_points"] == (None if want is None else pytest.approx(want))


def test_customer_list_is_governed_and_bounded(wh) -> None:
    table = customer_table(wh)
    cols = list(table.columns)
    pii = set(CUSTOMER.pii_columns)
    shown = set(CUSTOMER_COLUMNS) - {"cust_id"}
    assert shown and not shown & pii, shown & pii
    assert set(FILTER_COLUMNS) <= set(cols) and set(CUSTOMER_COLUMNS) <= set(cols)
    ids = {r[cols.index("cust_id")] for r in table.rows}
    clear = {r[0] for r in wh.execute("select cust_id from mastered.customer").fetchall()}
    # cust_id is the role's keyed token: 64 hex digits, never a customer id.
    assert ids and not ids & clear and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)
    key = key_from_env()
    assert {key.token(c) for c in clear} >= ids
    # At most per_cell customers of each filter cell.
    per_cell: dict[tuple, int] = {}
    for r in table.rows:
        cell = tuple(r[cols.index(c)] for c in FILTER_COLUMNS)
        per_cell[cell] = per_cell.get(cell, 0) + 1
    assert max(per_cell.values()) == table.per_cell
    assert table.role == PAGE_ROLE


def test_customer_list_refuses_a_session_without_the_key(built: DataPaths) -> None:
    with (
        duckdb.connect(str(built.warehouse), read_only=True) as conn,
        pytest.raises(RuntimeError, match="masking key"),
    ):
        customer_table(conn)


def test_pages_hold_no_pii_and_no_customer_id(built: DataPaths) -> None:
    pages = [built.reports / f"{slug}.html" for slug in PAGES]
    text = {p: p.read_text(encoding="utf-8") for p in pages}
    assert all('id="customer-list"' in t and "const PAGE = " in t for t in text.values())
    values = pii_values(built.warehouse, vocabulary(CODE))
    assert scan(pages, values) == []
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        ids = [r[0] for r in conn.execute("select cust_id from mastered.customer").fetchall()]
    for page, t in text.items():
        leaked = set(ids) & set(re.findall(r"[0-9A-Za-z]+", t))
        assert leaked == set(), (page.name, sorted(leaked)[:3])


def test_every_chart_of_every_page_is_bound(built: DataPaths, wh) -> None:
    for slug in PAGES:
        data = page_filter_data(built.reports / f"{slug}.html")
        charts: list[Chart] = CHARTS[slug](wh)
        assert [c["binding"] is not None for c in data["charts"]] == [True] * len(charts), slug
        for c in data["charts"]:
            assert c["binding"]["cube"] in data["cubes"], (slug, c)


def _plant(page: Path, cube: str, column: str, delta: float) -> None:
    """Change the first row of a cube's column on the page, in place (a wrong cube)."""
    text = page.read_text(encoding="utf-8")
    data = page_filter_data(page)
    enc = data["cubes"][cube]
    old = _script_json(data["cubes"])
    enc["data"][enc["columns"].index(column)][0] += delta
    assert text.count(old) == 1
    page.write_text(text.replace(old, _script_json(data["cubes"])), encoding="utf-8")


def test_page_check_catches_a_cube_that_differs_from_the_mart(built: DataPaths, wh) -> None:
    """charts_show_mart sums the page's cubes: one count changed on the page is named."""
    assert dashboard_problems(wh, built.reports, "lead_generation", lead_charts) == []
    _plant(built.reports / "lead_generation.html", "customers", "customers", 1)
    problems = dashboard_problems(wh, built.reports, "lead_generation", lead_charts)
    assert any("on the page" in p and "customers" in p for p in problems), problems


def test_page_check_catches_a_wrong_flow_cube(built: DataPaths, wh) -> None:
    """The flows' cube (the largest) is summed in DuckDB by the check: one unit off (100
    cents, as the page holds amounts) is named."""
    assert dashboard_problems(wh, built.reports, "spend_analysis", spend_charts) == []
    _plant(built.reports / "spend_analysis.html", "spend_flow", "spend", 100)
    problems = dashboard_problems(wh, built.reports, "spend_analysis", spend_charts)
    named = {p.split(":")[0] for p in problems}
    assert named == {"spend_by_reason_and_segment", "spend_flow_sankey", "spend_treemap"}
    assert all("spend is" in p and "on the page" in p for p in problems), problems


def test_every_chart_sums_a_cube_at_its_own_grain(wh) -> None:
    """A cube holds the cell, the month (for the range) and the chart's fields, nothing more:
    its rows are bounded by cells x months x the chart's own dimension."""
    for slug, charts_of in CHARTS.items():
        page = page_data(wh, slug, with_customers=False)
        for chart in charts_of(wh):
            b = chart.binding
            dims = set(page.cube(b.cube).columns) - {CELL, MONTH, *MEASURES}
            assert dims <= {*b.group.values(), b.where}, (slug, chart.name, dims)
    spend = page_data(wh, "spend_analysis", with_customers=False)
    for name, dims in SPEND_CUBES.items():
        assert spend.cube(name).columns == (CELL, MONTH, *dims, "transactions", "spend")


def test_spend_flow_under_a_filter_and_months_equals_the_mart(wh) -> None:
    """The flows under a state filter and a month range, summed from the page's form (the
    encoded cells and cube, as the page's script reads them), against mastered data."""
    page = page_data(wh, "spend_analysis", with_customers=False)
    state = wh.execute(
        "select state || ', ' || country from marts.cross_sell group by 1 order by count(*) desc"
    ).fetchall()[0][0]
    first, last = "2023-01", "2023-06"
    shown = PageData.decoded(page.encoded()).rows(FLOW_BINDING, {"state": state}, (first, last))
    spend, params = spend_predicate("t")
    low, high = SPEND_SEGMENT_BOUNDS
    segments = [low, SPEND_SEGMENTS[0], high, SPEND_SEGMENTS[1], SPEND_SEGMENTS[2]]
    truth = wh.execute(
        f"""with total as (
              select cust_id, sum(amount_reporting) as spend from mastered.transaction t
              where {spend} group by 1)
            select case when total.spend < ? then ? when total.spend < ? then ? else ? end,
              t.transaction_reason, t.transaction_mode, sum(t.amount_reporting)
            from mastered.transaction t join total using (cust_id)
            join marts.cross_sell x using (cust_id)
            where {spend} and x.state || ', ' || x.country = ?
              and strftime(t.transaction_ts, '%Y-%m') between ? and ?
            group by 1, 2, 3""",
        [*params, *segments, *params, state, first, last],
    ).fetchall()
    want = {(g, c, m): float(a) for g, c, m, a in truth}
    got = {(r["segment"], r["category"], r["mode"]): r["spend"] for r in shown}
    assert set(got) == set(want) and want
    assert all(_close(got[k], v) for k, v in want.items())


def test_script_data_cannot_close_its_element() -> None:
    from fs_assets.transforms.marts.report import _script_json

    name = "Tamil </script><!-- Nadu 'x' \"y\" \u00e9"
    text = _script_json({"state": name})
    assert "<" not in text and json.loads(text) == {"state": name}


def test_dashboard_metadata_states_what_the_filters_carry(built: DataPaths) -> None:
    import dagster as dg

    from fs_assets.defs.keys import LEAD_KEY

    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(LEAD_KEY)
    meta = event.asset_materialization.metadata
    page = built.reports / "lead_generation.html"
    assert meta["page_bytes"].value == page.stat().st_size
    cubes = page_filter_data(page)["cubes"]
    # The last column is a measure (the cell column travels as runs).
    rows = sum(len(c["data"][-1]) for name, c in cubes.items() if name != "customers_list")
    assert meta["filter_cube_rows"].value == rows > 0
    assert meta["listed_customers"].value == len(cubes["customers_list"]["data"][0]) > 0


def test_unfiltered_problems_name_what_differs_and_accept_empty_zero_rows() -> None:
    from fs_assets.transforms.marts.page_data import Cube, PageData, unfiltered_problems

    b = Binding("spend", {"segment": "spend_segment"}, ("spend",))
    cells = Cube.of("cells", {"cell": [0], **{c: ["x"] for c in FILTER_COLUMNS}})
    cube = Cube.of("spend", {"cell": [0], "spend_segment": ["Low Spend"], "spend": [10.0]})
    page = PageData(cells, (cube,))
    assert unfiltered_problems(page, b, [{"segment": "Low Spend", "spend": 10.0}]) == []
    # A mart row without spend draws nothing; one with spend must be in the cube.
    zero = [{"segment": "Low Spend", "spend": 10.0}, {"segment": "High Spend", "spend": 0.0}]
    assert unfiltered_problems(page, b, zero) == []
    lost = [{"segment": "Low Spend", "spend": 10.0}, {"segment": "High Spend", "spend": 2.0}]
    assert unfiltered_problems(page, b, lost) == [
        "('High Spend',): in the mart, not in the page's cube"
    ]
    (off,) = unfiltered_problems(page, b, [{"segment": "Low Spend", "spend": 11.0}])
    assert "spend is 10.0 on the page, 11.0 in the mart" in off


def test_the_flow_cube_is_the_flow_grain_rows_as_summed_before(wh) -> None:
    """page_spend.sql groups by the flow grain, so its rows are the spend_flow cube as they
    are: the cube equals those rows summed per (cell, month, segment, category, mode), as
    every other spend cube is, value for value, and no group repeats."""
    of_customer, _ = page_cells(wh)
    wh.register(CELL_VIEW, of_customer)
    try:
        sql, params = spend_flow_sql()
        keys = ", ".join([CELL, MONTH, *FLOW_GRAIN])
        summed = wh.execute(
            f"select {keys}, sum(transactions)::bigint, sum(spend)::double from ({sql}) "
            "group by all order by all",
            params,
        ).fetchall()
        cube = next(c for c in spend_cubes(wh) if c.name == "spend_flow")
    finally:
        wh.unregister(CELL_VIEW)
    rows = list(zip(*(cube.table.column(c).to_pylist() for c in cube.columns), strict=True))
    assert rows == summed and len(rows) > 10
    assert len({r[:5] for r in rows}) == len(rows)
