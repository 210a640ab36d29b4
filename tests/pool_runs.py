"""Runs and warehouse pool slots planted in a Dagster instance: the other writers, dead or
alive, that the recovery tests put beside a build."""

from __future__ import annotations

import subprocess
import sys
import uuid

from dagster import DagsterInstance
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from resources.warehouse import WAREHOUSE_POOL

JOB = "__ASSET_JOB"  # the job of every asset run


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def add_run(instance: DagsterInstance, status: DagsterRunStatus, tags: dict[str, str]) -> str:
    """A run of JOB with `status` and `tags` (e.g. a worker's pid); its id."""
    run_id = str(uuid.uuid4())
    instance.add_run(DagsterRun(job_name=JOB, run_id=run_id, status=status, tags=tags))
    return run_id


def hold_slot(instance: DagsterInstance, run_id: str, step_key: str) -> None:
    """`run_id`'s step takes the warehouse pool's one slot."""
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, step_key).is_claimed


def holders(instance: DagsterInstance) -> set[str]:
    """The runs holding a warehouse pool slot."""
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return {slot.run_id for slot in info.claimed_slots}
