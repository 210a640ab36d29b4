"""The daemon's recovery sensor: killed run workers under `dagster dev` are failed.

The fast test fakes daemon-launched runs the way DefaultRunLauncher records them (no
build tags, the worker's pid in a "Started process for run (pid: N)" engine event) on a
real instance; the slow test SIGKILLs a real run worker under a real `dagster dev`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import dagster as dg
from dagster import DagsterInstance
from dagster._core.events import (
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    EngineEventData,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from fs_assets.definitions import defs
from fs_assets.lineage.emitter import EVENTS_FILE
from fs_assets.paths import DataPaths
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource
from sensors import ALL_SENSORS
from sensors.recovery_sensor import RECOVERY_INTERVAL_S, recovery_sensor

JOB = "__ASSET_JOB"
STEP = "raw__transaction"


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _daemon_run(instance: DagsterInstance, pid: int, events_at: float) -> str:
    """A STARTED run as the default run launcher leaves it when its worker dies inside a
    step: no fs-accelerator tags, the worker's pid in an engine event, the step started
    and never ended; its events written at `events_at`."""
    run_id = str(uuid.uuid4())
    instance.add_run(
        DagsterRun(job_name=JOB, run_id=run_id, status=DagsterRunStatus.STARTED, tags={})
    )
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


def _hold_slot(instance: DagsterInstance, run_id: str) -> None:
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, STEP).is_claimed


def _holders(instance: DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {slot.run_id for slot in info.claimed_slots}


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
        resources={"warehouse": WarehouseResource(home=str(paths.home))},
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
        dead = _daemon_run(instance, _dead_pid(), long_ago)
        # pid 1 is alive and older than any run: a worker still executing, its log quiet.
        alive = _daemon_run(instance, 1, long_ago)
        # A dead pid whose run still writes events (a step process that outlived it).
        busy = _daemon_run(instance, _dead_pid(), time.time())
        _hold_slot(instance, dead)

        message = _tick(instance, home)

        assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == DagsterRunStatus.STARTED
        assert instance.get_run_by_id(busy).status == DagsterRunStatus.STARTED
        assert f"recovered run {dead}: its process" in message
        assert "slot freed" in message
        assert alive not in message and busy not in message
        assert _holders(instance) == set()
        failure = instance.get_records_for_run(dead, of_type=DagsterEventType.RUN_FAILURE)
        assert "recovery_sensor" in failure.records[0].event_log_entry.dagster_event.message
        fails = _lineage_fails(home)
        assert fails[JOB] == dead, fails
        step_fails = [job for job, run_id in fails.items() if job != JOB and run_id == dead]
        assert step_fails and all("transaction" in job for job in step_fails), fails

        # The next tick finds nothing more to do, and says so.
        assert _tick(instance, home) == "no dead runs"
