"""The warehouse resource: the DuckDB file's settings and the engine that runs the build.

The DuckDB file is opened through `fs_assets.duckdb_file` (waits for another
process's lock with backoff, explains disk, permission and memory errors); writers are
serialised by the `duckdb_warehouse` concurrency pool (see the project's dagster.yaml).
The engine (DuckDB, or Spark when configured) is chosen here, once: assets call
`open_engine()` and never branch on it. Every setting comes from the resource's config;
`warehouse_from_env` passes the environment variables that are set as dg.EnvVar.
"""

import functools
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import Field

from fs_assets.engines import ENGINE_ENV, EngineName, resolve_engine
from fs_assets.engines.base import CheckReader, Engine
from fs_assets.engines.publish import DEFAULT_RETENTION_S
from fs_assets.model.cross_entity import check_reporting_currency
from fs_assets.model.file_modes import owner_only_umask
from fs_assets.model.paths import data_paths
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.duckdb_file import (
    ENV_MEMORY_LIMIT,
    LAYER_SCHEMAS,
    LOCK_REPORT_EVERY_S,
    WAIT_TIMEOUT_S,
    DuckDBFile,
    WarehouseLockTimeout,
    WarehouseWriteError,
    connect_with_retry,
    explain_memory_error,
    explain_write_error,
    lock_holder,
    open_file,
    table_exists,
)

if TYPE_CHECKING:
    from fs_assets.engines.spark_engine import SparkEngine
    from fs_assets.engines.spark_warehouse import SparkWarehouse
    from fs_assets.transforms.governance.export import ParquetSource

LOG = logging.getLogger(__name__)
WAREHOUSE_POOL = "duckdb_warehouse"
REPORTING_CURRENCY_ENV = "FS_ACCELERATOR_REPORTING_CURRENCY"
# DuckDB's own limits for every build connection: environment variables that override the
# resource's defaults (resources/__init__.py passes them as dg.EnvVar when set).
ENV_THREADS = "FS_ACCELERATOR_DUCKDB_THREADS"
ENV_TEMP_DIRECTORY = "FS_ACCELERATOR_DUCKDB_TEMP_DIRECTORY"
DEFAULT_MEMORY_LIMIT = "2GB"
# The Spark engine's settings, read as dg.EnvVar when set.
ENV_SPARK_MASTER = "FS_ACCELERATOR_SPARK_MASTER"
ENV_SPARK_WAREHOUSE = "FS_ACCELERATOR_SPARK_WAREHOUSE"
DEFAULT_SPARK_MASTER = "local[*]"

__all__ = [  # the DuckDB file's helpers, re-exported for callers of this module
    "LAYER_SCHEMAS",
    "LOCK_REPORT_EVERY_S",
    "WAIT_TIMEOUT_S",
    "WarehouseLockTimeout",
    "WarehouseResource",
    "WarehouseWriteError",
    "connect_with_retry",
    "explain_memory_error",
    "explain_write_error",
    "lock_holder",
    "resolved_warehouse",
    "table_exists",
    "warehouse_from_env",
]


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
        f"'spark'. Empty means duckdb. ${ENGINE_ENV} sets it.",
    )
    spark_master: str | None = Field(
        default=None,
        description="spark.master for the spark engine, e.g. spark://host:7077, yarn, "
        f"k8s://https://...; empty means {DEFAULT_SPARK_MASTER}. ${ENV_SPARK_MASTER} sets it.",
    )
    spark_warehouse: str | None = Field(
        default=None,
        description="Root of the spark engine's Parquet tables (a path, or an s3a://, hdfs:// "
        "or abfss:// URI); empty means the export folder beside the DuckDB file. "
        f"${ENV_SPARK_WAREHOUSE} sets it.",
    )
    spark_conf: dict[str, str] = Field(
        default_factory=dict,
        description="Extra Spark settings (spark.executor.memory, spark.hadoop.fs.s3a.*, ...).",
    )
    spark_version_retention_s: float = Field(
        default=DEFAULT_RETENTION_S,
        description="How long the spark engine keeps a replaced table version (seconds) "
        "after its pointer moved on, so readers still scanning it finish.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        owner_only_umask()  # before any step writes a table, a Parquet file or an export

    @property
    def resolved_reporting_currency(self) -> str:
        """The configured reporting currency, or a clear error naming the valid ones."""
        return check_reporting_currency(self.reporting_currency)

    @property
    def resolved_engine(self) -> EngineName:
        return resolve_engine(self.engine)

    @property
    def duckdb_file(self) -> DuckDBFile:
        """The DuckDB file and the settings of every connection to it."""
        return DuckDBFile(
            path=self.path,
            lock_timeout_s=self.lock_timeout_s,
            threads=self.threads,
            memory_limit=self.memory_limit,
            spill_dir=self.spill_dir,
            on_wait=_say_waiting,
        )

    def _spark_engine(self) -> "SparkEngine":
        from fs_assets.engines.spark_engine import SparkEngine  # pyspark and sqlglot: optional

        return SparkEngine(
            control=self.duckdb_file,
            root=self.spark_root,
            master=self.spark_master or DEFAULT_SPARK_MASTER,
            conf=dict(self.spark_conf),
            retention_s=self.spark_version_retention_s,
        )

    @property
    def on_spark(self) -> bool:
        """The one place the engine is chosen: everything else asks this or `open_engine`."""
        return self.resolved_engine == "spark"

    @property
    def keeps_change_record(self) -> bool:
        """Whether mastering records what each write changed (the DuckDB engine), so the
        mastered checks can evaluate the changed keys only; Spark rebuilds in full."""
        return not self.on_spark

    @contextmanager
    def open_engine(self) -> Iterator[Engine]:
        """The configured engine for one step."""
        if self.on_spark:
            engine: Engine = self._spark_engine()
        else:
            from fs_assets.engines.duckdb_engine import DuckDBEngine

            engine = DuckDBEngine(self.duckdb_file, self.export_dir)
        try:
            yield engine
        finally:
            engine.close()

    @property
    def spark_root(self) -> str:
        """Root of the spark engine's Parquet tables."""
        return self.spark_warehouse or str(self.export_dir)

    def governed_parquet(self) -> "ParquetSource | None":
        """On the spark engine, where a role's export reads each governed table: the
        Parquet files of its current version (`spark_tables.governed_parquet`); None on
        DuckDB, whose governed views are in the file."""
        if not self.on_spark:
            return None
        from fs_assets.engines.spark_tables import governed_parquet

        return functools.partial(governed_parquet, self.spark_root)

    @contextmanager
    def spark(self, *, read_only: bool = False) -> Iterator["SparkWarehouse"]:
        """The spark engine's warehouse whatever `engine` says (tests and benchmarks);
        its ingest ledger stays in this DuckDB file."""
        engine = self._spark_engine()
        try:
            with engine.warehouse(read_only=read_only) as wh:
                yield wh
        finally:
            engine.close()

    @contextmanager
    def for_checks(self, tables: Iterable[tuple[str, str]] = ()) -> Iterator[CheckReader]:
        """Where checks read the engine's output: `.execute(sql, params)` on either engine.

        `tables` (schema, name) are the tables the check's DuckDB SQL reads; the Spark
        engine exposes each under the name that SQL uses once transpiled.
        """
        with self.open_engine() as engine, engine.for_checks(tables) as reader:
            yield reader

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
        with open_file(self.duckdb_file, read_only=read_only) as conn:
            yield conn


def _say_waiting(message: str) -> None:
    """A wait is a warning in the run's log: the build prints it, the UI shows it."""
    dg.get_dagster_logger().warning(message)


def warehouse_from_env(home: str | None = None) -> WarehouseResource:
    """The warehouse with its settings (the engine, DuckDB's limits, the reporting
    currency, Spark's master and root) read as dg.EnvVar from the variables that are set.

    Resolved when the resource is used, so no value is read at import time; an unset
    variable keeps the field's default.
    """
    return WarehouseResource(home=home, **_env_settings())


def resolved_warehouse(home: str | None = None) -> WarehouseResource:
    """The same resource with its EnvVar settings resolved, for code outside a run (the
    CLI's export): each is read with `get_value()`, as `resolved_lineage_sink` does."""
    values = {field: var.get_value() for field, var in _env_settings().items()}
    return WarehouseResource(home=home, **values)


def _env_settings() -> dict[str, dg.EnvVar]:
    """The settings whose environment variable is set, as dg.EnvVar."""
    settings: dict[str, dg.EnvVar] = {}
    if os.environ.get(ENV_MEMORY_LIMIT):
        settings["memory_limit"] = dg.EnvVar(ENV_MEMORY_LIMIT)
    if os.environ.get(ENV_THREADS):
        settings["threads"] = dg.EnvVar.int(ENV_THREADS)
    if os.environ.get(ENV_TEMP_DIRECTORY):
        settings["temp_directory"] = dg.EnvVar(ENV_TEMP_DIRECTORY)
    if os.environ.get(REPORTING_CURRENCY_ENV):
        settings["reporting_currency"] = dg.EnvVar(REPORTING_CURRENCY_ENV)
    for field, env in (
        ("engine", ENGINE_ENV),
        ("spark_master", ENV_SPARK_MASTER),
        ("spark_warehouse", ENV_SPARK_WAREHOUSE),
    ):
        if os.environ.get(env):
            settings[field] = dg.EnvVar(env)
    return settings
