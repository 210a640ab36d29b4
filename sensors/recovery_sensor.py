"""The daemon's side of crash recovery: runs whose process died are failed, slots freed.

Under `dagster dev` the default run launcher cannot tell that a STARTED run's worker was
killed (SIGKILL, OOM), so that run would keep the one `duckdb_warehouse` slot and every
queued run would wait for it. This sensor applies the build's check (sensors/recovery.py)
on every tick: a run whose worker pid (from the "Started process for run (pid: N)" engine
event) is gone and whose event log is quiet is marked failed, its slot freed and its
OpenLineage FAIL emitted. A live run (pid alive, or events still arriving) is left alone.
Only with the default run launcher: its run workers are processes on this machine, where
the sensor runs; other launchers' pids mean nothing here (their run monitoring applies).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.launcher import DefaultRunLauncher

from fs_assets.defs.lineage_source import emit_run_lineage
from resources.lineage_sink import LineageSinkResource
from sensors.recovery import recover

RECOVERY_INTERVAL_S = 30
DESCRIPTION = (
    "Fails runs whose process is gone (killed run workers), frees their duckdb_warehouse "
    "pool slot and emits their OpenLineage FAIL, so queued runs do not wait forever."
)


def recover_dead_runs(
    context: dg.SensorEvaluationContext, lineage_sink: LineageSinkResource
) -> str:
    """One recovery pass on the sensor's instance; what it did, one line per run."""
    launcher = context.instance.run_launcher
    if not isinstance(launcher, DefaultRunLauncher):
        return (
            f"run launcher {type(launcher).__name__} runs workers elsewhere: their pids "
            "cannot be checked here; nothing done"
        )
    folder, http = lineage_sink.lineage_folder, lineage_sink.http_target()
    graph = context.repository_def.asset_graph if context.repository_def else None

    def emit(run_id: str) -> None:
        if graph is None:
            context.log.warning(f"run {run_id}: no repository to describe its lineage with")
            return
        # The warehouse is not opened here (a sensor cannot take the pool's slot): a raw
        # run's landing files come from its materialization metadata.
        report = emit_run_lineage(context.instance, run_id, graph, folder, http=http)
        if not report.ok:
            context.log.warning(report.message())

    report = recover(context.instance, emit_lineage=emit, by="the daemon's recovery_sensor")
    lines = report.lines()
    for line in lines:
        context.log.info(line)
    return "\n".join(lines) or "no dead runs"


@dg.sensor(
    name="recovery_sensor",
    description=DESCRIPTION,
    minimum_interval_seconds=RECOVERY_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def recovery_sensor(
    context: dg.SensorEvaluationContext, lineage_sink: LineageSinkResource
) -> dg.SkipReason:
    return dg.SkipReason(recover_dead_runs(context, lineage_sink))
