"""Shared support for the end-to-end tests that run the real `dagster dev` (webserver and
daemon) on a temporary instance: start and stop it, query it, wait for what it does."""

from __future__ import annotations

import os
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
import requests

from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.transforms.duckdb_file import connect_with_retry

BIN = Path(sys.executable).parent
DEADLINE_S = 420
# The automation sensor's interval in these tests (the product's is 10 s): every 5 s, the
# daemon's fastest loop, so the automation ticks the tests wait for arrive sooner.
AUTOMATION_INTERVAL_S = 5


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
        self.process: subprocess.Popen | None = None  # `dagster dev`, when started here

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
    log = log_path.open("a")
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
    client.process = proc
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


def mastered_value(paths: DataPaths, cust_id: str, column: str) -> Any:
    """One column of one mastered customer (None if absent), read while builds may run."""
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        row = conn.execute(
            f"select {column} from mastered.customer where cust_id = ?", [cust_id]
        ).fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def warehouse_counts(paths: DataPaths) -> tuple[int, int, int]:
    """Rows of raw.customer, mastered.customer and quarantine.customer_rejects."""
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=120)
    try:
        return conn.execute(
            "select (select count(*) from raw.customer), (select count(*) from mastered.customer),"
            " (select count(*) from quarantine.customer_rejects)"
        ).fetchone()
    finally:
        conn.close()


def update_risk_of_first_personal_customer(paths: DataPaths) -> tuple[str, str]:
    """Run `fs-accelerator update-customer` on the first Personal customer, flipping its
    risk category; returns (cust_id, new risk)."""
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
    return cust_id, new_risk
