"""The Spark engine's warehouse: a session, Parquet tables under `root`, manifests.

Nothing here restates a transformation. Each step takes the DuckDB SQL that
`raw_history`, `mastering` and `regional` build, transpiles it (`portable.to_spark`) and
runs it with `spark.sql(text, args=[...])`; parameters stay `?` parameters. What is
Spark-specific is only input and output:

- landing files are read with the DataFrameReader (paths never enter SQL text), CSV with
  DuckDB's dialect (header, `"` quote and escape, all text, FAILFAST so a malformed row
  rejects the whole file, as DuckDB's strict mode does); every new file of an entity is
  read and merged by one job (file by file only when that job fails, as on DuckDB);
- warehouse tables are Parquet folders under `root`: `raw/<entity>/batch=<id>/` (one
  folder per ingested file, all written by one job, each renamed in whole, read only
  once the ledger commits it and listed for plain readers in `raw/<entity>/_CURRENT`;
  one the ledger lacks is dropped),
  `quarantine/<entity>_ingest_rejects/batch=<id>/`, `mastered/<entity>/`,
  `mastered/<entity>_history/`, `quarantine/<entity>_rejects/`,
  `quarantine/<entity>_pending_corrections/`, `quarantine/<entity>_superseded_invalid/`
  (each build's version folders named together by one manifest `_builds/<entity>.json`,
  see publish.py) and the Hive layout `customer_overview/country=<c>/state=<s>/` (a
  version folder per partition, named by one manifest);
- the ingest ledger (`meta.ingest_ledger`) stays in the small DuckDB file of the data
  folder (the control plane); the data never goes there, but for identity resolution's
  state (spark_identity.SparkIdentity: its records, pairs and golden ids live in the
  file on both engines, and its two mastered tables are published here).

Mastering on Spark is incremental, as on DuckDB, but Parquet is not updated in place: a
build re-evaluates the changed keys and writes each table's new version as the previous
version without those keys plus their new rows (`spark_mastering.build_mastered`).

This module is the warehouse all of them write through (`SparkWarehouse`); the steps are
spark_ingest, spark_mastering, spark_regions, spark_governed and spark_marts, and
`spark_engine.SparkEngine` is the `base.Engine` that the assets and checks call.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from fs_assets.engines.portable import to_spark, view_name
from fs_assets.engines.publish import (
    BUILDS,
    DEFAULT_RETENTION_S,
    LOCK_FILE,
    POINTER,
    build_manifest,
    commit_local,
    expired,
    hold_lock,
    is_object_store,
    local_path,
    new_version,
    parse_pointer,
    pointer_text,
)
from fs_assets.engines.spark_formats import spark_params
from fs_assets.engines.spark_types import duckdb_type
from fs_assets.identity.source_entity import SOURCE_PREFIX
from fs_assets.identity.tables import PUBLISHED
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import LEDGER, MARTS_SCHEMA, META_SCHEMA
from fs_assets.transforms.duckdb_file import table_exists
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.landing_files import hadoop_literal_path

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, DataFrameReader, SparkSession
    from pyspark.sql.types import StructType


# Spark settings that make its SQL mean what DuckDB's means: naive timestamps (DuckDB's
# TIMESTAMP), UTC, ANSI casts (try_cast returns null instead of guessing); then four that
# only change speed:
# - a frame the engine caches (an ingest's stage, mastering's evaluated versions) is read
#   a few times within one step and dropped: building the cache uncompressed took 4.4-5.5 s
#   for 1M rows of text against 15-22 s compressed (it spills to disk, MEMORY_AND_DISK,
#   when memory is short, as before);
# - a write split into folders by a column (an ingest's batches, the region layout) keeps
#   up to 4 files open per task instead of sorting the task's rows by that column first
#   (an ingest's task holds one file's rows, so one folder): 1M rows written in 4.4 s
#   instead of 6.5 s; past 4 folders in a task, the rest is sorted as before;
# - a plan whose generated Java method outgrows 8,000 bytes of bytecode (mastering's rules:
#   one expression per rule) is run without whole-stage codegen for that part: HotSpot
#   does not compile a method that large (its HugeMethodLimit), so Spark's default of
#   65,535 left it interpreted. Evaluating the customer's rules over 100,000 versions took
#   9.6-10.8 s, now 3.8 s;
# - a join side estimated at up to 32 MB (Spark's default: 10 MB) is copied to every task
#   instead of shuffling both sides: at 1M customers the transactions' account lookup is
#   estimated at 10.6 MB, and evaluating 10M transactions' rules took 27-28 s with it
#   copied, 32-33 s shuffled. Larger sides (that lookup at 10M customers) are still
#   shuffled. (The fx lookup is copied at any size: `portable._hint_small_lookups`.)
SESSION_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    "spark.sql.optimizer.plannedWrite.enabled": "false",
    "spark.sql.maxConcurrentOutputFileWriters": "4",
    "spark.sql.codegen.hugeMethodLimit": "8000",
    "spark.sql.autoBroadcastJoinThreshold": str(32 * 1024 * 1024),
    # Spark 4 passes its children's partitioning through a UNION ALL when they all agree
    # (SPARK-52921); a batch's files, each read as one partition, all report a single
    # partition, so the whole batch became one partition on one core (1M customers: the
    # transaction ingest 98.6 s, 58.8 s with each file a partition of its own).
    "spark.sql.unionOutputPartitioning": "false",
}
# The driver's JVM collects garbage with the parallel collector, which favours throughput
# over pause times (Java 17's default, G1, the reverse): a batch job pauses no one. At 1M
# customers (bench/engines.py, local[2], where the driver runs the tasks too) raw took
# 140.0 s against 145.1 s, the first mastering 188.6 against 202.3 s, the update 42.3
# against 52.5 s. Not when anything this process can see picks a collector already (two
# collectors stop the JVM at start): the JVM's environment options, the session's
# settings, Spark's defaults file. Nor for a cluster's executors: their JVMs start in the
# workers' environment, which this process cannot see (the cluster's own settings decide).
THROUGHPUT_GC = "-XX:+UseParallelGC"
JVM_OPTION_VARIABLES = ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")
_GC_OPTION = re.compile(r"-XX:\+Use\w+GC\b")


def driver_gc_options(
    settings: Mapping[str, str], environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The driver's extraJavaOptions with THROUGHPUT_GC after those of `settings`, or none
    when a collector is chosen already: by `environ`'s JVM options, by `settings` (any
    value), or by spark-defaults.conf under SPARK_CONF_DIR (else SPARK_HOME/conf)."""
    seen = [environ.get(name, "") for name in JVM_OPTION_VARIABLES]
    seen.extend(settings.values())
    home = environ.get("SPARK_HOME")
    conf_dir = environ.get("SPARK_CONF_DIR") or (f"{home}/conf" if home else "")
    defaults = Path(conf_dir, "spark-defaults.conf")
    if conf_dir and defaults.is_file():
        seen.append(defaults.read_text(encoding="utf-8", errors="replace"))
    if any(_GC_OPTION.search(text) for text in seen):
        return {}
    key = "spark.driver.extraJavaOptions"
    return {key: " ".join(filter(None, (settings.get(key), THROUGHPUT_GC)))}


AUDIT_DDL = (
    "_modified_ts TIMESTAMP_NTZ, _source_file STRING, _source_row BIGINT, "
    "_ingested_at TIMESTAMP_NTZ, _batch_id BIGINT"
)
INGEST_REJECTS_SUFFIX = "_ingest_rejects"
# The column an ingest writes its batch folders by (one per file's ingest id), renamed
# to `batch=<id>` before the commit; never a column of the tables themselves.
BATCH_COLUMN = "ingest_id"
STAGING = "_staging"  # hidden from Spark's and pyarrow's listings (a leading underscore)
INGEST_REJECTS_DDL = (
    "_source_file STRING, _source_row BIGINT, _reason STRING, _rejected_at TIMESTAMP_NTZ"
)


def similarity_jar() -> str:
    """The jar of Splink's Scala similarity functions for this Spark's major version."""
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def build_session(
    master: str = "local[*]", app_name: str = "fs-accelerator", conf: dict[str, str] | None = None
) -> SparkSession:
    """A SparkSession with the settings above (overridable) on `master`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    # Python workers (rarely needed: no UDFs) run this interpreter, not whatever is on PATH.
    python = {"spark.pyspark.python": sys.executable}
    settings = {**SESSION_DEFAULTS, **python, **(conf or {})}
    settings.update(driver_gc_options(settings))
    # Splink's similarity functions (identity resolution), beside any jar of the settings:
    # a jar is loaded when the session starts, never later.
    settings["spark.jars"] = ",".join(filter(None, (settings.get("spark.jars"), similarity_jar())))
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


class SparkCursor:
    """The DB-API corner the checks and charts use (`fetchone`, `fetchall`,
    `description`: a 7-tuple per column, name and type first) over a Spark result. The
    types are named as DuckDB names them, so a caller compares them on either engine."""

    def __init__(self, frame: DataFrame) -> None:
        self._rows = [tuple(r) for r in frame.collect()]
        self.description = [
            (f.name, duckdb_type(f.dataType), None, None, None, None, None)
            for f in frame.schema.fields
        ]

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return list(self._rows)


def read_folders(reader: DataFrameReader, folders: Sequence[str]) -> DataFrame:
    """The Parquet files of exactly these folders. Hadoop globs a path, so each is
    escaped first: a folder named `wh [1]` must not read `wh 1` (a path is data, never a
    pattern). Every read of a warehouse folder goes through here."""
    return reader.parquet(*(hadoop_literal_path(f) for f in folders))


class VersionFrames:
    """Frames of version folders read so far, by folder and schema: at most `limit` kept
    (the oldest dropped first), so a long-lived process holds a bounded number of plans."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._frames: dict[tuple[str, str | None], DataFrame] = {}

    def read(self, spark: SparkSession, folder: str, ddl: str | None) -> DataFrame:
        key = (folder, ddl)
        frame = self._frames.pop(key, None)
        if frame is None:
            reader = spark.read.option("recursiveFileLookup", "true")
            frame = read_folders(reader if ddl is None else reader.schema(ddl), [folder])
        self._frames[key] = frame  # re-inserted: the most recently read is dropped last
        while len(self._frames) > self.limit:
            del self._frames[next(iter(self._frames))]
        return frame


@dataclass
class SparkWarehouse:
    """Parquet tables under `root` (a local path or an s3a://, hdfs://, abfss:// URI)."""

    spark: SparkSession
    root: str
    control: duckdb.DuckDBPyConnection  # the ledger (and identity's state)
    retention_s: float = DEFAULT_RETENTION_S  # how long replaced versions are kept
    _builds: dict[str, dict | None] = field(default_factory=dict)  # manifests read so far
    # Version folders read so far (a version is written once, under a new name, and never
    # changed), so a statement reading a table again skips Spark's file listing and schema
    # inference (a job each). The engine passes one for its session's warehouses.
    versions: VersionFrames = field(default_factory=lambda: VersionFrames())

    # --- files ------------------------------------------------------------------------
    def table_path(self, schema: str, name: str) -> str:
        return f"{self.root.rstrip('/')}/{schema}/{name}"

    def _hpath(self, path: str) -> Any:
        return self.spark._jvm.org.apache.hadoop.fs.Path(path)  # type: ignore[union-attr]

    def _fs(self, path: str) -> Any:
        conf = self.spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
        return self._hpath(path).getFileSystem(conf)

    def exists(self, path: str) -> bool:
        return bool(self._fs(path).exists(self._hpath(path)))

    def delete(self, path: str) -> None:
        self._fs(path).delete(self._hpath(path), True)

    def _rename(self, src: str, dst: str) -> None:
        parent = dst.rsplit("/", 1)[0]
        self._fs(dst).mkdirs(self._hpath(parent))
        if not self._fs(src).rename(self._hpath(src), self._hpath(dst)):
            raise OSError(f"could not rename {src} to {dst}")

    def _children(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        return [s.getPath().getName() for s in self._fs(path).listStatus(self._hpath(path))]

    # --- versions and manifests (see publish.py) --------------------------------------
    def read_doc(self, path: str) -> dict | None:
        """The manifest document at `path`; None if there is none."""
        local = local_path(path)
        if local is not None:
            if not local.exists():
                return None
            return parse_pointer(local.read_text(encoding="utf-8"), path)
        if not self.exists(path):
            return None
        stream = self._fs(path).open(self._hpath(path))
        try:
            io = self.spark._jvm.org.apache.commons.io.IOUtils  # type: ignore[union-attr]
            return parse_pointer(str(io.toString(stream, "UTF-8")), path)
        finally:
            stream.close()

    def read_pointer(self, folder: str) -> dict | None:
        """The manifest of the layout or batch table at `folder`; None if it has none."""
        return self.read_doc(f"{folder}/{POINTER}")

    def commit_doc(self, path: str, doc: dict) -> None:
        """Make `doc` the manifest at `path` in one atomic step (publish.py says how)."""
        text = pointer_text(doc)
        local = local_path(path)
        if local is not None:
            commit_local(local, text)
            return
        fs, target = self._fs(path), self._hpath(path)
        if is_object_store(path):  # one PUT: the object appears whole or not at all
            out = fs.create(target, True)
            try:
                out.write(bytearray(text.encode("utf-8")))
            finally:
                out.close()
            return
        folder, name = path.rsplit("/", 1)
        tmp = self._hpath(f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp")
        out = fs.create(tmp, False)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        jvm = self.spark._jvm  # type: ignore[union-attr]
        conf = self.spark._jsc.hadoopConfiguration()  # type: ignore[union-attr]
        context = jvm.org.apache.hadoop.fs.FileContext.getFileContext(target.toUri(), conf)
        gateway = self.spark.sparkContext._gateway  # type: ignore[union-attr]
        overwrite = gateway.new_array(jvm.org.apache.hadoop.fs.Options.Rename, 1)
        overwrite[0] = jvm.org.apache.hadoop.fs.Options.Rename.OVERWRITE
        context.rename(tmp, target, overwrite)  # atomic on HDFS

    @contextmanager
    def manifest_lock(self, folder: str) -> Iterator[None]:
        """Serialize read-modify-write of `folder/_CURRENT` among writers (publish.py).

        A local path: an exclusive `flock` on `folder/._CURRENT.lock`, released by the
        kernel when its holder dies. Another filesystem has no lock here: the writers of a
        data folder are serialized by its control file's write lock, held for each step."""
        local = local_path(folder)
        if local is None:
            yield
            return
        with hold_lock(local / LOCK_FILE):
            yield

    def drop_expired(self, folder: str, keep: set[str]) -> None:
        """Delete the version folders under `folder` that are not kept and have outlived
        the retention, and files of the layout before versions (never read again)."""
        for name in self._children(folder):
            legacy = name.endswith(".parquet") and not name.startswith(("_", "."))
            if legacy or name in expired([name], keep, self.retention_s):
                self.delete(f"{folder}/{name}")

    def restate(self, build: str, state: dict) -> None:
        """Record that the current build of `build` is up to date with `state`'s raw
        batches and referenced builds (nothing it holds changed): its tables, version and
        changes stay, so the entities reading it see no new build."""
        doc = dict(self.build(build) or {})
        before = doc.get("state") or {}
        carried = {k: before[k] for k in ("full", "base", "changes") if k in before}
        doc["state"] = {**state, **carried}  # what the build itself was stays as it was
        self.commit_doc(build_manifest(self.root, build), doc)
        self._builds[build] = doc

    def drop_unnamed(self, build: str) -> None:
        """Drop the expired versions of a build's tables that its manifest does not name
        (a killed build's leftovers), as the next build would."""
        doc = self.build(build) or {}
        for table, folder in doc.get("tables", {}).items():
            self.drop_expired(self.table_path(*table.split("/", 1)), {folder.rsplit("/", 1)[-1]})

    def build(self, build: str) -> dict | None:
        """The manifest of one mastering build, read once per unit of work: every table
        of the build is then read from the same build, even if a newer one commits."""
        if build not in self._builds:
            self._builds[build] = self.read_doc(build_manifest(self.root, build))
        return self._builds[build]

    def current_path(self, schema: str, name: str) -> str | None:
        """The current version folder of a table a build replaces; None before its first."""
        owner = build_owner(schema, name)
        doc = self.build(owner) if owner is not None else None
        folder = (doc or {}).get("tables", {}).get(f"{schema}/{name}")
        return None if folder is None else f"{self.root.rstrip('/')}/{folder}"

    # --- SQL --------------------------------------------------------------------------
    def sql(self, duckdb_sql: str, params: Sequence[object] | None = None) -> DataFrame:
        """Run one statement written in DuckDB SQL, transpiled, with `?` parameters (a
        strptime layout bound as its Spark pattern)."""
        return self.spark.sql(to_spark(duckdb_sql), args=spark_params(params))

    def execute(self, duckdb_sql: str, params: Sequence[object] | None = None) -> SparkCursor:
        """Like `duckdb.execute`: lets DuckDB-style check code run against Spark tables."""
        return SparkCursor(self.sql(duckdb_sql, params))

    def read(self, schema: str, name: str, ddl: str | None = None) -> DataFrame | None:
        """The Parquet table schema.name; None (or empty with `ddl`) if absent.

        A batch table (raw, ingest rejects) is the batch folders the ingest ledger has
        committed (a folder renamed in by a writer killed before its ledger row is never
        read); a replaced table is the version its build's manifest names."""
        if is_batch_table(schema, name):
            paths = [f"{self.table_path(schema, name)}/{b}" for b in self.batches(schema, name)]
        else:
            path = self.current_path(schema, name)
            if path is not None:
                return self.versions.read(self.spark, path, ddl)
            paths = []
        if not paths:
            return None if ddl is None else self.spark.createDataFrame([], ddl)
        return self.read_folders(paths, schema=ddl, recursive=True)

    def read_folders(
        self,
        folders: Sequence[str],
        *,
        schema: str | StructType | None = None,
        base: str | None = None,
        recursive: bool = False,
    ) -> DataFrame:
        """The Parquet files of exactly these folders (`read_folders`), with the given
        schema, Hive partition `base` folder, or files in sub-folders too."""
        reader = self.spark.read
        if schema is not None:
            reader = reader.schema(schema)
        if base is not None:
            reader = reader.option("basePath", base)
        if recursive:
            reader = reader.option("recursiveFileLookup", "true")
        return read_folders(reader, folders)

    def batches(self, schema: str, name: str) -> list[str]:
        """The batch folders of raw or ingest rejects that the ingest ledger commits."""
        entity = name.removesuffix(INGEST_REJECTS_SUFFIX)
        if not table_exists(self.control, META_SCHEMA, LEDGER.removeprefix(f"{META_SCHEMA}.")):
            return []
        committed = {
            batch_folder(r[0])
            for r in self.control.execute(
                f"select ingest_id from {LEDGER} where entity = ? and ingest_id is not null",
                [entity],
            ).fetchall()
        }
        return sorted(n for n in self._children(self.table_path(schema, name)) if n in committed)

    def register(self, schema: str, name: str, ddl: str | None = None) -> bool:
        """Expose schema.name to the transpiled SQL as its view; False if it does not exist."""
        frame = self.read(schema, name, ddl)
        if frame is None:
            return False
        frame.createOrReplaceTempView(view_name(schema, name))
        return True

    def pandas_chunks(
        self,
        duckdb_sql: str,
        chunk_rows: int,
        *,
        sample_rows: int | None = None,
        table_rows: int | None = None,
        seed: int = 42,
    ) -> Iterator[pd.DataFrame]:
        """The statement's rows as pandas frames of at most `chunk_rows` rows each.

        Rows reach the driver one partition at a time (`toLocalIterator`), so its memory
        holds one partition and one chunk, never the table. With `sample_rows`, a
        reproducible random sample of that many rows (of `table_rows`, counted if not
        given): a seeded Bernoulli sample, generous enough to hold `sample_rows` rows,
        then the first `sample_rows` in a seeded random order.
        """
        import pandas as pd
        from pyspark.sql import functions as F

        frame = self.sql(duckdb_sql)
        if sample_rows is not None:
            total = frame.count() if table_rows is None else table_rows
            if total > sample_rows:
                # Ten standard deviations of headroom: the sample is never short.
                wanted = sample_rows + 10 * sample_rows**0.5 + 100
                frame = frame.sample(fraction=min(1.0, wanted / total), seed=seed)
                frame = frame.orderBy(F.rand(seed)).limit(sample_rows)
        columns = frame.columns
        batch: list[tuple] = []
        for row in frame.toLocalIterator(prefetchPartitions=False):
            batch.append(tuple(row))
            if len(batch) >= chunk_rows:
                yield pd.DataFrame.from_records(batch, columns=columns)
                batch = []
        if batch:
            yield pd.DataFrame.from_records(batch, columns=columns)

    def replace(
        self,
        build: str,
        tables: dict[tuple[str, str], DataFrame],
        state: dict | None = None,
        changes: DataFrame | None = None,
    ) -> None:
        """Write each table of one build as a new version folder, then make them all
        current together with the build's manifest, committed last in one atomic step
        (a table of the build that `tables` lacks keeps its current version).

        `state`: what the build records for the next one (`BuildState`); `changes`: the
        keys it re-evaluated, written beside the manifests (`_builds/changes/<build>/`,
        no table of the warehouse) and named in the state. Nothing is renamed or deleted
        before the manifest moves, so a failure or a kill while writing leaves every table
        as it was (the half-written folders are named by no manifest and dropped after
        the retention).
        """
        version, written = new_version(), []
        outputs = {self.table_path(s, n): frame for (s, n), frame in tables.items()}
        changed = changes_folder(build)
        if changes is not None:
            outputs[f"{self.root.rstrip('/')}/{changed}"] = changes
        try:
            for folder, frame in outputs.items():
                frame.write.mode("errorifexists").parquet(f"{folder}/{version}")
                written.append(folder)
        except BaseException:
            for folder in written:
                self.delete(f"{folder}/{version}")
            raise
        # A table the build does not give keeps its version (a repair of one table).
        kept = (self.read_doc(build_manifest(self.root, build)) or {}).get("tables", {})
        rel = {**kept, **{f"{s}/{n}": f"{s}/{n}/{version}" for s, n in tables}}
        doc: dict = {"build": version, "tables": rel}
        if state is not None:
            extra = {"changes": f"{changed}/{version}"} if changes is not None else {}
            doc["state"] = {**state, **extra}
        self.commit_doc(build_manifest(self.root, build), doc)
        self._builds[build] = doc
        for folder in written:
            # A per-table pointer of the layout before build manifests would name a stale
            # version to a plain reader: it goes once the manifest is committed.
            self.delete(f"{folder}/{POINTER}")
            self.drop_expired(folder, {version})


# The keys an incremental build re-evaluated (`changes_folder`), and whether each one
# became or stopped being mastered: what a reader's foreign keys and lookups trace.
CHANGES_DDL = "key STRING, presence_changed BOOLEAN"


def changes_folder(entity: str) -> str:
    """Where the builds of `entity` keep the keys each one re-evaluated (and whether each
    became or stopped being mastered), relative to the root: read by the entities whose
    rules read this one, never a table (plain readers do not look under `_builds`)."""
    return f"{BUILDS}/changes/{entity}"


def is_batch_table(schema: str, name: str) -> bool:
    """Raw and ingest rejects grow by batch folders; every other table is replaced."""
    return schema == "raw" or name.endswith(INGEST_REJECTS_SUFFIX)


def batch_folder(ingest_id: int) -> str:
    """The folder of one ingested file's batch: named by its ledger row's ingest id."""
    return f"batch={ingest_id:012d}"


def batch_tables(ent: Entity) -> tuple[tuple[str, str], ...]:
    """The tables an ingest grows by batch folders."""
    return (("raw", ent.name), ("quarantine", f"{ent.name}{INGEST_REJECTS_SUFFIX}"))


def publish_batches(wh: SparkWarehouse, ent: Entity) -> None:
    """Write `<table>/_CURRENT` of raw and ingest rejects: the batches the ledger commits.

    The ledger row is the commit; this manifest, rewritten whole from the ledger after it,
    is how a plain reader finds the committed batches. A kill between the two leaves it
    one batch behind (never ahead) until the next ingest of the entity rewrites it."""
    for schema, name in batch_tables(ent):
        folder = wh.table_path(schema, name)
        wh.commit_doc(f"{folder}/{POINTER}", {"batches": wh.batches(schema, name)})


_BUILD_SUFFIXES = ("", "_history", "_rejects", "_pending_corrections", "_superseded_invalid")


def build_tables(entity: str) -> tuple[tuple[str, str], ...]:
    """The tables one mastering build of `entity` replaces together, in one manifest."""
    schemas = ("mastered", "mastered", "quarantine", "quarantine", "quarantine")
    return tuple(
        (schema, f"{entity}{suffix}")
        for schema, suffix in zip(schemas, _BUILD_SUFFIXES, strict=True)
    )


def build_owner(schema: str, name: str) -> str | None:
    """The build whose manifest names schema.name: its entity's mastering build, or the
    table's own for a governed table, a mart or an identity table identity resolution
    publishes (`governed.<view>`, `marts.<name>`, `mastered.golden_customer`); None for
    any other table."""
    if schema in (GOVERNED_SCHEMA, MARTS_SCHEMA) or f"{schema}.{name}" in PUBLISHED:
        return f"{schema}.{name}"
    known = next((e for e in ENTITIES if (schema, name) in build_tables(e)), None)
    if known is not None or not name.startswith(SOURCE_PREFIX):
        return known
    # A source system's entity (src_<source>), declared by a mapping file, not the model.
    owners = {name.removesuffix(suffix) for suffix in _BUILD_SUFFIXES}
    return next((e for e in sorted(owners) if (schema, name) in build_tables(e)), None)


def _text_ddl(ent: Entity) -> str:
    """The entity's columns as Spark DDL, all text (names come from the model)."""
    return ", ".join(f"`{c}` STRING" for c in ent.column_names)


def raw_ddl(ent: Entity) -> str:
    return f"{_text_ddl(ent)}, {AUDIT_DDL}"


def ingest_rejects_ddl(ent: Entity) -> str:
    return f"{_text_ddl(ent)}, {INGEST_REJECTS_DDL}"


def register_tables(wh: SparkWarehouse, tables: Iterable[tuple[str, str]]) -> None:
    """Expose warehouse tables to DuckDB-dialect check SQL, as the DuckDB file would.

    A raw table that has no batch yet is an empty table of the model's columns (DuckDB
    creates it empty too); any other missing table is an error naming it, as DuckDB's
    catalog error would be.
    """
    for schema, name in dict.fromkeys(tables):
        ddl = raw_ddl(ENTITIES[name]) if schema == "raw" and name in ENTITIES else None
        if not wh.register(schema, name, ddl):
            raise RuntimeError(
                f"{schema}.{name} does not exist in the Spark warehouse {wh.root} yet; "
                "materialize it first"
            )


def register_hive(
    wh: SparkWarehouse, schema: str, name: str, folder: str, like: tuple[str, str]
) -> bool:
    """Expose the Hive layout `<root>/<folder>/k=v/...` as the view of schema.name.

    Only the partition folders its manifest names are read. Partition columns come from
    the folder names, typed as in the table `like` (so a state named '1' stays text).
    Without a manifest the view is empty; returns whether the manifest exists.
    """
    template = wh.read(*like)
    if template is None:
        raise RuntimeError(f"{like[0]}.{like[1]} does not exist in the Spark warehouse yet")
    base = f"{wh.root.rstrip('/')}/{folder}"
    doc = wh.read_pointer(base)
    exists = doc is not None
    current = [f"{base}/{f}" for _, _, f in (doc or {}).get("partitions", [])]
    if current:
        frame = wh.read_folders(current, schema=template.schema, base=base)
    else:
        frame = wh.spark.createDataFrame([], template.schema)
    frame.createOrReplaceTempView(view_name(schema, name))
    return exists


@contextmanager
def spark_warehouse(
    root: str,
    control_db: Path,
    master: str = "local[*]",
    conf: dict[str, str] | None = None,
    retention_s: float = DEFAULT_RETENTION_S,
) -> Iterator[SparkWarehouse]:
    """A SparkWarehouse for one unit of work (the session is shared and kept)."""
    control_db.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(control_db))
    try:
        conn.execute("create schema if not exists meta")
        yield SparkWarehouse(build_session(master, conf=conf), root, conn, retention_s)
    finally:
        conn.close()
