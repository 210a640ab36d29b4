"""A Dagster run's event log and asset graph as the plain records the lineage core takes.

`emit_run_lineage(instance, run_id, graph, folder, ...)` is what the sensors, the build
and the `lineage` command call: it hands `fs_assets.lineage.emitter` a `DagsterRunSource`
that reads the instance lazily, inside the emitter's guard, so lineage still never raises.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterInstance
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._utils.error import SerializableErrorInfo

from fs_assets.catalog.graph_view import GraphView
from fs_assets.defs.asset_graph import graph_view, key_path, plain_metadata
from fs_assets.lineage import emitter
from fs_assets.lineage.collect import ErrorInfo, LogRecord, RunInfo, RunSummary, summarize_run
from fs_assets.lineage.emitter import DeliveryReport, HttpTarget
from fs_assets.lineage.landing import LedgerLookup


def error_info(error: SerializableErrorInfo | None) -> ErrorInfo | None:
    if error is None:
        return None
    return ErrorInfo(
        message=error.message,
        stack=tuple(error.stack or ()),
        cls_name=error.cls_name,
        cause=error_info(error.cause),
        context=error_info(error.context),
    )


def log_record(entry: Any) -> LogRecord | None:
    """One event log entry as a plain record; None for entries that are not events."""
    event = entry.dagster_event
    if event is None:
        return None
    kind = event.event_type
    asset_key = key_path(event.asset_key) if event.asset_key else None
    base: dict[str, Any] = {
        "kind": kind.name,
        "at": entry.timestamp,
        "step_key": event.step_key,
        "asset_key": asset_key,
    }
    if kind == DagsterEventType.RUN_FAILURE:
        base["error"] = error_info(getattr(event.event_specific_data, "error", None))
    elif kind == DagsterEventType.ASSET_MATERIALIZATION:
        mat = event.step_materialization_data.materialization
        base["metadata"] = plain_metadata(mat.metadata)
        base["partition"] = mat.partition
    elif kind == DagsterEventType.STEP_FAILURE:
        base["error"] = error_info(event.step_failure_data.error)
    elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
        ev = event.event_specific_data
        base |= {
            "asset_key": key_path(ev.asset_key),
            "metadata": plain_metadata(ev.metadata or {}),
            "check_name": ev.check_name,
            "passed": bool(ev.passed),
            "severity": ev.severity.value.lower(),
            "description": getattr(ev, "description", None),
        }
    return LogRecord(**base)


class DagsterRunSource:
    """Runs of a Dagster instance, against the asset graph of their definitions."""

    def __init__(self, instance: DagsterInstance, graph: BaseAssetGraph) -> None:
        self.instance = instance
        self._graph = graph

    def summary(self, run_id: str) -> RunSummary | None:
        run = self.instance.get_run_by_id(run_id)
        if run is None:
            return None
        info = RunInfo(
            run_id=run_id,
            job_name=run.job_name,
            status=run.status.value,
            tags=dict(run.tags),
            engine_version=dg.__version__,
        )
        records = (log_record(e) for e in self.instance.all_logs(run_id))
        return summarize_run(info, (r for r in records if r is not None))

    def graph(self) -> GraphView:
        return graph_view(self._graph)

    def report(self, run_id: str, message: str) -> None:
        run = self.instance.get_run_by_id(run_id)
        if run is not None:
            self.instance.report_engine_event(message, dagster_run=run)


def emit_run_lineage(
    instance: DagsterInstance | None,
    run_id: str,
    graph: BaseAssetGraph,
    folder: Path,
    *,
    http: HttpTarget | None = None,
    ledger: LedgerLookup | None = None,
    force: bool = False,
    write_html: bool = True,
) -> DeliveryReport:
    """Emit the OpenLineage events of one finished Dagster run; never raises (see emitter)."""
    source = DagsterRunSource(instance, graph) if instance is not None else None
    return emitter.emit_run_lineage(
        source, run_id, folder, http=http, ledger=ledger, force=force, write_html=write_html
    )
