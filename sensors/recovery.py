"""Runs whose process died: found at build start (and by the daemon's recovery_sensor),
marked failed, their pool slots freed.

A build killed with SIGKILL leaves its Dagster run STARTED with the one
`duckdb_warehouse` slot claimed, and every later build would wait for that slot forever.
A run counts as dead only when both hold: its process is gone (the run's pid, from the
build's tags or the executor's engine events, is not alive, is a zombie, or now belongs to
a process younger than the run) and the run has written no event for `quiet_s` seconds
(step processes that outlived their parent may still be writing). Runs of another host,
or without a known pid, are left alone; the daemon's run monitoring (dagster.yaml) covers
those it can.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._utils.error import SerializableErrorInfo

PID_TAG = "fs-accelerator/pid"
HOST_TAG = "fs-accelerator/host"
DEFAULT_QUIET_S = 5.0
IN_FLIGHT = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
_PROC = Path("/proc")


def run_identity_tags() -> dict[str, str]:
    """Tags a build puts on its runs so that a later build can tell whether it died."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None (no such process)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _boot_time() -> float:
    for line in (_PROC / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


def pid_alive(pid: int, since: float | None = None) -> bool:
    """Whether `pid` is a live process that existed at `since` (epoch s; None: any age).

    Zombies count as dead; a process started after `since` is a reused pid, so dead too.
    Without /proc (not Linux), only existence is checked.
    """
    if pid <= 0:
        return False
    if not _PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    fields = _proc_stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    if since is None:
        return True
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since + 1.0


@dataclass(frozen=True)
class RunProcess:
    """Where a run's process ran: pid, host (None: this instance's host) and since when."""

    pid: int
    host: str | None
    since: float | None


def run_process(instance: DagsterInstance, run: DagsterRun) -> RunProcess | None:
    """The run's process: the build's tags, else the first engine event naming a pid
    (for runs of the default run launcher, its worker's "Started process for run")."""
    if PID_TAG in run.tags:
        record = instance.get_run_record_by_id(run.run_id)
        since = record.create_timestamp.timestamp() if record else None
        return RunProcess(int(run.tags[PID_TAG]), run.tags.get(HOST_TAG), since)
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data if event else None
        metadata = getattr(data, "metadata", None) or {}
        if "pid" in metadata:
            return RunProcess(int(metadata["pid"].value), None, record.timestamp)
    return None


def last_event_at(instance: DagsterInstance, run_id: str) -> float | None:
    records = instance.get_records_for_run(run_id, limit=1, ascending=False).records
    return records[0].timestamp if records else None


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    status: str
    pid: int
    quiet_s: float


def find_dead_runs(instance: DagsterInstance, quiet_s: float = DEFAULT_QUIET_S) -> list[DeadRun]:
    """In-flight runs of this host whose process is gone and whose event log is quiet."""
    host = socket.gethostname()
    dead = []
    for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)):
        proc = run_process(instance, run)
        if proc is None or (proc.host is not None and proc.host != host):
            continue
        if proc.pid == os.getpid() or pid_alive(proc.pid, proc.since):
            continue
        last = last_event_at(instance, run.run_id) or 0.0
        silent = time.time() - last
        if silent >= quiet_s:
            dead.append(DeadRun(run.run_id, run.status.value, proc.pid, silent))
    return dead


@dataclass
class RecoveryReport:
    failed: list[DeadRun] = field(default_factory=list)
    slots_freed: list[str] = field(default_factory=list)  # run ids

    def lines(self) -> list[str]:
        out = [
            f"recovered run {d.run_id}: its process {d.pid} is gone ({d.status}, "
            f"silent {d.quiet_s:.0f}s); marked failed, its warehouse slot freed"
            for d in self.failed
        ]
        dead_ids = {d.run_id for d in self.failed}
        out += [
            f"freed the pool slot still held by finished run {run_id}"
            for run_id in self.slots_freed
            if run_id not in dead_ids
        ]
        return out


def _mark_failed(instance: DagsterInstance, run: DagsterRun, dead: DeadRun, by: str) -> None:
    message = (
        f"The run's process (pid {dead.pid}) is gone and the run wrote nothing for "
        f"{dead.quiet_s:.0f}s: it was killed. Marked failed by {by}."
    )
    if run.status == DagsterRunStatus.CANCELING:
        instance.report_run_canceled(run, message)
        return
    error = SerializableErrorInfo(message=message, stack=[], cls_name="RunWorkerGone")
    instance.report_run_failed(
        run,
        message,
        JobFailureData(error=error, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
    )


def free_orphaned_slots(instance: DagsterInstance) -> list[str]:
    """Free pool slots held by runs that finished or no longer exist; their run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    freed = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed


def recover(
    instance: DagsterInstance,
    *,
    quiet_s: float = DEFAULT_QUIET_S,
    emit_lineage: Callable[[str], object] | None = None,
    by: str = "`fs-accelerator build`",
) -> RecoveryReport:
    """Fail the dead runs, free every slot no live run holds, emit their lineage FAIL.

    `by` names the caller in the failure message (the build, or the daemon's sensor).
    """
    report = RecoveryReport()
    for dead in find_dead_runs(instance, quiet_s):
        run = instance.get_run_by_id(dead.run_id)
        if run is None or run.is_finished:
            continue
        _mark_failed(instance, run, dead, by)
        instance.event_log_storage.free_concurrency_slots_for_run(dead.run_id)
        report.failed.append(dead)
        if emit_lineage is not None:
            emit_lineage(dead.run_id)
    report.slots_freed = free_orphaned_slots(instance)
    return report
