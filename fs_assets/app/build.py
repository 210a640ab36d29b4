"""`fs-accelerator build`: materialize the asset graph on the project's Dagster instance.

The runs go through the instance in DAGSTER_HOME, so they show in the UI afterwards. While
they run, one progress display follows them (fs_assets/app/build_progress.py); at the end one
summary. Exit code 1 when a run fails or an ERROR-severity check fails. Before the first run
it checks that the data folder is writable and fails runs whose process died (recovery.py);
each run executes under run_guard.py, which stops it cleanly on Ctrl-C/SIGTERM or a
too-long wait for the slot.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import dagster as dg
from dagster import DagsterInstance
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from dagster._core.utils import make_new_run_id

from fs_assets.app.build_progress import (
    BuildProgress,
    BuildReport,
    dagster_notices_hidden,
    plan_items,
)
from fs_assets.app.build_progress import print_summary as print_outcome
from fs_assets.app.instance import ensure_dagster_home
from fs_assets.app.preflight import DataFolderNotWritable, check_writable
from fs_assets.app.run_guard import BuildStopped, run_guarded, wait_timeout_s
from fs_assets.defs.event_store import quick_commits
from fs_assets.model.paths import DataPaths
from sensors.recovery import recover, run_identity_tags

if TYPE_CHECKING:
    from fs_assets.lineage.emitter import DeliveryReport

# Dagster's console logger at DEBUG prints every event; the progress lines replace it.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _plan(graph, keys: list[dg.AssetKey]) -> list[tuple[list[dg.AssetKey], dict[str, str]]]:
    """One run for the unpartitioned assets, then one per partitions definition (all keys),
    then one for the unpartitioned assets downstream of a partitioned one (the catalog's
    scanner), so that they see every partition written."""
    partitioned = {k for k in keys if graph.get(k).partitions_def is not None}
    late = [
        k for k in keys if k not in partitioned and graph.get_ancestor_asset_keys(k) & partitioned
    ]
    plain = [k for k in keys if k not in partitioned and k not in late]
    runs: list[tuple[list[dg.AssetKey], dict[str, str]]] = [(plain, {})] if plain else []
    by_def: dict[int, list[dg.AssetKey]] = {}
    defs_by_id = {}
    for key in keys:
        pdef = graph.get(key).partitions_def
        if pdef is not None:
            by_def.setdefault(id(pdef), []).append(key)
            defs_by_id[id(pdef)] = pdef
    for pid, group in by_def.items():
        partition_keys = defs_by_id[pid].get_partition_keys()
        runs.append(
            (
                group,
                {
                    ASSET_PARTITION_RANGE_START_TAG: partition_keys[0],
                    ASSET_PARTITION_RANGE_END_TAG: partition_keys[-1],
                },
            )
        )
    if late:
        runs.append((late, {}))
    return runs


@dagster_notices_hidden()
def build(
    paths: DataPaths, select: str | None = None, out=sys.stdout, run_config: dict | None = None
) -> BuildReport:
    """Materialize the selection (default: every asset, every partition) with its checks.

    Unpartitioned assets go in one run; partitioned assets follow in a single-run backfill
    of all their partitions (Dagster does not mix partitioned and unpartitioned assets in
    one run).
    """
    try:
        check_writable(paths)
    except DataFolderNotWritable as exc:
        raise BuildStopped(str(exc), exit_code=2) from exc
    dagster_home = ensure_dagster_home(paths)
    timeout_s = wait_timeout_s()
    from fs_assets.definitions import defs
    from fs_assets.defs.lineage_source import emit_run_lineage
    from fs_assets.lineage.landing import ledger_lookup
    from resources.lineage_sink import resolved_lineage_sink
    from resources.warehouse import WarehouseResource

    graph = defs.resolve_asset_graph()
    if select:
        keys = sorted(dg.AssetSelection.from_string(select).resolve(graph))
        if not keys:
            raise SystemExit(f"--select {select!r} matches no asset")
    else:
        keys = sorted(graph.get_all_asset_keys())
    job = defs.resolve_implicit_global_asset_job_def()
    report = BuildReport(run_id="", success=True, planned=plan_items(graph, keys))
    started = time.monotonic()
    http = resolved_lineage_sink(str(paths.home)).http_target()
    with quick_commits(dagster_home), DagsterInstance.get() as instance:
        progress = BuildProgress(instance, report.planned, report, out=out)

        def lineage(run_id: str) -> DeliveryReport:
            # OpenLineage for the run, succeeded or not; a delivery failure is reported,
            # never raised (the run's outcome stands).
            return emit_run_lineage(
                instance,
                run_id,
                graph,
                paths.lineage,
                http=http,
                ledger=ledger_lookup(WarehouseResource(home=str(paths.home)).duckdb_file),
            )

        def recover_dead_runs() -> None:
            for line in recover(instance, emit_lineage=lineage).lines():
                out.write(f"{line}\n")

        recover_dead_runs()
        for run_keys, tags in _plan(graph, keys):
            run_id = make_new_run_id()
            try:
                with progress.watching(run_id):
                    result = run_guarded(
                        instance,
                        run_id,
                        lambda run_keys=run_keys, run_id=run_id, tags=tags: job.execute_in_process(
                            instance=instance,
                            asset_selection=run_keys,
                            run_id=run_id,
                            raise_on_error=False,
                            run_config={**QUIET, **(run_config or {})},
                            tags={
                                "fs-accelerator/launched-by": "cli-build",
                                **run_identity_tags(),
                                **tags,
                            },
                        ),
                        timeout_s=timeout_s,
                        out=out,
                        while_waiting=recover_dead_runs,
                    )
            except BuildStopped:
                lineage(run_id)
                raise
            delivery = lineage(run_id)
            report.lineage.append(delivery.message())
            if delivery.ok and not delivery.skipped:
                report.lineage_events += delivery.events
            else:
                report.lineage_notes.append(delivery.message())
            report.run_ids.append(run_id)
            report.success = report.success and result.success
            if not result.success:
                break
        progress.finish()
    report.run_id = ",".join(report.run_ids)
    report.seconds = time.monotonic() - started
    return report


def print_summary(report: BuildReport, paths: DataPaths, out=sys.stdout) -> None:
    """The outcome, where lineage went, and where everything is."""
    print_outcome(report, report.planned, out)
    for line in report.lineage_notes:
        out.write(f"{line}\n")
    if report.lineage_events:
        out.write(f"lineage: {report.lineage_events} OpenLineage events written\n")
    out.write(
        f"\ndata folder:   {paths.home}\n"
        f"landing files: {paths.landing}\n"
        f"warehouse:     {paths.warehouse}  (duckdb {paths.warehouse} -readonly)\n"
        f"lineage:       {paths.lineage}/openlineage.jsonl and lineage.html\n"
        f"dashboards:    {paths.reports / 'index.html'}  (charts also in the UI's asset metadata)\n"
        f"dagster home:  {os.environ.get('DAGSTER_HOME', paths.dagster_home)}\n"
        "UI:            .venv/bin/fs-accelerator ui  (or make ui), then http://127.0.0.1:3000\n"
    )
