"""End to end on the real Dagster processes: `dagster dev` (webserver + daemon) in a
subprocess, driven by a real browser. The sensor refresh from a landed file (and a malformed
file moved aside) is shown by tests/test_ui_quiet.py on the same processes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_dev import (
    Dagster,
    running_dagster_dev,
)

from fs_assets.model.paths import DataPaths


@pytest.fixture
def dagster_dev(built: DataPaths, tmp_path: Path) -> Iterator[tuple[Dagster, DataPaths]]:
    """`dagster dev` on the built data folder; the landing zone starts empty (archived)."""
    shutil.move(built.landing, tmp_path / "archived_landing")
    built.landing.mkdir()
    with running_dagster_dev(built, tmp_path / "dagster_dev.log") as client:
        yield client, built


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.slow
def test_ui_materializes_an_asset_by_clicking(
    dagster_dev: tuple[Dagster, DataPaths], tmp_path: Path
) -> None:
    """Debian's Chromium driven by Playwright: asset graph, Materialize, run succeeds."""
    from playwright.sync_api import sync_playwright

    client, _ = dagster_dev
    before = client.latest_materialization_run("raw", "product")
    base = client.url.removesuffix("/graphql")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # Dagster's first-visit community dialog can open seconds after any page loads
            # and then blocks every click: dismiss it whenever it shows up.
            skip = page.get_by_role("button", name="Skip")
            page.add_locator_handler(skip, lambda: skip.click())
            page.goto(f"{base}/asset-groups/raw", wait_until="networkidle")
            page.get_by_text("Global asset lineage").first.wait_for(timeout=60_000)
            page.get_by_text("mastered", exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "asset_graph.png"))
            page.goto(f"{base}/assets/raw/product", wait_until="networkidle")
            page.locator("button", has_text="Materialize").first.click()
            page.get_by_role("link", name="View", exact=True).click()
            page.get_by_text("Success", exact=True).first.wait_for(timeout=240_000)
            page.screenshot(path=str(shots / "run_succeeded.png"))
            # A dashboard asset's charts are images in its materialization's metadata.
            page.goto(f"{base}/assets/marts/spend_analysis?view=events", wait_until="networkidle")
            row = page.locator("tr", has_text="chart/spend_flow_sankey")
            row.get_by_text("[Show Markdown]").click()
            chart = page.locator('img[src^="data:image/png;base64,"]').first
            chart.wait_for(timeout=60_000)
            assert chart.evaluate("img => img.complete && img.naturalWidth") > 200
            page.screenshot(path=str(shots / "chart_in_metadata.png"))
        finally:
            browser.close()
    after = client.latest_materialization_run("raw", "product")
    assert after and after != before
    assert (shots / "run_succeeded.png").stat().st_size > 10_000
