"""The embedded warehouse: one DuckDB file, opened briefly and politely.

DuckDB lets one process hold the file at a time (readers included). Writers are
serialised by the `duckdb_warehouse` concurrency pool (see the project's dagster.yaml);
this resource adds the second line of defence: when the file is held by someone else
(a CLI command, a query in a notebook) it waits with backoff up to `lock_timeout_s`,
logging who holds it, and then fails with a clear message instead of a bare IO error.
"""

import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import Field

from fs_assets.engines import Engine, resolve_engine
from fs_assets.file_modes import make_owner_only, owner_only_umask
from fs_assets.paths import data_paths

if TYPE_CHECKING:
    from fs_assets.engines.spark import SparkWarehouse

LOG = logging.getLogger(__name__)
WAREHOUSE_POOL = "duckdb_warehouse"
LAYER_SCHEMAS = ("raw", "mastered", "quarantine", "meta")


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether schema.name is a table or view of the warehouse."""
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


class WarehouseLockTimeout(RuntimeError):
    """Another process kept the warehouse file locked for longer than we agreed to wait."""


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def connect_with_retry(
    path: Path,
    *,
    read_only: bool = False,
    timeout_s: float = 600.0,
    threads: int | None = None,
    memory_limit: str | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (with jittered backoff) while another process holds it.

    A file opened for writing is made owner-only (0600), with its write-ahead log.
    """
    owner_only_umask()
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"the warehouse {path} does not exist yet: build it first "
            "(`fs-accelerator build` or the README's main command)"
        )
    config: dict[str, str | int] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    announced = False
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only, config=config)
            if not read_only:
                make_owner_only(path)
                make_owner_only(path.with_name(path.name + ".wal"))
            return conn
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(
                    f"the warehouse {path} stayed locked for {timeout_s:.0f}s: {exc}"
                ) from exc
            if not announced and on_wait is not None:
                on_wait(f"waiting for the warehouse lock on {path}: {exc}")
                announced = True
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 2.0)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file of the project's data folder (or an explicit path)."""

    home: str | None = Field(
        default=None,
        description="Data folder; empty means $FS_ACCELERATOR_HOME, else ./data of the checkout.",
    )
    database: str | None = Field(
        default=None, description="Explicit DuckDB file; overrides <home>/warehouse.duckdb."
    )
    lock_timeout_s: float = Field(default=900.0, description="How long to wait for the lock.")
    memory_limit: str | None = Field(
        default="2GB",
        description="DuckDB memory_limit per connection; beyond it DuckDB spills to disk. "
        "Keeps a build's peak memory bounded as data grows.",
    )

    engine: str | None = Field(
        default=None,
        description="Where the raw, mastered and regional transformations run: 'duckdb' or "
        "'spark'. Empty means $FS_ACCELERATOR_ENGINE, else duckdb.",
    )
    spark_master: str | None = Field(
        default=None,
        description="spark.master for the spark engine, e.g. spark://host:7077, yarn, "
        "k8s://https://...; empty means $FS_ACCELERATOR_SPARK_MASTER, else local[*].",
    )
    spark_warehouse: str | None = Field(
        default=None,
        description="Root of the spark engine's Parquet tables (a path, or an s3a://, hdfs:// "
        "or abfss:// URI); empty means $FS_ACCELERATOR_SPARK_WAREHOUSE, else the export "
        "folder beside the DuckDB file.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings (spark.executor.memory, spark.hadoop.fs.s3a.*, ...).",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        owner_only_umask()  # before any step writes a table, a Parquet file or an export

    @property
    def resolved_engine(self) -> Engine:
        return resolve_engine(self.engine)

    @contextmanager
    def spark(self, *, read_only: bool = False) -> Iterator["SparkWarehouse"]:
        """The spark engine's warehouse; its ingest ledger stays in this DuckDB file."""
        from fs_assets.engines.spark import SparkWarehouse, build_session

        master = self.spark_master or os.environ.get("FS_ACCELERATOR_SPARK_MASTER") or "local[*]"
        root = (
            self.spark_warehouse
            or os.environ.get("FS_ACCELERATOR_SPARK_WAREHOUSE")
            or str(self.export_dir)
        )
        with self.connect(read_only=read_only) as conn:
            yield SparkWarehouse(build_session(master, conf=self.spark_conf), root, conn)

    @contextmanager
    def for_checks(
        self, tables: Iterable[tuple[str, str]] = ()
    ) -> Iterator["duckdb.DuckDBPyConnection | SparkWarehouse"]:
        """Where checks read the engine's output: both answer `.execute(sql, params)`.

        DuckDB: the file, read-only (`tables` is not needed there). Spark: its Parquet
        output, with each (schema, name) of `tables` exposed under the name the check's
        DuckDB SQL uses once transpiled, so every check keeps one copy of its SQL.
        """
        if self.resolved_engine == "spark":
            from fs_assets.engines.spark import register_tables

            with self.spark(read_only=True) as wh:
                register_tables(wh, tables)
                yield wh
        else:
            with self.connect(read_only=True) as conn:
                yield conn

    @property
    def path(self) -> Path:
        if self.database:
            return Path(self.database).expanduser().resolve()
        return data_paths(self.home).warehouse

    @property
    def export_dir(self) -> Path:
        """Folder for files the warehouse writes for other engines, beside the DuckDB file."""
        return self.path.parent / "warehouse"

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one unit of work; closed (and the lock released) afterwards."""
        conn = connect_with_retry(
            self.path,
            read_only=read_only,
            timeout_s=self.lock_timeout_s,
            memory_limit=self.memory_limit,
            on_wait=LOG.info,
        )
        try:
            if not read_only:
                for schema in LAYER_SCHEMAS:
                    conn.execute(f"create schema if not exists {schema}")
            yield conn
        finally:
            conn.close()
