"""After the main command the UI opens quiet; one landed file starts exactly its runs.

The real `dagster dev` (webserver + daemon + code server) on a data folder built by
`fs-accelerator build`, its landing files still in place: the sensors tick several times
and start nothing. Then one customer change file lands: the landing sensor starts one
raw.customer run, declarative automation refreshes what depends on it, each asset (and
partition) once, every run succeeds and so do the mastered checks of the automation's
run. Then a malformed file lands: it is moved aside with a report, and nothing changes.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster import DagsterEventType, DagsterRunStatus
from dagster_dev import (
    AUTOMATION_INTERVAL_S,
    Dagster,
    mastered_value,
    running_dagster_dev,
    update_risk_of_first_personal_customer,
    wait_for,
    warehouse_counts,
)

from fs_assets.definitions import defs
from fs_assets.model.paths import DataPaths
from sensors import AUTOMATION_INTERVAL_ENV

LOCATION = "fs_accelerator"
QUIET_TICKS = {"landing_sensor": 4, "automation_sensor": 3}  # 20 s and 15 s of ticks at least
SETTLED_TICKS = 3  # automation ticks after the last run ended, with nothing new started
INTERVAL = (
    "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {"
    " ... on Sensor { minIntervalSeconds } } }"
)
TICKS = (
    "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {"
    " ... on Sensor { sensorState { ticks(limit: 200) { status timestamp skipReason } } } } }"
)
RAW_CUSTOMER = dg.AssetKey(["raw", "customer"])
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def selector(sensor: str) -> dict[str, str]:
    return {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": sensor,
    }


def ticks(client: Dagster, sensor: str) -> list[dict]:
    """The sensor's finished ticks (not the one in progress), newest first."""
    data = client.query(TICKS, s=selector(sensor))
    return [t for t in data["sensorOrError"]["sensorState"]["ticks"] if t["status"] != "STARTED"]


def runs_since(known: set[str]) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.get() as instance:
        return [r for r in instance.get_runs() if r.run_id not in known]


def backfills() -> list:
    with dg.DagsterInstance.get() as instance:
        return list(instance.get_backfills())


def materialized(run_ids: list[str]) -> Counter:
    """(asset, partition) -> how many times the runs materialized it."""
    seen: Counter = Counter()
    with dg.DagsterInstance.get() as instance:
        for run_id in run_ids:
            records = instance.get_records_for_run(
                run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
            ).records
            for record in records:
                event = record.event_log_entry.dagster_event
                seen[(event.asset_key, event.partition)] += 1
    return seen


def expected_refresh() -> set[tuple[dg.AssetKey, str | None]]:
    """raw.customer, and every asset below it that declarative automation keeps fresh."""
    graph = defs.resolve_asset_graph()
    expected = {(RAW_CUSTOMER, None)}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.automation_condition is None or RAW_CUSTOMER not in (
            graph.get_ancestor_asset_keys(key)
        ):
            continue
        partitions = node.partitions_def.get_partition_keys() if node.partitions_def else [None]
        expected |= {(key, p) for p in partitions}
    return expected


@pytest.mark.slow
def test_ui_opens_quiet_then_a_landed_file_starts_only_its_runs(
    built: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with dg.DagsterInstance.get() as instance:
        build_runs = {r.run_id for r in instance.get_runs()}
    assert build_runs and list(built.landing.rglob("*.csv"))  # built, files still landed

    monkeypatch.setenv(AUTOMATION_INTERVAL_ENV, str(AUTOMATION_INTERVAL_S))
    with running_dagster_dev(built, tmp_path / "dagster_dev.log") as client:
        sensor = client.query(INTERVAL, s=selector("automation_sensor"))["sensorOrError"]
        assert sensor["minIntervalSeconds"] == AUTOMATION_INTERVAL_S
        wait_for(
            f"sensor ticks {QUIET_TICKS}",
            lambda: all(len(ticks(client, s)) >= n for s, n in QUIET_TICKS.items()),
            timeout=420,
        )
        assert runs_since(build_runs) == [] and backfills() == []
        landing = ticks(client, "landing_sensor")
        assert {t["status"] for t in landing} == {"SKIPPED"}, landing
        assert any("already ingested" in (t["skipReason"] or "") for t in landing), landing
        assert {t["status"] for t in ticks(client, "automation_sensor")} == {"SKIPPED"}

        cust_id, new_risk = update_risk_of_first_personal_customer(built)

        def settled() -> list[dg.DagsterRun] | None:
            runs = runs_since(build_runs)
            if not runs or any(r.status not in FINISHED for r in runs):
                return None
            if any(not b.status.name.startswith("COMPLETED") for b in backfills()):
                return None
            with dg.DagsterInstance.get() as instance:
                ended = max(instance.get_run_record_by_id(r.run_id).end_time for r in runs)
            after = [t for t in ticks(client, "automation_sensor") if t["timestamp"] > ended]
            return runs if len(after) >= SETTLED_TICKS else None

        runs = wait_for("the refresh to finish and stay finished", settled, timeout=900)
        assert mastered_value(built, cust_id, "customer_risk_category") == new_risk
        mastered_run = client.latest_materialization_run("mastered", "customer")
        assert client.run_tags(mastered_run).get("dagster/sensor_name") == "automation_sensor"
        checks = client.check_executions("mastered", "customer")
        assert {"key_unique", "valid_customer_risk_category", "reconciles_with_raw"} <= set(checks)
        assert {s for s, _ in checks.values()} == {"SUCCEEDED"}, checks
        assert {r for _, r in checks.values()} == {mastered_run}, checks

        # A malformed file: moved aside with a report, the warehouse unchanged.
        before = warehouse_counts(built)
        broken = built.landing / "customer" / "customer_broken_upload.csv"
        tmp = broken.with_name("." + broken.name + ".tmp")
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(
                [["", "Cust Id", "Cust Dob"], ["0", cust_id, "1990-01-01"]]
            )
        os.replace(tmp, broken)
        rejected_dir = built.landing / "_rejected" / "customer"
        reports = wait_for(
            "the malformed file to be moved aside",
            lambda: sorted(rejected_dir.glob("*customer_broken_upload.csv.report.json")) or None,
        )
        report = reports[0].read_text(encoding="utf-8")
        assert "schema drift" in report and "missing columns" in report
        assert not broken.exists()
        assert warehouse_counts(built) == before

    assert [r.status for r in runs] == [DagsterRunStatus.SUCCESS] * len(runs)
    by_sensor = Counter(r.tags.get("dagster/sensor_name") for r in runs)
    landing_runs = [r for r in runs if r.tags.get("dagster/sensor_name") == "landing_sensor"]
    assert len(landing_runs) == 1, by_sensor
    assert landing_runs[0].asset_selection == {RAW_CUSTOMER}
    others = [r for r in runs if r not in landing_runs]
    assert others and all(
        r.tags.get("dagster/sensor_name") == "automation_sensor" or "dagster/backfill" in r.tags
        for r in others
    ), [r.tags for r in others]
    refreshed = materialized([r.run_id for r in runs])
    assert {k for k, n in refreshed.items() if n > 1} == set()  # each asset/partition once
    expected = expected_refresh()
    assert set(refreshed) == expected, (
        f"not refreshed: {sorted(map(str, expected - set(refreshed)))}; "
        f"refreshed unexpectedly: {sorted(map(str, set(refreshed) - expected))}"
    )
