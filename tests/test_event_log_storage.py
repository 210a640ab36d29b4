"""The project's event log storage: Dagster's SQLite files, one engine kept per file."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import event

from fs_assets.app.instance import INSTANCE_TEMPLATE, ensure_dagster_home
from fs_assets.defs.event_log_storage import KEPT_ENGINES, KeptEngineEventLogStorage
from fs_assets.model.paths import DataPaths
from tests.test_event_store import tiny, tiny_ok

CHECK_KEY = dg.AssetCheckKey(dg.AssetKey("tiny"), "tiny_ok")
# Where the template names the storage; above it, Dagster's default storage.
STORAGE_BLOCK = "# Dagster's SQLite event log"


def _event_kinds(storage: SqliteEventLogStorage, run_id: str) -> list[str]:
    return [
        r.event_log_entry.dagster_event_type.name
        for r in storage.get_records_for_run(run_id).records
        if r.event_log_entry.dagster_event_type is not None
    ]


def _use_default_storage(dagster_home: Path) -> None:
    text = INSTANCE_TEMPLATE.read_text()
    assert STORAGE_BLOCK in text
    (dagster_home / "dagster.yaml").write_text(text.split(STORAGE_BLOCK)[0])


def _open_event_files(folder: Path, index: bool = True) -> list[str]:
    """The event files (not their -wal/-shm) this process holds open; the runs' alone
    without `index`."""
    names = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target.parent == folder and target.suffix == ".db" and (index or target.stem != "index"):
            names.append(target.name)
    return names


def test_runs_written_with_kept_engines_read_the_same_with_dagsters_storage(
    home: DataPaths,
) -> None:
    """The files are Dagster's own, in its default folder: an instance switches to the
    kept engines and back with nothing to migrate, and every event is there both ways."""
    dagster_home = ensure_dagster_home(home)
    runs = dagster_home / "history" / "runs"
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, KeptEngineEventLogStorage)
        kept_run = dg.materialize([tiny, tiny_ok], instance=instance).run_id
        kept_kinds = _event_kinds(instance.event_log_storage, kept_run)
    _use_default_storage(dagster_home)
    with dg.DagsterInstance.get() as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        assert _event_kinds(instance.event_log_storage, kept_run) == kept_kinds
        default_run = dg.materialize([tiny, tiny_ok], instance=instance).run_id
        default_kinds = _event_kinds(instance.event_log_storage, default_run)
    assert "ASSET_CHECK_EVALUATION" in kept_kinds and kept_kinds == default_kinds
    storage = KeptEngineEventLogStorage(str(runs))
    try:
        assert _event_kinds(storage, default_run) == default_kinds
        assert _event_kinds(storage, kept_run) == kept_kinds
        latest = storage.get_latest_asset_check_execution_by_key([CHECK_KEY])[CHECK_KEY]
        assert latest.run_id == default_run
    finally:
        storage.dispose()


def test_a_run_opens_its_event_files_once(home: DataPaths) -> None:
    """Dagster's storage opens a connection (and an engine) per event; the kept engines
    open each file once, whatever the number of events."""
    ensure_dagster_home(home)
    opened: Counter[str] = Counter()

    def on_connect(dbapi_connection: object, _record: object) -> None:
        rows = dbapi_connection.execute("pragma database_list").fetchall()  # type: ignore[attr-defined]
        opened[Path(next(r[2] for r in rows if r[1] == "main")).name] += 1

    with dg.DagsterInstance.get() as instance:
        dg.materialize([tiny, tiny_ok], instance=instance)  # the index and its tables exist
        event.listen(sa.engine.Engine, "connect", on_connect)
        try:
            run_id = dg.materialize([tiny, tiny_ok], instance=instance).run_id
        finally:
            event.remove(sa.engine.Engine, "connect", on_connect)
        assert len(_event_kinds(instance.event_log_storage, run_id)) > 10
    assert opened["index.db"] <= 1, opened
    # Made (its schema), then kept: three at most, against one or more per event before.
    assert opened[f"{run_id}.db"] <= 3, opened


def test_a_long_lived_process_keeps_a_bounded_number_of_files_open(home: DataPaths) -> None:
    """The webserver reads one run after another: only the files used last stay open, and
    a wipe closes them before their files are deleted (the next run is stored as usual)."""
    dagster_home = ensure_dagster_home(home)
    runs = dagster_home / "history" / "runs"
    with dg.DagsterInstance.get() as instance:
        run_ids = [
            dg.materialize([tiny, tiny_ok], instance=instance).run_id
            for _ in range(KEPT_ENGINES + 3)
        ]
        for run_id in run_ids:  # every run read again, as the UI does
            assert "RUN_SUCCESS" in _event_kinds(instance.event_log_storage, run_id)
        held = _open_event_files(runs)
        assert len(held) <= KEPT_ENGINES, held
        assert f"{run_ids[-1]}.db" in held and f"{run_ids[0]}.db" not in held
        instance.wipe()  # deletes the runs' files; the index is emptied, and used again
        assert _open_event_files(runs, index=False) == []
        assert not any(runs.glob(f"{run_ids[0]}.db*"))
        after = dg.materialize([tiny, tiny_ok], instance=instance).run_id
        assert "RUN_SUCCESS" in _event_kinds(instance.event_log_storage, after)
    assert _open_event_files(runs) == []  # disposing of the instance closes the rest
