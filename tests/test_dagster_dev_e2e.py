"""End to end on the real Dagster processes: `dagster dev` (webserver + daemon) in a
subprocess, driven through its GraphQL API, refreshing the data product from landing files.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests

from fs_assets.paths import PROJECT_ROOT, DataPaths
from resources.warehouse import connect_with_retry

BIN = Path(sys.executable).parent
DEADLINE_S = 420


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = probe()
        except (requests.RequestException, duckdb.Error) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


class Dagster:
    """A GraphQL client for the webserver under test."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def query(self, text: str, **variables: Any) -> dict:
        response = requests.post(self.url, json={"query": text, "variables": variables}, timeout=30)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def latest_materialization_run(self, *path: str) -> str | None:
        data = self.query(
            "query($k: AssetKeyInput!) { assetOrError(assetKey: $k) {"
            " ... on Asset { assetMaterializations(limit: 1) { runId } } } }",
            k={"path": list(path)},
        )
        events = data["assetOrError"].get("assetMaterializations") or []
        return events[0]["runId"] if events else None

    def run_tags(self, run_id: str) -> dict[str, str]:
        data = self.query(
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { tags { key value } } } }",
            id=run_id,
        )
        return {t["key"]: t["value"] for t in data["runOrError"]["tags"]}

    def check_executions(self, *path: str) -> dict[str, tuple[str, str]]:
        data = self.query(
            "query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) { ... on AssetNode {"
            " assetChecksOrError { ... on AssetChecks { checks { name"
            " executionForLatestMaterialization { status runId } } } } } } }",
            k={"path": list(path)},
        )
        checks = data["assetNodeOrError"]["assetChecksOrError"]["checks"]
        return {
            c["name"]: (e["status"], e["runId"])
            for c in checks
            if (e := c["executionForLatestMaterialization"])
        }


@contextmanager
def running_dagster_dev(paths: DataPaths, log_path: Path) -> Iterator[Dagster]:
    """`dagster dev` (webserver + daemon) on the data folder, stopped with its group."""
    port = free_port()
    log = log_path.open("w")
    env = {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(paths.home),
        "DAGSTER_HOME": str(paths.dagster_home),
    }
    proc = subprocess.Popen(
        [
            str(BIN / "dagster"),
            "dev",
            "-w",
            str(PROJECT_ROOT / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Dagster(port)
    try:
        wait_for("the webserver", lambda: client.query("{ version }")["version"], 180)
        yield client
    finally:
        for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture
def dagster_dev(built: DataPaths, tmp_path: Path) -> Iterator[tuple[Dagster, DataPaths]]:
    """`dagster dev` on the built data folder; the landing zone starts empty (archived)."""
    shutil.move(built.landing, tmp_path / "archived_landing")
    built.landing.mkdir()
    with running_dagster_dev(built, tmp_path / "dagster_dev.log") as client:
        yield client, built


def mastered_value(paths: DataPaths, cust_id: str, column: str) -> Any:
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        row = conn.execute(
            f"select {column} from mastered.customer where cust_id = ?", [cust_id]
        ).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


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
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        cust_id, risk = conn.execute(
            "select cust_id, customer_risk_category from mastered.customer "
            "where customer_type = 'Personal' order by cust_id limit 1"
        ).fetchone()
    new_risk = "High" if risk != "High" else "Low"

    update = subprocess.run(
        [
            str(BIN / "fs-accelerator"),
            "update-customer",
            cust_id,
            "--set",
            f"customer_risk_category={new_risk}",
        ],
        env={**os.environ, "FS_ACCELERATOR_HOME": str(paths.home)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert update.returncode == 0, update.stderr

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
