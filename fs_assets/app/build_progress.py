"""What `fs-accelerator build` shows: one progress display for the whole build, one summary.

A build is several Dagster runs (fs_assets/app/build.py says why); the user sees one list of
assets. A partitioned asset is one item that counts its partitions. On a terminal the
display is a single line rewritten in place; otherwise (a log file, CI) one plain line
per finished asset. Failed checks and steps are printed as they happen, in both modes.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import dagster as dg
from dagster import DagsterEventType, DagsterInstance

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo


@dataclass
class BuildReport:
    """What one `fs-accelerator build` did: its runs, assets, checks and lineage."""

    run_id: str
    success: bool
    run_ids: list[str] = field(default_factory=list)
    materialized: list[str] = field(default_factory=list)
    checks_passed: list[str] = field(default_factory=list)
    checks_failed: list[tuple[str, str]] = field(default_factory=list)  # (check, severity)
    step_failures: list[str] = field(default_factory=list)
    step_errors: dict[str, str] = field(default_factory=dict)  # step -> its error's first line
    lineage: list[str] = field(default_factory=list)  # one line per run: where events went
    lineage_events: int = 0  # delivered without failure, over all runs
    lineage_notes: list[str] = field(default_factory=list)  # failed or skipped deliveries
    seconds: float = 0.0
    planned: dict[str, int] = field(default_factory=dict)  # asset -> partitions (0: none)
    # mastered asset -> its quarantine counts, from the materialization's metadata
    quarantine: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # check -> what a failed one saw

    @property
    def blocking_failures(self) -> list[str]:
        return [c for c, sev in self.checks_failed if sev == "ERROR"]

    @property
    def ok(self) -> bool:
        return self.success and not self.blocking_failures


WATCHED = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
    DagsterEventType.STEP_FAILURE,
}
# The mastered assets' metadata that counts their quarantine (fs_assets/defs/mastered.py).
BAR_WIDTH = 24
POLL_S = 0.5
CLEAR_LINE = "\r\033[K"
WARN = "WARN"
# Materialization metadata of the mastered assets that the summary repeats, per entity.
QUARANTINE_COUNTS = ("rejected_rows", "pending_corrections", "keys_with_pending_correction")


# Dagster's notices about its own API maturity (beta, preview, superseded parameters):
# they concern the project's code, not the person running a build.
DAGSTER_NOTICES = (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning)


# A summary's error line is cut here: the whole trace is in the run's event log.
ERROR_LINE_LIMIT = 300


def step_error_line(error: SerializableErrorInfo | None, limit: int = ERROR_LINE_LIMIT) -> str:
    """What a failed step's own code raised (Dagster wraps it: the innermost cause), its
    first non-empty line cut at `limit` characters: what a summary shows (the whole
    trace is in the run's event log)."""
    while error is not None and error.cause is not None:
        error = error.cause
    lines = [line.strip() for line in (error.message if error else "").splitlines()]
    return next((line[:limit] for line in lines if line), "")


@contextmanager
def dagster_notices_hidden() -> Iterator[None]:
    """Within the block (or the decorated function), Dagster's API notices are not shown."""
    with warnings.catch_warnings():
        for category in DAGSTER_NOTICES:
            warnings.filterwarnings("ignore", category=category)
        yield


def label(key: dg.AssetKey) -> str:
    return ".".join(key.path)


def plan_items(graph, keys: list[dg.AssetKey]) -> dict[str, int]:
    """Asset label -> number of partitions the build writes (0: not partitioned)."""
    items = {}
    for key in keys:
        pdef = graph.get(key).partitions_def
        items[label(key)] = len(pdef.get_partition_keys()) if pdef is not None else 0
    return items


class BuildProgress:
    """Follows each run of the build through its event log and keeps one display."""

    def __init__(
        self,
        instance: DagsterInstance,
        items: dict[str, int],
        report: BuildReport,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.instance, self.items, self.report, self.out = instance, items, report, out
        self.clock = clock
        self.started = clock()
        self.tty = out.isatty()
        self.partitions: dict[str, set[str]] = {}
        self.done: list[str] = []
        self.current = ""
        self._drawn = False

    @contextmanager
    def watching(self, run_id: str) -> Iterator[None]:
        """Show the run's events while the block executes it; read the rest afterwards."""
        stop = threading.Event()
        cursor: list[str | None] = [None]

        def poll() -> None:
            while True:
                batch = self.instance.get_records_for_run(run_id, cursor=cursor[0], limit=1000)
                for record in batch.records:
                    self._handle(record.event_log_entry.dagster_event)
                cursor[0] = batch.cursor
                if not batch.has_more:
                    break
            if self.tty:
                self._draw()

        def watch() -> None:
            while not stop.is_set():
                poll()
                stop.wait(POLL_S)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
            poll()

    def finish(self) -> None:
        """End the display: the bar's last state stays on its line."""
        if self.tty and self._drawn:
            self._draw()
            self.out.write("\n")
            self.out.flush()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def _handle(self, event) -> None:
        if event is None or event.event_type not in WATCHED:
            return
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            self._materialized(label(event.asset_key), event.partition)
            self._quarantine_counts(label(event.asset_key), event)
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            name = f"{label(ev.asset_key)}:{ev.check_name}"
            if ev.passed:
                self.report.checks_passed.append(name)
            else:
                severity = ev.severity.value
                self.report.checks_failed.append((name, severity))
                if ev.description:
                    self.report.notes[name] = ev.description
                word = "warned" if severity == WARN else "FAILED"
                seen = f": {ev.description}" if ev.description else ""
                self._note(f"check {word} ({severity}) {name}{seen}")
        else:
            step = event.step_key or "?"
            said = step_error_line(getattr(event.event_specific_data, "error", None))
            self.report.step_failures.append(step)
            if said:
                self.report.step_errors[step] = said
            self._note(f"step FAILED {step}" + (f": {said}" if said else ""))

    def _quarantine_counts(self, name: str, event) -> None:
        """Keep the rejected and pending-correction counts a mastered asset reported."""
        metadata = event.event_specific_data.materialization.metadata
        counts = {k: int(metadata[k].value) for k in QUARANTINE_COUNTS if k in metadata}
        if len(counts) == len(QUARANTINE_COUNTS):
            self.report.quarantine[name] = counts

    def _materialized(self, name: str, partition: str | None) -> None:
        total = self.items.get(name, 0)
        if partition is not None:
            self.partitions.setdefault(name, set()).add(partition)
        if name not in self.report.materialized:
            self.report.materialized.append(name)
        got = len(self.partitions.get(name, ()))
        if total and got < total:
            self.current = f"{name} {got}/{total} partitions"
            return
        if name in self.done:
            return
        self.done.append(name)
        self.current = f"{name} ({total} partitions)" if total else name
        if not self.tty:
            self._line(f"materialized {self.current}")

    def _note(self, text: str) -> None:
        """A line that stays: a failure, in both modes."""
        if self.tty:
            self.out.write(f"{CLEAR_LINE}{text}\n")
            self._drawn = False
            self._draw()
        else:
            self._line(text)

    def _line(self, text: str) -> None:
        self.out.write(f"[{len(self.done)}/{len(self.items)}] {self.elapsed():6.1f}s {text}\n")
        self.out.flush()

    def _draw(self) -> None:
        done, total = len(self.done), len(self.items)
        filled = BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"[{bar}] {done}/{total} assets {self.elapsed():6.1f}s  {self.current}"
        # a line longer than the terminal wraps, and `\r` would then rewrite only its tail
        width = shutil.get_terminal_size().columns - 1
        self.out.write(f"{CLEAR_LINE}{line[:width]}")
        self.out.flush()
        self._drawn = True


def print_summary(report: BuildReport, items: dict[str, int], out: TextIO = sys.stdout) -> None:
    """The build's outcome: assets and partitions, checks, elapsed time, runs."""
    partitioned = {n: c for n, c in items.items() if c and n in report.materialized}
    parts = sum(partitioned.values())
    warned = [c for c, sev in report.checks_failed if sev == WARN]
    outcome = "succeeded" if report.ok else "FAILED"
    out.write(
        f"\nbuild {outcome} in {report.seconds:.1f}s: "
        f"{len(report.materialized)}/{len(items)} assets materialized"
        + (f" ({parts} partitions of {', '.join(partitioned)})" if partitioned else "")
        + "\n"
        f"checks: {len(report.checks_passed)} passed, {len(warned)} warned, "
        f"{len(report.checks_failed) - len(warned)} failed\n"
    )
    for name, severity in report.checks_failed:
        note = report.notes.get(name)
        out.write(
            f"  {'warned' if severity == WARN else 'FAILED'} {severity:5} {name}"
            + (f": {note}" if note else "")
            + "\n"
        )
    if report.quarantine:
        out.write("quarantine (rejected keys, pending corrections of keys):\n")
        for name, c in report.quarantine.items():
            out.write(
                f"  {name}: {c['rejected_rows']} rejected, {c['pending_corrections']} pending "
                f"corrections of {c['keys_with_pending_correction']} keys\n"
            )
    for step in report.step_failures:
        said = report.step_errors.get(step)
        out.write(f"  FAILED step {step}" + (f": {said}" if said else "") + "\n")
    out.write("dagster runs:\n" + "".join(f"  {run_id}\n" for run_id in report.run_ids))
