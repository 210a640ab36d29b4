"""What one Dagster run did, summarized from its event log given as plain records.

Emission works from the event log rather than from inside the assets: every asset gets
lineage without a line of lineage code, whoever launched the run (the CLI build, the UI,
a sensor), and a lineage backend being down cannot touch the asset's own step. The
records are made from Dagster's event log above the core (`fs_assets/defs/lineage_source.py`).
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fs_assets.model.keys import KeyPath

# Event kinds, by their Dagster event type names.
RUN_START = "RUN_START"
RUN_ENDS = ("RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED")
RUN_FAILURE = "RUN_FAILURE"
MATERIALIZATION_PLANNED = "ASSET_MATERIALIZATION_PLANNED"
STEP_START = "STEP_START"
MATERIALIZATION = "ASSET_MATERIALIZATION"
STEP_FAILURE = "STEP_FAILURE"
CHECK_EVALUATION = "ASSET_CHECK_EVALUATION"


@dataclass(frozen=True)
class ErrorInfo:
    """An error as the event log records it: message, stack lines, cause and context."""

    message: str
    stack: tuple[str, ...] = ()
    cls_name: str | None = None
    cause: "ErrorInfo | None" = None
    context: "ErrorInfo | None" = None

    def to_string(self) -> str:
        """The message, stack, cause and context, laid out as Dagster prints an error."""
        stack_str = "\nStack Trace:\n" + "".join(self.stack) if self.stack else ""
        cause_str = (
            "\nThe above exception was caused by the following exception:\n"
            + self.cause.to_string()
            if self.cause
            else ""
        )
        context_str = (
            "\nThe above exception occurred during handling of the following exception:\n"
            + self.context.to_string()
            if self.context
            else ""
        )
        return f"{self.message}{stack_str}{cause_str}{context_str}"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    job_name: str
    status: str  # "SUCCESS", "FAILURE", "CANCELED", ...
    tags: Mapping[str, str]
    engine_version: str  # the orchestrator's version, for the processing-engine facet


@dataclass(frozen=True)
class LogRecord:
    """One event of the run's log; the fields its kind uses are set."""

    kind: str
    at: float
    step_key: str | None = None
    asset_key: KeyPath | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)  # plain values
    partition: str | None = None
    error: ErrorInfo | None = None
    check_name: str = ""
    passed: bool = False
    severity: str = ""  # "error" | "warn"
    description: str | None = None


@dataclass
class AssetActivity:
    """One asset's step in the run: when it ran, what it recorded, how it ended."""

    key: KeyPath
    step_key: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    materialized: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    error: ErrorInfo | None = None

    @property
    def ran(self) -> bool:
        return self.started_at is not None


@dataclass(frozen=True)
class CheckActivity:
    asset_key: KeyPath
    name: str
    passed: bool
    severity: str  # "error" | "warn"
    metadata: dict[str, Any]
    description: str | None
    at: float


@dataclass
class RunSummary:
    run_id: str
    job_name: str
    status: str
    tags: dict[str, str]
    started_at: float | None
    ended_at: float | None
    engine_version: str = ""
    assets: dict[KeyPath, AssetActivity] = field(default_factory=dict)
    checks: list[CheckActivity] = field(default_factory=list)
    error: ErrorInfo | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


def iso(ts: float) -> str:
    """Event time as OpenLineage wants it: ISO 8601 with a time zone."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def error_text(error: ErrorInfo) -> str:
    """The message with its causes ('Error occurred while executing op ...: RuntimeError: x')."""
    parts = []
    current: ErrorInfo | None = error
    while current is not None:
        parts.append(current.message.strip())
        current = current.cause
    return " ".join(p for p in parts if p)


def summarize_run(run: RunInfo, records: Iterable[LogRecord]) -> RunSummary:
    """The run's asset steps, materializations, failures and check results."""
    summary = RunSummary(
        run_id=run.run_id,
        job_name=run.job_name,
        status=run.status,
        tags=dict(run.tags),
        started_at=None,
        ended_at=None,
        engine_version=run.engine_version,
    )
    steps: dict[str, list[AssetActivity]] = {}
    step_start: dict[str, float] = {}
    for event in records:
        kind = event.kind
        ts = event.at
        if kind == RUN_START:
            summary.started_at = ts
        elif kind in RUN_ENDS:
            summary.ended_at = ts
            if kind == RUN_FAILURE:
                summary.error = event.error
        elif kind == MATERIALIZATION_PLANNED and event.asset_key:
            act = summary.assets.setdefault(event.asset_key, AssetActivity(event.asset_key))
            if event.step_key:
                act.step_key = event.step_key
                if act not in steps.setdefault(event.step_key, []):
                    steps[event.step_key].append(act)
        elif kind == STEP_START and event.step_key:
            step_start.setdefault(event.step_key, ts)
        elif kind == MATERIALIZATION and event.asset_key:
            act = summary.assets.setdefault(event.asset_key, AssetActivity(event.asset_key))
            act.materialized = True
            act.ended_at = ts
            act.metadata = dict(event.metadata)
            if event.partition:
                act.partitions.append(event.partition)
            if act.step_key is None and event.step_key:
                act.step_key = event.step_key
                steps.setdefault(event.step_key, []).append(act)
        elif kind == STEP_FAILURE and event.step_key:
            for act in steps.get(event.step_key, []):
                if not act.materialized:
                    act.error = event.error
                    act.ended_at = ts
        elif kind == CHECK_EVALUATION and event.asset_key:
            summary.checks.append(
                CheckActivity(
                    asset_key=event.asset_key,
                    name=event.check_name,
                    passed=event.passed,
                    severity=event.severity,
                    metadata=dict(event.metadata),
                    description=event.description,
                    at=ts,
                )
            )
    for step_key, acts in steps.items():
        for act in acts:
            act.started_at = step_start.get(step_key)
            _fail_if_cut_short(act, summary)
    return summary


def _fail_if_cut_short(act: AssetActivity, summary: RunSummary) -> None:
    """A step that started but never ended in a run that failed or was canceled (its
    process was killed, or the build was interrupted) failed with the run's error."""
    if act.started_at is None or act.materialized or act.error is not None:
        return
    if summary.status not in ("FAILURE", "CANCELED") or summary.ended_at is None:
        return
    act.error = summary.error or ErrorInfo(
        message=f"the run was {summary.status.lower()} before this step finished"
    )
    act.ended_at = summary.ended_at
