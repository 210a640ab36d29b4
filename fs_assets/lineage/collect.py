"""What one Dagster run did, read back from the instance's event log.

Emission works from the event log rather than from inside the assets: every asset gets
lineage without a line of lineage code, whoever launched the run (the CLI build, the UI,
a sensor), and a lineage backend being down cannot touch the asset's own step.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterInstance
from dagster._utils.error import SerializableErrorInfo


@dataclass
class AssetActivity:
    """One asset's step in the run: when it ran, what it recorded, how it ended."""

    key: dg.AssetKey
    step_key: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    materialized: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    partitions: list[str] = field(default_factory=list)
    error: SerializableErrorInfo | None = None

    @property
    def ran(self) -> bool:
        return self.started_at is not None


@dataclass(frozen=True)
class CheckActivity:
    asset_key: dg.AssetKey
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
    assets: dict[dg.AssetKey, AssetActivity] = field(default_factory=dict)
    checks: list[CheckActivity] = field(default_factory=list)
    error: SerializableErrorInfo | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"


def iso(ts: float) -> str:
    """Event time as OpenLineage wants it: ISO 8601 with a time zone."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def error_text(error: SerializableErrorInfo) -> str:
    """The message with its causes ('Error occurred while executing op ...: RuntimeError: x')."""
    parts = []
    current: SerializableErrorInfo | None = error
    while current is not None:
        parts.append(current.message.strip())
        current = current.cause
    return " ".join(p for p in parts if p)


def summarize_run(instance: DagsterInstance, run_id: str) -> RunSummary | None:
    """The run's asset steps, materializations, failures and check results."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return None
    summary = RunSummary(
        run_id=run_id,
        job_name=run.job_name,
        status=run.status.value,
        tags=dict(run.tags),
        started_at=None,
        ended_at=None,
    )
    steps: dict[str, list[AssetActivity]] = {}
    step_start: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        kind = event.event_type
        ts = entry.timestamp
        if kind == DagsterEventType.RUN_START:
            summary.started_at = ts
        elif kind in (
            DagsterEventType.RUN_SUCCESS,
            DagsterEventType.RUN_FAILURE,
            DagsterEventType.RUN_CANCELED,
        ):
            summary.ended_at = ts
            if kind == DagsterEventType.RUN_FAILURE:
                data = event.event_specific_data
                summary.error = getattr(data, "error", None)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION_PLANNED and event.asset_key:
            act = summary.assets.setdefault(event.asset_key, AssetActivity(event.asset_key))
            if event.step_key:
                act.step_key = event.step_key
                if act not in steps.setdefault(event.step_key, []):
                    steps[event.step_key].append(act)
        elif kind == DagsterEventType.STEP_START and event.step_key:
            step_start.setdefault(event.step_key, ts)
        elif kind == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key:
            act = summary.assets.setdefault(event.asset_key, AssetActivity(event.asset_key))
            mat = event.step_materialization_data.materialization
            act.materialized = True
            act.ended_at = ts
            act.metadata = dict(mat.metadata)
            if mat.partition:
                act.partitions.append(mat.partition)
            if act.step_key is None and event.step_key:
                act.step_key = event.step_key
                steps.setdefault(event.step_key, []).append(act)
        elif kind == DagsterEventType.STEP_FAILURE and event.step_key:
            for act in steps.get(event.step_key, []):
                if not act.materialized:
                    act.error = event.step_failure_data.error
                    act.ended_at = ts
        elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
            ev = event.event_specific_data
            summary.checks.append(
                CheckActivity(
                    asset_key=ev.asset_key,
                    name=ev.check_name,
                    passed=bool(ev.passed),
                    severity=ev.severity.value.lower(),
                    metadata=dict(ev.metadata or {}),
                    description=getattr(ev, "description", None),
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
    act.error = summary.error or SerializableErrorInfo(
        message=f"the run was {summary.status.lower()} before this step finished",
        stack=[],
        cls_name=None,
    )
    act.ended_at = summary.ended_at
