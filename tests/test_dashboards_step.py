"""The four dashboards as one step: what the pages share read once, each page its own
asset, and a failing page leaving the others materialized."""

import dataclasses

import dagster as dg
import duckdb
import pytest

from fs_assets.defs import marts
from fs_assets.engines.duckdb_engine import DuckDBEngine
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.marts.page_data import (
    CELL_VIEW,
    PAGE_CUSTOMER_EXTRA,
    PAGES,
    PEOPLE_VIEW,
    DuckPageSql,
    customers_cube,
    page_cells,
    page_data,
    pages_data,
)
from resources import default_resources
from resources.masking_key import masking_key_from_env


class _Counting(DuckPageSql):
    """DuckPageSql counting the statements that read the governed customer view and that
    keep every customer's cell."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        super().__init__(conn)
        self.governed = 0
        self.cells = 0
        self.people = 0

    def rows(self, sql, params):
        self.governed += "governed." in sql
        return super().rows(sql, params)

    def keep(self, name, sql, params):
        self.cells += name == CELL_VIEW
        self.people += name == PEOPLE_VIEW
        return super().keep(name, sql, params)


def _keyed(built: DataPaths) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(built.warehouse), read_only=True)
    masking_key_from_env().get().apply(conn)
    return conn


def _page_content(page) -> tuple:
    cubes = tuple((c.name, c.table.to_pylist()) for c in page.cubes)
    customers = page.customers.rows if page.customers else None
    return page.cells.table.to_pylist(), cubes, customers


def test_the_pages_read_what_they_share_once_and_each_as_alone(built: DataPaths) -> None:
    with _keyed(built) as conn:
        counting = _Counting(conn)
        together = dict(pages_data(counting, PAGES))
        assert list(together) == list(PAGES)
        # The governed customer list and every customer's cell: once for the four pages.
        assert (counting.governed, counting.cells) == (1, 1)
        # Every person's cell, stages, card and spend: once, and each page's people cubes
        # are what each cube's own statement (a pass over every transaction) reads.
        assert counting.people == 1
        of_customer, _ = page_cells(conn)
        conn.register(CELL_VIEW, of_customer)
        try:
            for slug in PAGES:
                for extra in (None, PAGE_CUSTOMER_EXTRA[slug]):
                    own = customers_cube(conn, extra)
                    kept = together[slug].cube(own.name)
                    assert kept.table.to_pylist() == own.table.to_pylist(), (slug, extra)
                    assert own.num_rows > 0
        finally:
            conn.unregister(CELL_VIEW)
        for slug in PAGES:  # the same data as the page read alone
            alone = page_data(conn, slug)
            assert _page_content(together[slug]) == _page_content(alone), slug
            assert together[slug].customers and together[slug].customers.rows, slug
        with pytest.raises(ValueError, match="unknown dashboard page"):
            list(pages_data(conn, ["campaign_funnel", "no_such_page"]))


def _run_dashboards(built: DataPaths, keys: list[dg.AssetKey]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [marts.dashboards],
        selection=keys,
        resources=default_resources(str(built.home)),
        raise_on_error=False,
    )


def test_each_dashboard_is_its_own_asset_in_the_one_step(built: DataPaths) -> None:
    page = built.reports / "campaign_uplift.html"
    page.unlink()
    result = _run_dashboards(built, [marts.UPLIFT_KEY])
    assert result.success
    mats = result.asset_materializations_for_node(marts.DASHBOARDS_STEP)
    assert [m.asset_key for m in mats] == [marts.UPLIFT_KEY]
    assert page.exists() and mats[0].metadata["listed_customers"].value > 0


def test_a_failing_dashboard_leaves_the_others_materialized(
    built: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        dataclasses.replace(d, statement=lambda: ("select * from marts.no_such_table", []))
        if d.key == marts.LEAD_KEY
        else d
        for d in marts.DASHBOARDS
    ]
    monkeypatch.setattr(marts, "DASHBOARDS", tuple(broken))
    pages = {d.slug: built.reports / f"{d.slug}.html" for d in marts.DASHBOARDS}
    for page in pages.values():
        page.unlink()
    result = _run_dashboards(built, [d.key for d in marts.DASHBOARDS])
    assert not result.success
    mats = result.asset_materializations_for_node(marts.DASHBOARDS_STEP)
    done = {m.asset_key for m in mats}
    assert done == {d.key for d in marts.DASHBOARDS} - {marts.LEAD_KEY}
    assert {s for s, p in pages.items() if p.exists()} == {k.path[-1] for k in done}
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.to_string()  # with its causes
    assert "lead_generation failed" in message and "no_such_table" in message
    assert "Rerun the failed ones" in message


def test_pages_whose_data_failed_midway_fail_and_those_already_read_are_recorded(
    built: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = DuckDBEngine.pages_data

    def first_then_disk_full(self, slugs, key):
        pages = real(self, slugs, key)
        yield next(pages)
        raise OSError("No space left on device")

    monkeypatch.setattr(DuckDBEngine, "pages_data", first_then_disk_full)
    result = _run_dashboards(built, [d.key for d in marts.DASHBOARDS])
    assert not result.success
    mats = result.asset_materializations_for_node(marts.DASHBOARDS_STEP)
    assert [m.asset_key for m in mats] == [marts.DASHBOARDS[0].key]
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.to_string()
    assert "No space left on device" in message
    for dash in marts.DASHBOARDS[1:]:
        assert dash.slug in message
