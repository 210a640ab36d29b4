"""Dagster's SQLite event log written without two disk flushes per event.

Dagster's SQLite storage opens a connection per event and closes it again. On a WAL file
each commit flushes the log to disk, and closing the last connection checkpoints the log
into the database and flushes twice more: about 15-20 ms per event on the shared machine,
and an update run writes some 200 events (45 check evaluations, each planned and
reported, in the run's file and the cross-run index). While `quick_commits` is active,
every WAL file of the instance folder commits with `synchronous=NORMAL` and keeps one
connection of its own open, so a per-event connection is never the last one and closes
without a checkpoint. WAL with NORMAL is SQLite's documented setting for this: a commit
survives a killed process (SIGKILL at any point loses nothing committed); only a power
loss or an operating-system crash may lose the last commits, never the file's
consistency. The kept connections are closed (checkpointing once) when the context ends.

`fs-accelerator build` wraps its runs in it; runs launched by the daemon (sensors,
automation, the UI) execute with `quick_in_process_executor`, the in-process executor
inside `quick_commits`, so their step events are written the same way.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.in_process import InProcessExecutor
from sqlalchemy import event
from sqlalchemy.engine import Engine

from fs_assets.defs.event_log_storage import KeptEngineEventLogStorage


class _Keeper:
    """The listener and the connections it keeps open, one per database file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.kept: dict[str, sqlite3.Connection] = {}
        self.lock = threading.Lock()

    def on_connect(self, dbapi_connection: object, _record: object) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
            return
        # A busy or odd file keeps SQLite's defaults: slower, never a failed event.
        with contextlib.suppress(sqlite3.Error):
            self._tune(dbapi_connection)

    def _tune(self, dbapi_connection: sqlite3.Connection) -> None:
        rows = dbapi_connection.execute("pragma database_list").fetchall()
        path = next((r[2] for r in rows if r[1] == "main"), "")
        if not path or not Path(path).resolve().is_relative_to(self.folder):
            return  # an in-memory database or a file of another folder: left as it is
        mode = dbapi_connection.execute("pragma journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            return  # a rollback journal needs FULL to stay consistent after a power loss
        dbapi_connection.execute("pragma synchronous=NORMAL")
        with self.lock:
            if path not in self.kept:
                keeper = sqlite3.connect(path, check_same_thread=False)
                try:
                    keeper.execute("select count(*) from sqlite_master").fetchone()
                except sqlite3.Error:
                    keeper.close()
                    raise
                self.kept[path] = keeper

    def close(self) -> None:
        with self.lock:
            for keeper in self.kept.values():
                keeper.close()
            self.kept.clear()


@contextlib.contextmanager
def quick_commits(folder: Path) -> Iterator[dict[str, sqlite3.Connection]]:
    """While inside, Dagster's WAL files under `folder` commit with synchronous=NORMAL and
    close without a checkpoint (see the module docstring); yields the kept connections."""
    keeper = _Keeper(folder)
    event.listen(Engine, "connect", keeper.on_connect)
    try:
        yield keeper.kept
    finally:
        event.remove(Engine, "connect", keeper.on_connect)
        keeper.close()


class _QuickCommitsExecutor(InProcessExecutor):
    """Dagster's in-process executor, its steps run inside `quick_commits` of the instance.

    The run worker writes the run's first events before the executor starts, so an event
    log storage that keeps its connections (event_log_storage.py) opened them with SQLite's
    defaults: they are opened again inside the context (tuned), and again after it."""

    def execute(self, plan_context, execution_plan):
        storage = plan_context.instance.event_log_storage
        kept = storage if isinstance(storage, KeptEngineEventLogStorage) else None
        with quick_commits(Path(plan_context.instance.root_directory)):
            if kept is not None:
                kept.reopen_connections()
            try:
                yield from super().execute(plan_context, execution_plan)
            finally:
                if kept is not None:
                    kept.reopen_connections()


@dg.executor(name="in_process", config_schema=IN_PROC_CONFIG)
def quick_in_process_executor(init_context: dg.InitExecutorContext) -> InProcessExecutor:
    """The in-process executor (same config) whose step events skip the per-event flushes."""
    config = init_context.executor_config
    return _QuickCommitsExecutor(
        retries=RetryMode.from_config(config["retries"]),  # type: ignore[arg-type]
        marker_to_close=config.get("marker_to_close"),  # type: ignore[arg-type]
        step_dependency_config=StepDependencyConfig.from_config(
            config.get("step_dependency_config")  # type: ignore[arg-type]
        ),
    )
