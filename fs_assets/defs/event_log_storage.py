"""Dagster's SQLite event log storage with one engine kept per database file.

Dagster's `SqliteEventLogStorage` builds a SQLAlchemy engine for every connection, opens a
new SQLite connection with it, and disposes of both afterwards; it also asks SQLite
whether the asset-check table exists before storing each check event. An update run
stores some 170 events (45 checks, each planned and evaluated, in the run's file and the
cross-run index): about 1,000 connections, one second of a four-second run at 1M
customers. This storage keeps the engines (and so their connections) of the files used
last, and remembers the check table once it is there. Everything else, the files, their
schema, the locking, what is written and when it commits, is Dagster's own.

The instance configuration (`fs_assets/app/dagster.yaml`) names this class for the event
log. Its files stay where Dagster's default puts them, `$DAGSTER_HOME/history/runs`, so an
instance made before can switch to it, and back, with nothing to migrate.
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine

# Engines kept at once: a build touches its run's file and the index; the webserver reads
# runs one after another. The least recently used beyond this are disposed of (their file
# handles closed), so a long-lived process never holds one per run ever viewed.
KEPT_ENGINES = 8
# Connections kept per file: Dagster holds one lock around every connection, so one is
# used at a time; the spare is for setting up a new file's schema (Dagster's `_initdb`
# inspects and creates tables through the engine while its own connection is open).
POOL_SIZE = 1
POOL_OVERFLOW = 1


def default_base_dir() -> str:
    """Where Dagster's default SQLite storage keeps the per-run event files."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise dg.DagsterInvariantViolationError(
            "the event log storage of fs-accelerator's dagster.yaml needs DAGSTER_HOME set to "
            "the instance folder (or `base_dir` in its config); run through `fs-accelerator`, "
            "which sets it"
        )
    return os.path.join(home, "history", "runs")


class KeptEngineEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` that keeps an engine per file instead of one per connection."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._has_check_table = False
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> KeptEngineEventLogStorage:
        base_dir = config_value.get("base_dir") or default_base_dir()
        return cls(base_dir=base_dir, inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        """The kept engine of one file, made (and its schema set up, once) on first use."""
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
            # A new file's first connection predates its WAL mode; connections opened from
            # here on see it (and `quick_commits` tunes them, which it does only for WAL).
            engine.dispose()
        self._engines[shard] = engine
        while len(self._engines) > KEPT_ENGINES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextlib.contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # The same lock and transaction as Dagster's own `_connect`; only the engine is kept.
        with self._db_lock, self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def reopen_connections(self, forget_engines: bool = False) -> None:
        """Close the kept connections: the next ones are opened afresh, with the connection
        settings in force then (`event_store.quick_commits` tunes new connections only).
        With `forget_engines`, the engines go too (the files may be deleted or replaced)."""
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            if forget_engines:
                self._engines.clear()

    def _dispose_engines(self) -> None:
        self.reopen_connections(forget_engines=True)

    @property
    def supports_asset_checks(self) -> bool:
        # The table, once there, stays (no migration drops it): asked until it is found.
        if not self._has_check_table:
            self._has_check_table = super().supports_asset_checks
        return self._has_check_table

    def wipe(self) -> None:
        self._dispose_engines()  # the files are deleted: no connection may outlive them
        super().wipe()

    def upgrade(self) -> None:
        self._dispose_engines()
        super().upgrade()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()
