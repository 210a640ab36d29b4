"""One build run under supervision: Ctrl-C, SIGTERM and a bounded wait for the pool slot.

Dagster's in-process executor, run on the main thread, swallows SIGINT/SIGTERM while a
step waits for a concurrency slot and loops on it forever. Here the run executes on a
worker thread and the main thread keeps the signals: on SIGINT/SIGTERM, or when the run
has waited longer than the timeout for the `duckdb_warehouse` slot, the run is marked
CANCELING and interrupted (a step being computed fails as interrupted, the run ends
CANCELED), its slots are freed, and the build stops with one line saying why. While the
run waits for the slot, a line every few seconds says who holds it and for how long.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from dagster import DagsterInstance
from dagster._core.errors import DagsterExecutionInterruptedError

from fs_assets.transforms.duckdb_file import WAIT_TIMEOUT_S
from resources.warehouse import WAREHOUSE_POOL

T = TypeVar("T")
WAIT_TIMEOUT_ENV = "FS_ACCELERATOR_WAIT_TIMEOUT_S"
POLL_S = 0.5
# Each look at the slot opens Dagster's index database under the lock the run's own events
# take (about 0.1 s under load): every 2 s, not at every poll.
SLOT_POLL_S = 2.0
REPORT_EVERY_S = 10.0
STOP_GRACE_S = 30.0  # after an interrupt, how long the run may take to wind down
INTERRUPT_EVERY_S = 5.0  # re-raise in a worker that was inside a DuckDB call the first time
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class BuildStopped(Exception):
    """The build stopped before its runs finished; `str()` is the one line to show."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def wait_timeout_s() -> float:
    """How long a run may wait for the warehouse slot: $FS_ACCELERATOR_WAIT_TIMEOUT_S."""
    raw = os.environ.get(WAIT_TIMEOUT_ENV, "").strip()
    if not raw:
        return WAIT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise BuildStopped(f"{WAIT_TIMEOUT_ENV}={raw!r} is not a number of seconds", 2) from None
    if value <= 0:
        raise BuildStopped(f"{WAIT_TIMEOUT_ENV} must be positive, not {raw!r}", 2)
    return value


def slot_holders(instance: DagsterInstance, run_id: str) -> list[str] | None:
    """'run <id> (step <key>)' for each other run holding the slot our run waits for;
    None when our run is not waiting."""
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    if run_id not in info.pending_run_ids:
        return None
    return [
        f"run {slot.run_id} (step {slot.step_key})"
        for slot in info.claimed_slots
        if slot.run_id != run_id
    ]


def _interrupt(thread: threading.Thread) -> None:
    """Raise DagsterExecutionInterruptedError inside `thread` at its next Python bytecode."""
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(DagsterExecutionInterruptedError)
        )


class _Signals:
    """SIGINT/SIGTERM recorded for the main thread's loop (handlers restored on exit)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._saved: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_CODES:
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


class _WaitClock:
    """How long the run has waited for the slot, and the lines saying so."""

    def __init__(self, timeout_s: float, out: TextIO):
        self.timeout_s, self.out = timeout_s, out
        self.since: float | None = None
        self.reported_at = 0.0
        self.holders: list[str] = []
        self.reported = False

    def update(self, holders: list[str] | None) -> bool:
        """Record one observation; True when the wait has exceeded the timeout."""
        now = time.monotonic()
        self.reported = False
        if holders is None:
            self.since = None
            return False
        self.holders = holders or self.holders
        if self.since is None:
            self.since, self.reported_at = now, 0.0
        waited = now - self.since
        if now - self.reported_at >= REPORT_EVERY_S:
            self.reported_at, self.reported = now, True
            who = ", ".join(self.holders) or "another run"
            self.out.write(
                f"waiting for the {WAREHOUSE_POOL} slot held by {who} "
                f"({waited:.0f} s of {self.timeout_s:.0f} s)\n"
            )
            self.out.flush()
        return waited >= self.timeout_s


def run_guarded(
    instance: DagsterInstance,
    run_id: str,
    execute: Callable[[], T],
    *,
    timeout_s: float,
    out: TextIO = sys.stdout,
    while_waiting: Callable[[], None] | None = None,
) -> T:
    """Execute one run on a worker thread, stopping it on a signal or a slot-wait timeout.

    `while_waiting` is called each time the wait is reported (the build fails dead runs
    there, so a run killed meanwhile frees the slot without a restart)."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["result"] = execute()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=work, name=f"run-{run_id[:8]}", daemon=True)
    clock = _WaitClock(timeout_s, out)
    with _Signals() as signals:
        worker.start()
        slot_due = time.monotonic() + SLOT_POLL_S
        while worker.is_alive():
            worker.join(POLL_S)
            if signals.received:
                sig = signal.Signals(signals.received[0])
                why = f"stopped by {sig.name}"
                _stop(instance, run_id, worker, why, signals)
                raise BuildStopped(f"build {why}: run {run_id} canceled", EXIT_CODES[sig])
            if not worker.is_alive() or time.monotonic() < slot_due:
                continue
            slot_due = time.monotonic() + SLOT_POLL_S
            if clock.update(slot_holders(instance, run_id)):
                who = ", ".join(clock.holders) or "another run"
                _stop(instance, run_id, worker, "slot wait timed out", signals)
                raise BuildStopped(
                    f"gave up after {timeout_s:.0f} s waiting for the {WAREHOUSE_POOL} slot "
                    f"held by {who}: let that run finish (see the UI), or, if its process is "
                    f"gone, run the build again (it fails dead runs at start) or delete it "
                    f"with `dagster run delete <id>`; {WAIT_TIMEOUT_ENV} sets the wait"
                )
            if clock.reported and while_waiting is not None:
                while_waiting()
    if signals.received:  # arrived as the run ended: no further run starts
        sig = signal.Signals(signals.received[0])
        raise BuildStopped(f"build stopped by {sig.name} after run {run_id}", EXIT_CODES[sig])
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _stop(
    instance: DagsterInstance,
    run_id: str,
    worker: threading.Thread,
    why: str,
    signals: _Signals,
) -> None:
    """Cancel the run: CANCELING, interrupt the worker, wait a bounded time, free slots."""
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceling(run, f"fs-accelerator build: {why}")
    # Dagster's console logger prints the cancellation with its traceback; it is left
    # alone (the compute log manager owns fds 1 and 2 during the run), our line comes last.
    _wind_down(instance, run_id, worker, signals)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, f"fs-accelerator build: {why}; run abandoned")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)


def _wind_down(
    instance: DagsterInstance, run_id: str, worker: threading.Thread, signals: _Signals
) -> None:
    """Interrupt the worker until the run ends, for at most STOP_GRACE_S (or a 2nd signal)."""
    seen = len(signals.received)
    started = time.monotonic()
    interrupted_at = -INTERRUPT_EVERY_S
    while worker.is_alive() and time.monotonic() - started < STOP_GRACE_S:
        if len(signals.received) > seen:  # asked again: stop waiting for the run
            break
        current = instance.get_run_by_id(run_id)
        winding_down = current is not None and current.is_finished
        if not winding_down and time.monotonic() - interrupted_at >= INTERRUPT_EVERY_S:
            _interrupt(worker)  # lands when the worker is back in Python code
            interrupted_at = time.monotonic()
        worker.join(POLL_S)
