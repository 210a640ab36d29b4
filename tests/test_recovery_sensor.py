"""The daemon's recovery sensor: killed run workers under `dagster dev` are failed.

The fast test fakes daemon-launched runs the way DefaultRunLauncher records them (no
build tags, the worker's pid in a "Started process for run (pid: N)" engine event) on a
real instance; the slow test SIGKILLs a real run worker under a real `dagster dev`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster import DagsterInstance
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    EngineEventData,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.storage.tags import RUN_KEY_TAG, SENSOR_NAME_TAG
from dagster_dev import Dagster, running_dagster_dev, wait_for

from fs_assets.definitions import defs
from fs_assets.lineage.emitter import EVENTS_FILE
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import connect_with_retry
from resources.lineage_sink import LineageSinkResource
from sensors import ALL_SENSORS
from sensors.landing_retry import RETRY_SUFFIX
from sensors.recovery import PID_TAG, pid_alive, run_process
from sensors.recovery_sensor import RECOVERY_INTERVAL_S, recovery_sensor
from tests.pool_runs import JOB, add_run, dead_pid, hold_slot, holders

STEP = "raw__transaction"


def _daemon_run(instance: DagsterInstance, pid: int, events_at: float) -> str:
    """A STARTED run as the default run launcher leaves it when its worker dies inside a
    step: no fs-accelerator tags, the worker's pid in an engine event, the step started
    and never ended; its events written at `events_at`."""
    run_id = add_run(instance, DagsterRunStatus.STARTED, {})
    events = [
        DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=JOB),
        DagsterEvent(
            event_type_value=DagsterEventType.ASSET_MATERIALIZATION_PLANNED.value,
            job_name=JOB,
            step_key=STEP,
            event_specific_data=AssetMaterializationPlannedData(
                dg.AssetKey(["raw", "transaction"])
            ),
        ),
        DagsterEvent(
            event_type_value=DagsterEventType.ENGINE_EVENT.value,
            job_name=JOB,
            message=f"Started process for run (pid: {pid}).",
            event_specific_data=EngineEventData.in_process(pid),
        ),
        DagsterEvent(
            event_type_value=DagsterEventType.STEP_START.value, job_name=JOB, step_key=STEP
        ),
    ]
    for event in events:
        instance.report_dagster_event(event, run_id=run_id, timestamp=events_at)
    return run_id


def _live_writer(instance: DagsterInstance) -> str:
    """Another writer's run, in flight and alive (this test's process): no recovery may
    free the slot it takes. A slot claimed for a run id the instance lacks is an orphan,
    and the recovery sensor's first tick frees it."""
    run_id = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid())})
    hold_slot(instance, run_id, STEP)
    return run_id


def _lineage_fails(paths: DataPaths) -> dict[str, str]:
    """The FAIL events in the lineage file: job name -> the Dagster run id it belongs to
    (its own run id for the run's event, the parent's for a step's)."""
    path = paths.lineage / EVENTS_FILE
    if not path.exists():
        return {}
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {
        e["job"]["name"]: e["run"]["facets"].get("parent", {}).get("run", {}).get("runId")
        or e["run"]["runId"]
        for e in events
        if e["eventType"] == "FAIL"
    }


def _tick(instance: DagsterInstance, paths: DataPaths) -> str:
    context = dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        resources={"lineage_sink": LineageSinkResource(home=str(paths.home))},
    )
    result = recovery_sensor(context)
    assert isinstance(result, dg.SkipReason)
    return result.skip_message or ""


def test_recovery_sensor_is_registered_on_and_frequent() -> None:
    assert recovery_sensor in ALL_SENSORS
    assert "recovery_sensor" in {sensor.name for sensor in defs.sensors}
    assert recovery_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert RECOVERY_INTERVAL_S <= 60


def test_sensor_fails_a_killed_daemon_run_and_leaves_live_ones(home: DataPaths) -> None:
    long_ago = time.time() - 120
    with DagsterInstance.get() as instance:
        dead = _daemon_run(instance, dead_pid(), long_ago)
        # pid 1 is alive and older than any run: a worker still executing, its log quiet.
        alive = _daemon_run(instance, 1, long_ago)
        # A dead pid whose run still writes events (a step process that outlived it).
        busy = _daemon_run(instance, dead_pid(), time.time())
        hold_slot(instance, dead, STEP)

        message = _tick(instance, home)

        assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == DagsterRunStatus.STARTED
        assert instance.get_run_by_id(busy).status == DagsterRunStatus.STARTED
        assert f"recovered run {dead}: its process" in message
        assert "slot freed" in message
        assert alive not in message and busy not in message
        assert holders(instance) == set()
        failure = instance.get_records_for_run(dead, of_type=DagsterEventType.RUN_FAILURE)
        assert "recovery_sensor" in failure.records[0].event_log_entry.dagster_event.message
        fails = _lineage_fails(home)
        assert fails[JOB] == dead, fails
        step_fails = [job for job, run_id in fails.items() if job != JOB and run_id == dead]
        assert step_fails and all("transaction" in job for job in step_fails), fails

        # The next tick finds nothing more to do, and says so.
        assert _tick(instance, home) == "no dead runs"


def test_sensor_leaves_runs_of_other_run_launchers_alone(home: DataPaths) -> None:
    """Another launcher's workers run elsewhere (containers, pods): a pid in their events
    says nothing about a process on this machine, so no run is failed on it."""
    launcher = {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
        run_id = _daemon_run(instance, dead_pid(), time.time() - 120)
        message = _tick(instance, home)
        assert "MockedRunLauncher" in message and "nothing done" in message
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED


# -- end to end under `dagster dev` --------------------------------------------------------

RECOVERED_WITHIN_S = 120
LAUNCH = """
mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""


def _launch(client: Dagster, *path: str) -> str:
    """Materialize one asset through the UI's API, as the Materialize button does."""
    data = client.query(
        "{ repositoriesOrError { ... on RepositoryConnection {"
        " nodes { name location { name } } } } }"
    )
    repo = data["repositoriesOrError"]["nodes"][0]
    params = {
        "selector": {
            "repositoryLocationName": repo["location"]["name"],
            "repositoryName": repo["name"],
            "jobName": JOB,
            "assetSelection": [{"path": list(path)}],
        },
        "mode": "default",
        "executionMetadata": {"tags": []},
    }
    result = client.query(LAUNCH, p=params)["launchRun"]
    assert result["__typename"] == "LaunchRunSuccess", result
    return result["run"]["runId"]


def _status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus | None:
    run = instance.get_run_by_id(run_id)
    return run.status if run else None


def _worker_pid(instance: DagsterInstance, run_id: str) -> int | None:
    """The run worker's pid as DefaultRunLauncher records it."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ENGINE_EVENT).records
    for record in records:
        message = record.event_log_entry.dagster_event.message or ""
        if message.startswith("Started process for run (pid: "):
            return int(message.removeprefix("Started process for run (pid: ").split(")")[0])
    return None


@pytest.mark.slow
def test_daemon_recovers_a_run_killed_with_dagster_dev(built: DataPaths, tmp_path: Path) -> None:
    """SIGKILL `dagster dev` (webserver, daemon, code server and the run worker) while a
    UI-launched run's step holds the warehouse slot: nothing is left to fail that run, so
    it stays STARTED holding the slot. The restarted daemon's recovery sensor fails it,
    frees the slot, emits its lineage FAIL, and the next run from the UI succeeds.

    (A worker killed alone is failed by its code server, which watches its children; the
    sensor is what covers a code server that died with it.)"""
    paths = built
    shutil.move(paths.landing, tmp_path / "archived_landing")
    paths.landing.mkdir()
    log = tmp_path / "dagster_dev.log"
    with DagsterInstance.get() as instance:
        with running_dagster_dev(paths, log) as client:
            assert client.process is not None
            proc = client.process
            # Another process holds the DuckDB file, so the step waits inside the slot for
            # as long as the test needs (a deterministic "long step").
            holder = duckdb.connect(str(paths.warehouse))
            try:
                run_id = _launch(client, "mastered", "transaction")
                wait_for(
                    "the run's step to hold the warehouse slot",
                    lambda: run_id in holders(instance),
                    timeout=240,
                )
                pid = wait_for("the run worker's pid", lambda: _worker_pid(instance, run_id), 60)
                process = run_process(instance, instance.get_run_by_id(run_id))
                assert process is not None and process.pid == pid, "recovery sees the worker's pid"
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            finally:
                holder.close()
        wait_for("the run worker to be gone", lambda: not pid_alive(pid, process.since), 30)
        assert _status(instance, run_id) == DagsterRunStatus.STARTED
        assert run_id in holders(instance)

        restarted_at = time.monotonic()
        with running_dagster_dev(paths, log) as client:
            wait_for(
                "the recovery sensor to fail the killed run",
                lambda: _status(instance, run_id) == DagsterRunStatus.FAILURE,
                timeout=RECOVERED_WITHIN_S,
            )
            recovered_s = time.monotonic() - restarted_at
            sys.stderr.write(
                f"killed run failed {recovered_s:.0f}s after `dagster dev` restarted\n"
            )
            failure = instance.get_records_for_run(run_id, of_type=DagsterEventType.RUN_FAILURE)
            message = failure.records[0].event_log_entry.dagster_event.message
            assert f"pid {pid}" in message and "recovery_sensor" in message, message
            assert run_id not in holders(instance)
            wait_for("the run's lineage FAIL", lambda: _lineage_fails(paths).get(JOB) == run_id, 60)

            next_run = _launch(client, "mastered", "transaction")
            finished = (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)
            wait_for("the next run to end", lambda: _status(instance, next_run) in finished, 300)
            assert _status(instance, next_run) == DagsterRunStatus.SUCCESS
            assert holders(instance) == set()


def _landing_runs(instance: DagsterInstance) -> list[DagsterRun]:
    """The landing sensor's runs, oldest first."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={SENSOR_NAME_TAG: "landing_sensor"}))
    return sorted(runs, key=lambda run: instance.get_run_record_by_id(run.run_id).create_timestamp)


INGESTED_SQL = "select count(*) from meta.ingest_ledger where file_name = ? and status = 'ingested'"


def _in_ledger(paths: DataPaths, name: str) -> bool:
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        (count,) = conn.execute(INGESTED_SQL, [name]).fetchone()
    finally:
        conn.close()
    return count == 1


@pytest.mark.slow
def test_a_landed_file_whose_run_was_killed_is_requested_again(
    built: DataPaths, tmp_path: Path
) -> None:
    """What a CI run showed: the landing sensor's run for a new file waits for the
    warehouse and its worker dies there. That run is failed, and the sensor requests the
    file again (a new run key), which lands it once the warehouse is free; nobody clicks.

    The run is held at two fixed points, so the kill always finds it waiting: queued while
    a live writer holds the pool slot (the run queue does not launch it), then, once the
    slot is freed, inside its step while this test holds the DuckDB file (the step waits
    for the lock)."""
    paths = built
    archived = tmp_path / "archived_landing"
    shutil.move(paths.landing, archived)
    (paths.landing / "customer").mkdir(parents=True)
    source = sorted((archived / "customer").glob("*.csv"))[0]
    landed = paths.landing / "customer" / "late 'copy' [1].csv"
    log = tmp_path / "dagster_dev.log"
    with DagsterInstance.get() as instance:
        blocker = _live_writer(instance)  # the one warehouse slot is taken by another writer
        with running_dagster_dev(paths, log):
            landed.write_bytes(source.read_bytes() + b"\n")  # new bytes, known rows
            landed.with_name(landed.name + ".done").touch()
            first = wait_for("the sensor's run", lambda: _landing_runs(instance), 120)[0]
            queued = DagsterRunStatus.QUEUED  # the run queue holds it behind the live writer
            wait_for("the run queued", lambda: _status(instance, first.run_id) == queued, 60)
            writer = connect_with_retry(paths.warehouse, timeout_s=60)  # the file is ours
            try:
                instance.event_log_storage.free_concurrency_slots_for_run(blocker)
                instance.delete_run(blocker)  # the other writer is done: the run launches
                pid = wait_for("its worker's pid", lambda: _worker_pid(instance, first.run_id))
                os.kill(pid, signal.SIGKILL)
                ended = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)
                wait_for(
                    "the killed run to be failed",
                    lambda: _status(instance, first.run_id) in ended,
                    RECOVERED_WITHIN_S,
                )
                assert writer.execute(INGESTED_SQL, [landed.name]).fetchone() == (0,)
            finally:
                writer.close()
            wait_for("the file in the ledger", lambda: _in_ledger(paths, landed.name), 300)
            runs = _landing_runs(instance)
            assert [run.tags[RUN_KEY_TAG] for run in runs] == [
                first.tags[RUN_KEY_TAG],
                f"{first.tags[RUN_KEY_TAG]}{RETRY_SUFFIX}1",
            ]
            wait_for(
                "the retry to succeed",
                lambda: _status(instance, runs[1].run_id) == DagsterRunStatus.SUCCESS,
                120,
            )
