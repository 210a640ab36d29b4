"""The embedded warehouse: one DuckDB file, opened briefly and politely.

DuckDB lets one process hold the file at a time (readers included). Writers are
serialised by the `duckdb_warehouse` concurrency pool (see the project's dagster.yaml);
this resource adds the second line of defence: when the file is held by someone else
(a CLI command, a query in a notebook) it waits with backoff up to `lock_timeout_s`,
saying every few seconds who holds it and for how long, and then fails with a clear
message instead of a bare IO error. A write that fails (a full disk, a read-only folder)
is reported with its cause first, not DuckDB's follow-up "cannot rollback" error.
"""

import errno
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import Field

from fs_assets.engines import Engine, resolve_engine
from fs_assets.model.cross_entity import check_reporting_currency
from fs_assets.model.file_modes import make_owner_only, owner_only_umask
from fs_assets.model.paths import data_paths
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY

if TYPE_CHECKING:
    from fs_assets.engines.spark import SparkWarehouse

LOG = logging.getLogger(__name__)
WAREHOUSE_POOL = "duckdb_warehouse"
WAIT_TIMEOUT_S = 600.0  # default for every wait: the warehouse lock, the pool slot
LOCK_REPORT_EVERY_S = 10.0
LAYER_SCHEMAS = ("raw", "mastered", "quarantine", "meta")
REPORTING_CURRENCY_ENV = "FS_ACCELERATOR_REPORTING_CURRENCY"
# DuckDB's own limits for every build connection: environment variables that override the
# resource's defaults (resources/__init__.py passes them as dg.EnvVar when set).
ENV_MEMORY_LIMIT = "FS_ACCELERATOR_DUCKDB_MEMORY_LIMIT"
ENV_THREADS = "FS_ACCELERATOR_DUCKDB_THREADS"
ENV_TEMP_DIRECTORY = "FS_ACCELERATOR_DUCKDB_TEMP_DIRECTORY"
DEFAULT_MEMORY_LIMIT = "2GB"


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


class WarehouseWriteError(RuntimeError):
    """A write to the warehouse failed; the message names the cause and what to do."""


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def lock_holder(exc: BaseException) -> str:
    """Who holds the lock, from DuckDB's message ('... held in python3 (PID 123) ...')."""
    found = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
    return f"{found.group(1)} (PID {found.group(2)})" if found else "another process"


_ROLLBACK_AFTER_FAILURE = "no transaction is active"
_DISK_FULL = ("no space left on device", "disk is full", "database or disk is full")
_READ_ONLY = ("read-only file system", "permission denied")


def _root_cause(exc: BaseException) -> BaseException:
    """The error a failed rollback hid: DuckDB already aborted the transaction on the
    first error, so the writer's own `rollback` fails and Python chains it last."""
    while (
        isinstance(exc, duckdb.Error)
        and _ROLLBACK_AFTER_FAILURE in str(exc).lower()
        and exc.__context__ is not None
    ):
        exc = exc.__context__
    return exc


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during, first raised last."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _kind(exc: BaseException) -> str | None:
    text, code = str(exc).lower(), getattr(exc, "errno", None)
    if code == errno.ENOSPC or any(s in text for s in _DISK_FULL):
        return "disk full"
    if code in (errno.EROFS, errno.EACCES) or any(s in text for s in _READ_ONLY):
        return "read-only"
    return None


def explain_write_error(exc: BaseException, path: Path) -> BaseException | None:
    """A WarehouseWriteError saying cause first and what to do, or None to let `exc` be.

    The cause is the first-raised error of the chain that names a full disk or a
    read-only file, else the error a failed rollback hid."""
    found = [(e, k) for e in reversed(_chain(exc)) if (k := _kind(e)) is not None]
    cause, kind = found[0] if found else (_root_cause(exc), None)
    if kind == "disk full":
        advice = (
            f"the disk holding {path.parent} is full: free space there (or point "
            "FS_ACCELERATOR_HOME at a larger disk) and run the build again; the write was "
            "rolled back and the previous tables are intact"
        )
    elif kind == "read-only":
        advice = (
            f"the warehouse {path} cannot be written (read-only folder or no permission): "
            "make the data folder writable or point FS_ACCELERATOR_HOME elsewhere"
        )
    elif cause is not exc:
        advice = "the write was rolled back and the previous tables are intact"
    else:
        return None
    error = WarehouseWriteError(f"{advice}. Cause: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error


def explain_memory_error(
    exc: BaseException, memory_limit: str | None, spill_dir: Path
) -> BaseException | None:
    """A WarehouseWriteError naming the setting to raise when DuckDB ran out of memory.

    DuckDB spills joins, aggregates and sorts to `spill_dir`; what cannot spill (or a full
    spill disk) ends in an OutOfMemoryException, whose text alone does not say what to do.
    """
    cause = next(
        (e for e in reversed(_chain(exc)) if isinstance(e, duckdb.OutOfMemoryException)), None
    )
    if cause is None:
        return None
    error = WarehouseWriteError(
        f"DuckDB needed more memory than the warehouse's memory_limit "
        f"({memory_limit or 'DuckDB default'}) allows and could not spill the rest to "
        f"{spill_dir}: raise the warehouse resource's memory_limit (or set "
        f"{ENV_MEMORY_LIMIT}, e.g. 4GB), lower its threads, or give temp_directory more "
        "disk; the write was rolled back and the previous tables are intact. "
        f"Cause: {type(cause).__name__}: {cause}"
    )
    error.__cause__ = cause
    return error


def connect_with_retry(
    path: Path,
    *,
    read_only: bool = False,
    timeout_s: float = WAIT_TIMEOUT_S,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (with jittered backoff) while another process holds it.

    `threads`, `memory_limit` and `temp_directory` (where DuckDB spills what does not fit
    under the limit; created owner-only) are DuckDB settings; None keeps DuckDB's default.
    `on_wait` hears what is awaited and for how long: at once, then every few seconds.
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
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp_directory)
    started = time.monotonic()
    delay = 0.05
    reported_at: float | None = None
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
            now = time.monotonic()
            waited = now - started
            if waited >= timeout_s:
                raise WarehouseLockTimeout(
                    f"gave up after {timeout_s:.0f} s waiting for the warehouse lock on {path} "
                    f"held by {lock_holder(exc)}: close that program (a DuckDB shell, a "
                    "notebook, another build) and run again, or raise the wait "
                    "(the warehouse resource's lock_timeout_s)"
                ) from exc
            if on_wait is not None and (
                reported_at is None or now - reported_at >= LOCK_REPORT_EVERY_S
            ):
                on_wait(
                    f"waiting for the warehouse lock on {path} held by {lock_holder(exc)} "
                    f"({waited:.0f} s of {timeout_s:.0f} s)"
                )
                reported_at = now
            # Never sleep past the next promised report or past the deadline.
            next_report = (
                LOCK_REPORT_EVERY_S - (now - reported_at) if reported_at is not None else delay * 2
            )
            pause = min(delay + random.uniform(0, delay), next_report, timeout_s - waited)
            time.sleep(max(pause, 0.0))
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
    lock_timeout_s: float = Field(
        default=WAIT_TIMEOUT_S,
        description="How long to wait for another process's lock on the file, in seconds.",
    )
    memory_limit: str | None = Field(
        default=DEFAULT_MEMORY_LIMIT,
        description="DuckDB memory_limit of every build connection (e.g. '2GB', '512MB'); "
        "beyond it DuckDB spills to temp_directory, so a larger-than-memory build slows "
        "down instead of failing. Empty means DuckDB's default (80% of RAM). "
        f"${ENV_MEMORY_LIMIT} overrides the default.",
    )
    threads: int | None = Field(
        default=None,
        description="DuckDB threads of every build connection; empty means one per core. "
        f"Lower it to share the machine. ${ENV_THREADS} overrides the default.",
    )
    temp_directory: str | None = Field(
        default=None,
        description="Folder where DuckDB spills what does not fit under memory_limit; put "
        "it on a disk with room (spilling needs up to the build's working set). Empty means "
        f"<warehouse file>.tmp beside the DuckDB file. ${ENV_TEMP_DIRECTORY} overrides it.",
    )

    reporting_currency: str = Field(
        default=DEFAULT_REPORTING_CURRENCY,
        description="ISO code of the currency every transaction amount is also stated in "
        "(mastered.transaction.amount_reporting) and the marts report; set through "
        f"${REPORTING_CURRENCY_ENV}.",
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
    def resolved_reporting_currency(self) -> str:
        """The configured reporting currency, or a clear error naming the valid ones."""
        return check_reporting_currency(self.reporting_currency)

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
    def spill_dir(self) -> Path:
        """Where DuckDB spills: temp_directory, else DuckDB's own default beside the file."""
        if self.temp_directory:
            return Path(self.temp_directory).expanduser().resolve()
        return self.path.with_name(self.path.name + ".tmp")

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
            threads=self.threads,
            memory_limit=self.memory_limit,
            temp_directory=self.spill_dir,
            on_wait=_say_waiting,
        )
        try:
            if not read_only:
                for schema in LAYER_SCHEMAS:
                    conn.execute(f"create schema if not exists {schema}")
            yield conn
        except Exception as exc:
            explained = explain_memory_error(exc, self.memory_limit, self.spill_dir)
            explained = explained or explain_write_error(exc, self.path)
            if explained is None:
                raise
            raise explained from explained.__cause__
        finally:
            conn.close()


def _say_waiting(message: str) -> None:
    """A wait is a warning in the run's log: the build prints it, the UI shows it."""
    dg.get_dagster_logger().warning(message)


def warehouse_from_env(home: str | None = None) -> WarehouseResource:
    """The warehouse with its settings (DuckDB's limits, the reporting currency) read as
    dg.EnvVar from the variables that are set.

    Resolved when the resource is used, so no value is read at import time; an unset
    variable keeps the field's default.
    """
    settings: dict[str, object] = {}
    if os.environ.get(ENV_MEMORY_LIMIT):
        settings["memory_limit"] = dg.EnvVar(ENV_MEMORY_LIMIT)
    if os.environ.get(ENV_THREADS):
        settings["threads"] = dg.EnvVar.int(ENV_THREADS)
    if os.environ.get(ENV_TEMP_DIRECTORY):
        settings["temp_directory"] = dg.EnvVar(ENV_TEMP_DIRECTORY)
    if os.environ.get(REPORTING_CURRENCY_ENV):
        settings["reporting_currency"] = dg.EnvVar(REPORTING_CURRENCY_ENV)
    return WarehouseResource(home=home, **settings)
