"""Dagster's SQLite event log under `quick_commits`: no flush per event, nothing lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from fs_assets.app.instance import ensure_dagster_home
from fs_assets.defs.event_store import quick_commits, quick_in_process_executor
from fs_assets.model.paths import PROJECT_ROOT, DataPaths

FULL, NORMAL = 2, 1  # PRAGMA synchronous


@dg.asset
def tiny() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@dg.asset_check(asset=tiny)
def tiny_ok() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _synchronous(path: Path) -> int:
    """The setting a new SQLAlchemy connection (as Dagster's storage opens them) gets."""
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("pragma synchronous")).scalar_one()
    finally:
        engine.dispose()


def _wal_file(path: Path, folder: Path) -> Path:
    db = folder / path
    con = sqlite3.connect(db)
    con.execute("pragma journal_mode=wal")
    con.execute("create table if not exists t (x int)")
    con.close()
    return db


def test_wal_files_of_the_instance_commit_without_flush_and_keep_their_log(
    home: DataPaths, tmp_path: Path
) -> None:
    dagster_home = ensure_dagster_home(home)
    index = dagster_home / "history" / "runs" / "index.db"
    elsewhere = _wal_file(Path("other.db"), tmp_path)
    with quick_commits(dagster_home) as kept, dg.DagsterInstance.get() as instance:
        result = dg.materialize([tiny, tiny_ok], instance=instance)
        assert result.success
        run_file = dagster_home / "history" / "runs" / f"{result.run_id}.db"
        assert str(index) in kept and str(run_file) in kept
        assert _synchronous(index) == NORMAL
        # A file outside the instance folder is left as it is.
        assert _synchronous(elsewhere) == FULL
        # Dagster's own connections closed without a checkpoint: the log is still there.
        assert Path(f"{run_file}-wal").exists()
        events = instance.get_records_for_run(result.run_id).records
        assert any(
            r.event_log_entry.dagster_event_type == dg.DagsterEventType.RUN_SUCCESS for r in events
        )
    assert _synchronous(index) == FULL  # the listener is gone after the context
    # The kept connections closed last and checkpointed: the log is folded into the file.
    assert not Path(f"{run_file}-wal").exists()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(result.run_id).is_success


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import dagster as dg
import pytest
from fs_assets.defs.event_store import quick_commits, quick_in_process_executor
from fs_assets.app.instance import ensure_dagster_home
from fs_assets.model.paths import DataPaths
from tests.test_event_store import tiny, tiny_ok
home = ensure_dagster_home(DataPaths(Path(sys.argv[1])))
with quick_commits(home), dg.DagsterInstance.get() as instance:
    result = dg.materialize([tiny, tiny_ok], instance=instance)
    print(result.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no checkpoint, no clean close
"""


def test_a_killed_process_loses_no_committed_event(home: DataPaths) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(home.home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run_id = proc.stdout.strip().splitlines()[-1]
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.is_success
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("tiny"), "tiny_ok")]
        )
        assert checks[dg.AssetCheckKey(dg.AssetKey("tiny"), "tiny_ok")].run_id == run_id
        assert instance.get_latest_materialization_event(dg.AssetKey("tiny")).run_id == run_id


@dg.asset
def sees_quick_commits(context) -> dg.MaterializeResult:
    """What a step of a daemon-launched run sees: its instance's index file's setting."""
    index = Path(context.instance.root_directory) / "history" / "runs" / "index.db"
    return dg.MaterializeResult(metadata={"synchronous": _synchronous(index)})


def _project_executor_job() -> dg.JobDefinition:
    job = dg.define_asset_job("quick", [sees_quick_commits], executor_def=quick_in_process_executor)
    return dg.Definitions(assets=[sees_quick_commits], jobs=[job]).resolve_job_def("quick")


def test_runs_launched_outside_the_build_use_the_executor_with_quick_commits(
    home: DataPaths,
) -> None:
    """The daemon launches runs with the definitions' executor (execute_in_process, the
    build's, ignores it): the project's is the in-process one inside quick_commits."""
    from fs_assets.definitions import defs

    assert defs.executor is quick_in_process_executor
    dagster_home = ensure_dagster_home(home)
    with (
        dg.DagsterInstance.get() as instance,
        dg.execute_job(dg.reconstructable(_project_executor_job), instance=instance) as result,
    ):
        assert result.success
        (event,) = result.get_asset_materialization_events()
        assert event.materialization.metadata["synchronous"].value == NORMAL
    assert _synchronous(dagster_home / "history" / "runs" / "index.db") == FULL


def test_a_file_that_cannot_be_kept_open_costs_speed_not_events(
    home: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy file (another process initializing it) keeps SQLite's defaults; the run's
    events are all written."""
    from fs_assets.defs import event_store

    def busy(*_a: object, **_k: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database is locked")

    dagster_home = ensure_dagster_home(home)
    with monkeypatch.context() as patched:
        patched.setattr(event_store.sqlite3, "connect", busy)
        with quick_commits(dagster_home) as kept, dg.DagsterInstance.get() as instance:
            result = dg.materialize([tiny, tiny_ok], instance=instance)
            assert result.success and kept == {}
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(result.run_id).is_success
        assert instance.get_latest_materialization_event(dg.AssetKey("tiny")).run_id == (
            result.run_id
        )


@dg.asset
def sees_kept_connection(context) -> dg.MaterializeResult:
    """The setting of the connection the instance's event log storage keeps for its index
    file, the one this step's events are written with."""
    storage = context.instance.event_log_storage
    with storage.index_connection() as conn:
        setting = conn.exec_driver_sql("pragma synchronous").scalar_one()
    return dg.MaterializeResult(metadata={"synchronous": setting})


def _kept_connection_job() -> dg.JobDefinition:
    job = dg.define_asset_job(
        "kept", [sees_kept_connection], executor_def=quick_in_process_executor
    )
    return dg.Definitions(assets=[sees_kept_connection], jobs=[job]).resolve_job_def("kept")


def test_a_daemon_runs_kept_connections_commit_without_flush_inside_its_steps(
    home: DataPaths,
) -> None:
    """The run worker writes the run's first events before the executor starts, so the
    event log storage's kept connections exist before `quick_commits`: the executor opens
    them again inside it, or the steps' events would each flush the disk."""
    from fs_assets.defs.event_log_storage import KeptEngineEventLogStorage

    ensure_dagster_home(home)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptEngineEventLogStorage)
        with instance.event_log_storage.index_connection() as conn:  # kept before the run
            assert conn.exec_driver_sql("pragma synchronous").scalar_one() == FULL
        with dg.execute_job(dg.reconstructable(_kept_connection_job), instance=instance) as result:
            assert result.success
            (event,) = result.get_asset_materialization_events()
            assert event.materialization.metadata["synchronous"].value == NORMAL
        with instance.event_log_storage.index_connection() as conn:  # SQLite's default again
            assert conn.exec_driver_sql("pragma synchronous").scalar_one() == FULL
