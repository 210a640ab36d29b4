"""End to end on the real Dagster processes: `dagster dev` (webserver + daemon) in a
subprocess, driven through its GraphQL API, refreshing the data product from landing files.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster_dev import (
    Dagster,
    mastered_value,
    running_dagster_dev,
    update_risk_of_first_personal_customer,
    wait_for,
)

from fs_assets.model.paths import DataPaths
from resources.warehouse import connect_with_retry


@pytest.fixture
def dagster_dev(built: DataPaths, tmp_path: Path) -> Iterator[tuple[Dagster, DataPaths]]:
    """`dagster dev` on the built data folder; the landing zone starts empty (archived)."""
    shutil.move(built.landing, tmp_path / "archived_landing")
    built.landing.mkdir()
    with running_dagster_dev(built, tmp_path / "dagster_dev.log") as client:
        yield client, built


def counts(paths: DataPaths) -> tuple[int, int, int]:
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=120)
    try:
        return conn.execute(
            "select (select count(*) from raw.customer), (select count(*) from mastered.customer),"
            " (select count(*) from quarantine.customer_rejects)"
        ).fetchone()
    finally:
        conn.close()


@pytest.mark.slow
def test_sensor_refresh_end_to_end(dagster_dev: tuple[Dagster, DataPaths]) -> None:
    client, paths = dagster_dev
    before_raw_run = client.latest_materialization_run("raw", "customer")
    cust_id, new_risk = update_risk_of_first_personal_customer(paths)

    wait_for(
        "mastered.customer to show the update",
        lambda: mastered_value(paths, cust_id, "customer_risk_category") == new_risk,
    )
    raw_run = client.latest_materialization_run("raw", "customer")
    assert raw_run and raw_run != before_raw_run
    assert client.run_tags(raw_run).get("dagster/sensor_name") == "landing_sensor"
    mastered_run = client.latest_materialization_run("mastered", "customer")
    assert client.run_tags(mastered_run).get("dagster/sensor_name") == "automation_sensor"
    checks = wait_for(
        "mastered.customer checks of the sensor-launched run",
        lambda: (
            (c := client.check_executions("mastered", "customer"))
            and all(s == "SUCCEEDED" and r == mastered_run for s, r in c.values())
            and c
        ),
        timeout=180,
    )
    assert {"key_unique", "valid_customer_risk_category", "reconciles_with_raw"} <= set(checks)

    # A malformed file: moved aside with a report, the warehouse unchanged.
    before = counts(paths)
    good_header = ["", "Cust Id", "Cust Dob"]
    broken = paths.landing / "customer" / "customer_broken_upload.csv"
    tmp = broken.with_name("." + broken.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([good_header, ["0", cust_id, "1990-01-01"]])
    os.replace(tmp, broken)
    rejected_dir = paths.landing / "_rejected" / "customer"
    reports = wait_for(
        "the malformed file to be moved aside",
        lambda: (
            sorted(rejected_dir.glob("*customer_broken_upload.csv.report.json"))
            if rejected_dir.exists()
            else None
        ),
    )
    report = reports[0].read_text(encoding="utf-8")
    assert "schema drift" in report and "missing columns" in report
    assert not broken.exists()
    assert counts(paths) == before


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
