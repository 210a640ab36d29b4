"""Run-status sensors that emit OpenLineage for runs launched from the UI or by sensors.

`fs-accelerator build` emits the lineage of its own runs when each ends (those runs are
tagged and skipped here). Every other run (a materialization from the UI, the landing
sensor, declarative automation) is picked up when it succeeds or fails. The sensors do
not open the warehouse (a sensor cannot take the warehouse pool's slot): a raw run's
landing files come from its materialization metadata (see lineage/landing.py). They are
on by default, like the project's other sensors.
"""

import dagster as dg

from fs_assets.defs.lineage_source import emit_run_lineage
from fs_assets.lineage.emitter import caller_emits
from resources.lineage_sink import LineageSinkResource

DESCRIPTION = (
    "Emits OpenLineage events (one START and one COMPLETE/FAIL per asset step, plus the "
    "checks' data-quality assertions) for every finished run not launched by "
    "`fs-accelerator build`, to <data>/lineage/openlineage.jsonl and to the lineage sink's "
    "URL (OPENLINEAGE_URL)."
)


def _emit(context: dg.RunStatusSensorContext, lineage_sink: LineageSinkResource) -> dg.SkipReason:
    run = context.dagster_run
    if caller_emits(run.tags):
        return dg.SkipReason(f"run {run.run_id}: lineage emitted by its launcher")
    if context.repository_def is None:
        return dg.SkipReason("no repository in the sensor context; nothing to describe runs with")
    report = emit_run_lineage(
        context.instance,
        run.run_id,
        context.repository_def.asset_graph,
        lineage_sink.lineage_folder,
        http=lineage_sink.http_target(),
    )
    if not report.ok:
        context.log.warning(report.message())
    return dg.SkipReason(report.message())


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="openlineage_on_success",
    description=DESCRIPTION,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def openlineage_on_success(
    context: dg.RunStatusSensorContext, lineage_sink: LineageSinkResource
) -> dg.SkipReason:
    return _emit(context, lineage_sink)


@dg.run_failure_sensor(
    name="openlineage_on_failure",
    description=DESCRIPTION,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def openlineage_on_failure(
    context: dg.RunFailureSensorContext, lineage_sink: LineageSinkResource
) -> dg.SkipReason:
    return _emit(context, lineage_sink)


LINEAGE_SENSORS = [openlineage_on_success, openlineage_on_failure]
