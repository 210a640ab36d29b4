"""Delivering OpenLineage events: a JSONL file always, HTTP to Marquez when configured.

The file, `<data>/lineage/openlineage.jsonl`, is the project's own record (the `lineage`
command and page read it back), written with openlineage-python's FileTransport in append
mode. With an `HttpTarget` (the lineage sink resource's URL, from OPENLINEAGE_URL; see
resources/lineage_sink.py) the same events also go to `<url>/api/v1/lineage` through its
HttpTransport. Nothing here reads the environment: the settings come from the resource.
The transports are called directly rather than through OpenLineageClient.emit,
which adds facets of its own (a tags run facet with the client version, environment
variables, a git source-code location) that depend on the machine and whose schemas are
not part of the spec we validate against.

Lineage must never break a pipeline: every delivery error is caught, logged as a warning,
written into the Dagster run's event log as "lineage delivery failed: ..." and appended
to `<data>/lineage/delivery_failures.jsonl`. After the first HTTP failure of a batch the
rest of the batch skips HTTP (one timeout, not one per event); the file keeps them all.

Emission is idempotent per Dagster run: a run whose events are already in the file is
skipped, and event run ids are derived from the Dagster run id (`naming.py`).
"""

import contextlib
import datetime as dt
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from openlineage.client.event_v2 import RunEvent
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from fs_assets.catalog.graph_view import GraphView
from fs_assets.lineage.collect import RunSummary
from fs_assets.lineage.events import EventBuilder, LineageModel
from fs_assets.lineage.graph_state import KeptLineage, load_lineage, run_ids_of
from fs_assets.lineage.landing import LedgerLookup, group_by_entity

LOG = logging.getLogger(__name__)

EVENTS_FILE = "openlineage.jsonl"
FAILURES_FILE = "delivery_failures.jsonl"
HTML_FILE = "lineage.html"
# The page's graph as of a byte offset of EVENTS_FILE (graph_state.py): each run reads only
# its own events back.
GRAPH_STATE_FILE = ".lineage_graph.json"
DEFAULT_ENDPOINT = "api/v1/lineage"
DEFAULT_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 60.0  # another writer appends one run's events in well under a second
LOCK_REPORT_EVERY_S = 10.0
FAILED = "lineage delivery failed"
# Runs whose lineage the caller emits itself (`fs-accelerator build`); the run-status
# sensor leaves them alone so that no event is written twice.
LAUNCHED_BY_TAG = "fs-accelerator/launched-by"
CALLER_EMITS = frozenset({"cli-build"})
# No retries: a lineage backend that is down must cost one timeout, not a backoff series.
_NO_RETRY = {"total": 0, "connect": 0, "read": 0, "backoff_factor": 0}


@dataclass(frozen=True)
class HttpTarget:
    """Where events also go over HTTP (Marquez or any OpenLineage backend)."""

    url: str
    api_key: str | None = None
    endpoint: str = DEFAULT_ENDPOINT
    timeout: str | float | None = None  # seconds; parsed on delivery, so a typo is reported


@dataclass
class DeliveryReport:
    """What happened to one batch of events."""

    run_id: str
    events: int = 0
    file: Path | None = None
    http_url: str | None = None
    http_delivered: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: str | None = None  # why nothing was emitted (already emitted, run unknown)

    @property
    def ok(self) -> bool:
        return not self.failures

    def message(self) -> str:
        if self.skipped:
            return f"lineage for run {self.run_id}: {self.skipped}"
        text = f"{self.events} OpenLineage events for run {self.run_id} in {self.file}"
        if self.http_url:
            text += f", {self.http_delivered}/{self.events} sent to {self.http_url}"
        if self.failures:
            return f"{FAILED} ({'; '.join(self.failures)}): {text}"
        return f"lineage: {text}"


def _brief(exc: BaseException) -> str:
    """'ConnectionError: Connection refused', not urllib3's three-line retry report."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    reason = errno.group(1).strip() if errno else (text.splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def _http_transport(target: HttpTarget) -> HttpTransport:
    config = HttpConfig(
        url=target.url,
        endpoint=target.endpoint or DEFAULT_ENDPOINT,
        timeout=float(target.timeout or DEFAULT_TIMEOUT_S),
        retry=dict(_NO_RETRY),
        **({"auth": ApiKeyTokenProvider({"apiKey": target.api_key})} if target.api_key else {}),
    )
    return HttpTransport(config)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One writer at a time on the lineage folder (the CLI and the sensor's daemon)."""
    try:
        import fcntl
    except ImportError:  # not on POSIX: appends of whole lines are the only protection
        yield
        return
    lock = folder / ".lock"
    with lock.open("a") as handle:
        started = time.monotonic()
        reported_at = started - LOCK_REPORT_EVERY_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= LOCK_TIMEOUT_S:
                    raise TimeoutError(
                        f"gave up after {LOCK_TIMEOUT_S:.0f} s waiting for the lineage lock "
                        f"{lock} held by another process (a build or the daemon's lineage "
                        "sensor); the events of this run can be emitted again later"
                    ) from None
                if time.monotonic() - reported_at >= LOCK_REPORT_EVERY_S:
                    LOG.warning(
                        f"waiting for the lineage lock {lock} held by another process "
                        f"({waited:.0f} s of {LOCK_TIMEOUT_S:.0f} s)"
                    )
                    reported_at = time.monotonic()
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LineageSink:
    """The file transport, plus HTTP to `http` when given."""

    def __init__(self, folder: Path, http: HttpTarget | None = None) -> None:
        self.folder = folder
        self.path = folder / EVENTS_FILE
        self.http = http
        self.url = http.url if http is not None else None

    def deliver(self, events: Sequence[RunEvent], report: DeliveryReport) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        report.file, report.http_url = self.path, self.url
        file_transport = FileTransport(FileConfig(log_file_path=str(self.path), append=True))
        http: HttpTransport | None = None
        if self.http is not None:
            try:
                http = _http_transport(self.http)
            except Exception as exc:  # a malformed URL must not fail the run either
                report.failures.append(f"HTTP transport for {self.url}: {_brief(exc)}")
        file_failed = False
        for event in events:
            report.events += 1
            if not file_failed:
                try:
                    file_transport.emit(event)
                except Exception as exc:
                    file_failed = True
                    report.failures.append(f"file {self.path}: {_brief(exc)}")
            if http is not None:
                try:
                    http.emit(event)
                    report.http_delivered += 1
                except Exception as exc:
                    report.failures.append(f"HTTP {self.url}: {_brief(exc)}")
                    http = None  # the rest of the batch would fail the same way


def _run_ids_of(line: str | bytes) -> set[str]:
    """The Dagster run id one event line belongs to (its parent's; none for a torn line)."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return set()  # a torn line from a crash; the rest of the file is still good
    return run_ids_of(event)


def emitted_run_ids(path: Path) -> set[str]:
    """Dagster run ids whose events the file holds (the parents' ids), from every line:
    the reference `load_lineage`'s kept run ids must equal."""
    ids: set[str] = set()
    if not path.exists():
        return ids
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            ids |= _run_ids_of(line)
    return ids


def _kept(folder: Path, since: KeptLineage | None = None) -> KeptLineage:
    """The graph and the Dagster run ids of the folder's events file, from the kept state
    (or `since`) and the lines after it (graph_state.py): the cost follows what was written
    since, not the file. The caller holds the folder's lock."""
    return load_lineage(folder / EVENTS_FILE, folder / GRAPH_STATE_FILE, since)


def read_lineage(folder: Path) -> KeptLineage:
    """`_kept` under the folder's lock (for a reader outside an emit: the `lineage`
    command)."""
    with _locked(_ensure(folder)):
        return _kept(folder)


def _record_failure(folder: Path, source: "RunSource | None", report: DeliveryReport) -> None:
    message = report.message()
    LOG.warning(message)
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / FAILURES_FILE).open("a", encoding="utf-8") as handle:
            record = {
                "at": dt.datetime.now(dt.UTC).isoformat(),
                "run_id": report.run_id,
                "events": report.events,
                "http_url": report.http_url,
                "http_delivered": report.http_delivered,
                "failures": report.failures,
            }
            handle.write(json.dumps(record) + "\n")
    _report_to_run(source, report.run_id, message)


def _report_to_run(source: "RunSource | None", run_id: str, message: str) -> None:
    """Say it in the run's own event log, where the UI shows it beside the run."""
    if source is None:
        return
    try:
        source.report(run_id, message)
    except Exception as exc:  # the run store being unavailable must not fail the caller
        LOG.warning(f"could not record the lineage outcome on run {run_id}: {exc}")


class RunSource(Protocol):
    """Where a run's records and the definitions come from (the orchestrator's adapter)."""

    def summary(self, run_id: str) -> RunSummary | None:
        """The run's summary; None when there is no such run."""
        ...

    def graph(self) -> GraphView:
        """The definitions the run's assets belong to."""
        ...

    def report(self, run_id: str, message: str) -> None:
        """Record `message` in the run's own log."""
        ...


def emit_run_lineage(
    source: RunSource | None,
    run_id: str,
    folder: Path,
    *,
    http: HttpTarget | None = None,
    ledger: LedgerLookup | None = None,
    force: bool = False,
    write_html: bool = True,
) -> DeliveryReport:
    """Emit the OpenLineage events of one finished Dagster run, read from `source`; never
    raises (a missing source or one that fails is a delivery failure).

    Events go to `folder` (the file transport) and, with `http`, to that backend too.

    `ledger` finds the landing files a raw run read when its materialization does not
    record them (see landing.py); leave it None where the warehouse must not be opened.
    """
    report = DeliveryReport(run_id=run_id)
    try:
        with _locked(_ensure(folder)):
            sink = LineageSink(folder, http)
            before = None if force else _kept(folder)
            if before is not None and run_id in before.run_ids:
                report.skipped = "already emitted"
                return report
            if source is None:
                raise ValueError("no run source to read the run from")
            summary = source.summary(run_id)
            if summary is None:
                report.skipped = "no such run"
                return report
            reads = {}
            if ledger is not None and any(k[0] == "raw" for k in summary.assets):
                try:
                    reads = group_by_entity(ledger(run_id))
                except Exception as exc:
                    LOG.warning(f"landing files of run {run_id} unknown (ledger: {exc})")
            events = EventBuilder(LineageModel(source.graph()), summary, reads).all_events()
            sink.deliver(events, report)
            if write_html:
                _write_html(folder, before)
    except Exception as exc:
        report.failures.append(_brief(exc))
    if report.failures:
        _record_failure(folder, source, report)
    elif not report.skipped:
        LOG.info(report.message())
        _report_to_run(source, run_id, report.message())
    return report


def _ensure(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_html(folder: Path, since: KeptLineage | None) -> None:
    from fs_assets.lineage.html import write_lineage_page

    try:
        graph = _kept(folder, since).graph
        write_lineage_page(graph, folder / HTML_FILE)
    except Exception as exc:  # the page is a convenience; the events are what matters
        LOG.warning(f"lineage page not written: {exc}")


def caller_emits(tags: dict[str, str]) -> bool:
    """True for runs whose launcher emits their lineage itself (the CLI build)."""
    return tags.get(LAUNCHED_BY_TAG) in CALLER_EMITS
