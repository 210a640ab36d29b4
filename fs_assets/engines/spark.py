"""The Spark engine: the same raw, mastered and regional transformations, on Parquet.

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
  folder (the control plane); the data never goes there.

Mastering on Spark is incremental, as on DuckDB, but Parquet is not updated in place: a
build re-evaluates the changed keys and writes each table's new version as the previous
version without those keys plus their new rows (`build_mastered`). `SparkEngine` (at the
end) is this module's `base.Engine`: what the assets and checks call.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import duckdb

from fs_assets.engines.base import MasteredBuild, RawIngest, RegionReader
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
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.keys import LEDGER, MARTS_SCHEMA, META_SCHEMA
from fs_assets.model.rules import q
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.duckdb_file import DuckDBFile, open_file, table_exists
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.landing_files import (
    BatchFallback,
    FileLayout,
    LandingFileError,
    PendingFile,
    hadoop_literal_path,
)
from fs_assets.transforms.mastering import (
    EVALUATED_COUNTS_SQL,
    INVALID,
    INVALID_SQL,
    RULE_FAILURES_SQL,
    MasterStats,
    affected_keys_sql,
    changed_keys_table,
    evaluated_sql,
    history_select_sql,
    mastered_select_sql,
    pending_select_sql,
    ranked_sql,
    referenced_entities,
    referenced_tables,
    rejects_select_sql,
    rules_fingerprint,
    superseded_select_sql,
    traceable_references,
    versions_sql,
)
from fs_assets.transforms.raw_history import (
    AUDIT_COLUMNS,
    BATCH_STATS_SQL,
    IngestOutcome,
    batch_fresh_sql,
    batch_rejects_select_sql,
    cross_file_conflicts_sql,
    ensure_ledger,
    held_versions_sql,
    next_ingest_id,
    plan_ingest,
    raw_counts_sql,
    record_outcome,
    reject_file,
    repeats_sql,
    stage_params,
    stage_sql,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

# Spark settings that make its SQL mean what DuckDB's means: naive timestamps (DuckDB's
# TIMESTAMP), UTC, ANSI casts (try_cast returns null instead of guessing).
SESSION_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.compression.codec": "zstd",
}
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


def build_session(
    master: str = "local[*]", app_name: str = "fs-accelerator", conf: dict[str, str] | None = None
) -> SparkSession:
    """A SparkSession with the settings above (overridable) on `master`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    # Python workers (rarely needed: no UDFs) run this interpreter, not whatever is on PATH.
    python = {"spark.pyspark.python": sys.executable}
    for key, value in {**SESSION_DEFAULTS, **python, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _spark_errors() -> tuple[type[BaseException], ...]:
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    return (PySparkException, Py4JJavaError)


class SparkCursor:
    """The DB-API corner the checks use (`fetchone`, `fetchall`) over a Spark result."""

    def __init__(self, frame: DataFrame) -> None:
        self._rows = [tuple(r) for r in frame.collect()]

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple]:
        return list(self._rows)


@dataclass
class SparkWarehouse:
    """Parquet tables under `root` (a local path or an s3a://, hdfs://, abfss:// URI)."""

    spark: SparkSession
    root: str
    control: duckdb.DuckDBPyConnection  # ledger only
    retention_s: float = DEFAULT_RETENTION_S  # how long replaced versions are kept
    _builds: dict[str, dict | None] = field(default_factory=dict)  # manifests read so far

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
        """Run one statement written in DuckDB SQL, transpiled, with `?` parameters."""
        return self.spark.sql(to_spark(duckdb_sql), args=list(params) if params else None)

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
            paths = [] if path is None else [path]
        if not paths:
            return None if ddl is None else self.spark.createDataFrame([], ddl)
        reader = self.spark.read.option("recursiveFileLookup", "true")
        if ddl is not None:
            reader = reader.schema(ddl)
        return reader.parquet(*paths)

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


def build_tables(entity: str) -> tuple[tuple[str, str], ...]:
    """The tables one mastering build of `entity` replaces together, in one manifest."""
    return (
        ("mastered", entity),
        ("mastered", f"{entity}_history"),
        ("quarantine", f"{entity}_rejects"),
        ("quarantine", f"{entity}_pending_corrections"),
        ("quarantine", f"{entity}_superseded_invalid"),
    )


def build_owner(schema: str, name: str) -> str | None:
    """The build whose manifest names schema.name: its entity's mastering build, or the
    table's own for a governed table or a mart (`governed.<view>`, `marts.<name>`); None
    for any other table."""
    if schema in (GOVERNED_SCHEMA, MARTS_SCHEMA):
        return f"{schema}.{name}"
    return next((e for e in ENTITIES if (schema, name) in build_tables(e)), None)


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
        reader = wh.spark.read.schema(template.schema).option("basePath", base)
        frame = reader.parquet(*current)
    else:
        frame = wh.spark.createDataFrame([], template.schema)
    frame.createOrReplaceTempView(view_name(schema, name))
    return exists


# --- raw -------------------------------------------------------------------------------


def read_landing(spark: SparkSession, ent: Entity, layout: FileLayout) -> DataFrame:
    """The file's entity columns as text, plus `_source_row` (1-based, in file order).

    One file is read as one partition (CSV with multiLine, as DuckDB accepts quoted line
    breaks), so monotonically_increasing_id numbers its rows in order, 0..n-1.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    path = hadoop_literal_path(layout.path)  # a name is data, never a glob pattern
    if layout.fmt == "csv":
        schema = StructType([StructField(f"c{i}", StringType()) for i in range(layout.width)])
        frame = (
            spark.read.schema(schema)
            .options(
                header=True,
                enforceSchema=True,
                sep=",",
                quote='"',
                escape='"',
                mode="FAILFAST",
                encoding="UTF-8",
                multiLine=True,
                ignoreLeadingWhiteSpace=False,
                ignoreTrailingWhiteSpace=False,
            )
            .csv(path)
        )
    else:
        frame = spark.read.parquet(path)
        frame = frame.toDF(*(f"c{i}" for i in range(len(frame.columns))))
    integral = layout.integral or (False,) * len(layout.positions)

    def text(pos: int, whole: bool) -> Any:
        col = F.col(f"c{pos}")
        if whole:  # an integer-valued float as the integer, where the model allows it
            return F.when(col == F.floor(col), col.cast("bigint").cast("string")).otherwise(
                col.cast("string")
            )
        return col.cast("string")

    picks = [
        text(pos, whole).alias(name)
        for pos, whole, name in zip(layout.positions, integral, ent.column_names, strict=True)
    ]
    return frame.coalesce(1).select(
        *picks, (F.monotonically_increasing_id() + F.lit(1)).alias("_source_row")
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)[:500]


def drop_uncommitted_batches(wh: SparkWarehouse, ent: Entity) -> list[str]:
    """Delete the batch folders of `ent` no ledger row commits, and their staging.

    They are what a writer killed between writing a batch and committing its ledger row
    leaves; the file is still unrecorded, so this ingest reads it again."""
    dropped = []
    for schema, table in batch_tables(ent):
        root, committed = wh.table_path(schema, table), set(wh.batches(schema, table))
        for name in wh._children(root):
            if name == STAGING or (name.startswith("batch=") and name not in committed):
                wh.delete(f"{root}/{name}")
                dropped.append(f"{root}/{name}")
    return dropped


def landing_batch(
    spark: SparkSession, ent: Entity, files: Sequence[PendingFile], ids: Sequence[int]
) -> DataFrame:
    """The rows of every file of one layout, read by one job: `read_landing` per file
    (each an explicit, glob-escaped path, numbered within its file), put together with
    UNION ALL, each row carrying its file's entry in the batch (`numbered_source_sql`'s
    columns: `_ord`, `_path`, `_now`, `_batch_id`)."""
    from pyspark.sql import functions as F

    frames = [
        read_landing(spark, ent, f.layout).select(
            "*",
            F.lit(n).cast("int").alias("_ord"),
            F.lit(str(f.path)).alias("_path"),
            F.lit(f.now.isoformat(sep=" ")).cast("timestamp_ntz").alias("_now"),
            F.lit(ingest_id).cast("bigint").alias("_batch_id"),
        )
        for n, (f, ingest_id) in enumerate(zip(files, ids, strict=True))
    ]
    return functools.reduce(lambda a, b: a.unionAll(b), frames)


def _write_batches(
    wh: SparkWarehouse, frame: DataFrame, table: str, staged: dict[str, str]
) -> None:
    """Write `frame` (its rows' ingest id in BATCH_COLUMN) in one job, a folder per ingest
    id under `table/_staging/`; `staged` gains each one's staging folder -> batch folder."""
    staging = f"{table}/{STAGING}/{uuid.uuid4().hex[:12]}"
    frame.write.partitionBy(BATCH_COLUMN).parquet(staging)
    for name in wh._children(staging):
        if name.startswith(f"{BATCH_COLUMN}="):
            ingest_id = int(name.removeprefix(f"{BATCH_COLUMN}="))
            staged[f"{staging}/{name}"] = f"{table}/{batch_folder(ingest_id)}"


def _merge(
    wh: SparkWarehouse, ent: Entity, files: list[PendingFile], run_id: str | None
) -> dict[int, IngestOutcome]:
    """Merge `files` (one layout) into raw in one Spark job per table, with their ledger
    rows in one transaction of the control file, as the DuckDB engine's `_merge` does.

    Each file keeps a batch folder of its own (`batch=<its ingest id>`, absent when it adds
    no row). A file that cannot be read raises LandingFileError when it is alone,
    BatchFallback when it is one of several (nothing is kept: the caller merges them one
    by one, so the bad file is rejected alone)."""
    from pyspark.sql import functions as F

    conn, several = wh.control, len(files) > 1
    raw_root = wh.table_path("raw", ent.name)
    rejects_root = wh.table_path("quarantine", f"{ent.name}{INGEST_REJECTS_SUFFIX}")
    staged: dict[str, str] = {}  # staging folder -> batch folder, renamed in before commit
    written: list[str] = []
    cached: list[DataFrame] = []
    conn.execute("begin transaction")
    try:
        ids = [next_ingest_id(conn) for _ in files]
        control = any(f.layout.may_hold_control for f in files)
        landing_batch(wh.spark, ent, files, ids).createOrReplaceTempView("_src")
        stage = wh.sql(stage_sql(ent, "_src", control), stage_params(ent, control)).persist()
        cached.append(stage)
        stage.createOrReplaceTempView("_stage")
        try:  # the first action: the files are read here
            stats = {o: (r, j) for o, r, j in wh.execute(BATCH_STATS_SQL).fetchall()}
        except _spark_errors() as exc:
            if several:
                raise BatchFallback(_first_line(exc)) from exc
            raise LandingFileError(files[0].path, _first_line(exc)) from exc
        wh.register("raw", ent.name, raw_ddl(ent))
        held = wh.sql(held_versions_sql(ent)).persist()
        cached.append(held)
        held.createOrReplaceTempView("_held")
        usable, versions = wh.execute(repeats_sql(ent)).fetchone()
        repeats = versions < usable
        if several and repeats and wh.execute(cross_file_conflicts_sql(ent)).fetchone()[0]:
            raise BatchFallback("two files deliver one version with different contents")
        fresh = wh.sql(batch_fresh_sql(ent, repeats)).persist()
        cached.append(fresh)
        fresh.createOrReplaceTempView("_fresh")
        added = {
            o: (n, c)
            for o, n, c in wh.execute(
                "select _ord, count(*), count(*) filter (where _corrects) from _fresh group by _ord"
            ).fetchall()
        }
        if any(rejected for _, rejected in stats.values()):
            pairs = zip(files, ids, strict=True)
            id_of = F.create_map(*(F.lit(v) for f, i in pairs for v in (str(f.path), i)))
            rejects = wh.sql(batch_rejects_select_sql(ent))
            rejects = rejects.withColumn(BATCH_COLUMN, id_of[F.col("_source_file")])
            _write_batches(wh, rejects, rejects_root, staged)
        if added:
            raw_columns = [*ent.column_names, *AUDIT_COLUMNS]
            new = fresh.select(*raw_columns, F.col("_batch_id").alias(BATCH_COLUMN))
            _write_batches(wh, new, raw_root, staged)
        # Each batch appears whole (a folder rename), read by no one until the ledger rows
        # commit it; a batch the ledger lacks (a kill before the commit) is dropped by the
        # next ingest, which reads the file again.
        for staging, target in staged.items():
            wh._rename(staging, target)
            written.append(target)
        _drop_staging(wh, raw_root, rejects_root)  # emptied by the renames
        outcomes: dict[int, IngestOutcome] = {}
        for n, (f, ingest_id) in enumerate(zip(files, ids, strict=True)):
            read, rejected = stats.get(n, (0, 0))
            inserted, corrected = added.get(n, (0, 0))
            outcome = IngestOutcome.ingested(f.path, read, rejected, inserted, corrected)
            record_outcome(conn, ent, f.path, f.sha, outcome, run_id, f.now, ingest_id)
            outcomes[f.index] = outcome
        conn.execute("commit")
        return outcomes
    except BaseException:
        conn.execute("rollback")
        for folder_path in written:
            wh.delete(folder_path)
        raise
    finally:
        _drop_staging(wh, raw_root, rejects_root)  # what a failure left
        for frame in cached:
            frame.unpersist()
        for view in ("_src", "_stage", "_held", "_fresh"):
            wh.spark.catalog.dropTempView(view)


def _drop_staging(wh: SparkWarehouse, *tables: str) -> None:
    for table in tables:
        if wh.exists(f"{table}/{STAGING}"):
            wh.delete(f"{table}/{STAGING}")


def _merge_one(
    wh: SparkWarehouse, ent: Entity, f: PendingFile, run_id: str | None
) -> IngestOutcome:
    """Merge one file; a file that cannot be read is rejected and recorded."""
    try:
        return _merge(wh, ent, [f], run_id)[f.index]
    except LandingFileError as err:
        return reject_file(wh.control, ent, f.path, f.sha, f.now, err, run_id)


def ingest_files(
    wh: SparkWarehouse, ent: Entity, paths: Sequence[Path], run_id: str | None = None
) -> list[IngestOutcome]:
    """Merge new landing files into raw/<entity>; one outcome per path, in order.

    The DuckDB engine's `ingest_files`, on Spark: files already in the ledger are skipped
    (or recorded as duplicates), symlinks and files whose header, bytes or types are wrong
    are rejected one by one; the others are read and merged by one job per layout, all
    their batch folders and ledger rows or none. When that job fails (bad quoting, a wrong
    field count) or two files deliver one version with different contents, the files are
    merged one by one, so a bad file is rejected alone and the good ones land."""
    conn = wh.control
    ensure_ledger(conn)
    publish_batches(wh, ent)  # catches up after a writer killed past its ledger commit
    drop_uncommitted_batches(wh, ent)
    plan = plan_ingest(conn, ent, paths, run_id)
    outcomes = plan.outcomes
    for files in plan.groups.values():
        try:
            outcomes.update(
                _merge(wh, ent, files, run_id)
                if len(files) > 1
                else {files[0].index: _merge_one(wh, ent, files[0], run_id)}
            )
        except BatchFallback:
            for f in files:
                outcomes[f.index] = _merge_one(wh, ent, f, run_id)
        publish_batches(wh, ent)
    for index in plan.twins:  # its twin is in the ledger now: a duplicate, or read again
        outcomes[index] = ingest_files(wh, ent, [paths[index]], run_id)[0]
    return [outcomes[i] for i in range(len(paths))]


def ingest_file(
    wh: SparkWarehouse, ent: Entity, path: Path, run_id: str | None = None
) -> IngestOutcome:
    """Merge one landing file into raw/<entity>, as `raw_history.ingest_file` does."""
    return ingest_files(wh, ent, [path], run_id)[0]


# --- mastered --------------------------------------------------------------------------


def build_mastered(
    wh: SparkWarehouse,
    ent: Entity,
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    full_refresh: bool = False,
) -> MasterStats:
    """Refresh mastered/<entity>, its history, rejects and pending corrections.

    Incremental when it can be, as on DuckDB: only the keys with a raw batch newer than
    the last build (`BuildState.watermark`), plus the keys whose rows read a key that a
    referenced entity's one build since re-evaluated, are evaluated again, with all their
    versions; each new table version is the previous one without those keys plus their
    new rows (Parquet is not updated in place), all under one new build manifest. Every
    key is evaluated on the first build, on request (`full_refresh`), when the rules or
    the reporting currency changed, or when a referenced entity was rebuilt in full or
    more than once since (its changes cannot be traced then)."""
    for name in referenced_tables(ent):
        if not wh.register("mastered", name):
            raise RuntimeError(
                f"mastered.{name} does not exist yet; build it before mastered.{ent.name} "
                f"(its rules read it)"
            )
    wh.register("raw", ent.name, raw_ddl(ent))
    key = q(ent.key)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    previous = wh.build(ent.name)
    state = BuildState.of(wh, ent, reporting_currency, previous)
    plan = None if full_refresh else state.plan(wh, ent, previous)
    if plan is not None and not plan.batches and not plan.changed:
        wh.drop_unnamed(ent.name)  # what a killed build left, once past the retention
        return MasterStats.unchanged()
    cached: list[DataFrame] = []
    views = [INVALID, "_ranked", "_evaluated", "_keys", "_was"]
    views += [changed_keys_table(name) for name in referenced_entities(ent)]
    try:
        source = versions_sql(ent)
        if plan is not None:
            keys = changed_keys(wh, ent, plan, reporting_currency).persist()
            cached.append(keys)
            if keys.isEmpty():  # referenced keys changed, none that this entity reads
                wh.restate(ent.name, state.doc(full=False, base=None))
                return MasterStats.unchanged()
            keys.createOrReplaceTempView("_keys")
            source = versions_sql(ent, "_keys")
        sql, params = evaluated_sql(ent, source, reporting_currency)
        evaluated = wh.sql(sql, params).persist()
        cached.append(evaluated)
        evaluated.createOrReplaceTempView("_evaluated")
        ranked = wh.sql(ranked_sql(ent)).persist()
        cached.append(ranked)
        ranked.createOrReplaceTempView("_ranked")
        wh.sql(INVALID_SQL).createOrReplaceTempView(INVALID)
        frames = [
            wh.sql(mastered_select_sql(ent)),
            wh.sql(history_select_sql(ent)),
            wh.sql(rejects_select_sql(ent), [now]),
            wh.sql(pending_select_sql(ent), [now]),
            wh.sql(superseded_select_sql(ent), [now]),
        ]
        tables = build_tables(ent.name)
        changes = None
        if (
            plan is not None
        ):  # the previous version without the re-evaluated keys, plus their new rows
            for schema, name in tables:
                wh.register(schema, name)
            frames = [
                wh.sql(unchanged_rows_sql(schema, name, key)).unionByName(frame)
                for (schema, name), frame in zip(tables, frames, strict=True)
            ]
            was = f"select m.{key} from mastered.{q(ent.name)} m semi join _keys k using ({key})"
            wh.sql(was).createOrReplaceTempView("_was")
            frames[0] = frames[0].persist()  # read again for the changes below
            cached.append(frames[0])
            frames[0].createOrReplaceTempView("_now")
            views.append("_now")
            changes = wh.sql(
                f'select cast(k.{key} as varchar) as "key", '
                f"(w.{key} is null) <> (m.{key} is null) as presence_changed from _keys k "
                f"left join _was w on w.{key} = k.{key} left join _now m on m.{key} = k.{key}"
            )
        outputs = dict(zip(tables, frames, strict=True))
        wh.replace(ent.name, outputs, state.doc(full=plan is None, base=previous), changes)
        counts = wh.execute(EVALUATED_COUNTS_SQL).fetchone()
        failures = dict(wh.execute(RULE_FAILURES_SQL).fetchall())
    finally:
        for frame in reversed(cached):
            frame.unpersist()
        for view in views:
            wh.spark.catalog.dropTempView(view)
    return MasterStats("full" if plan is None else "incremental", *counts, failures)


def mastered_counts(wh: SparkWarehouse, ent: Entity) -> tuple[int, ...]:
    """Rows of mastered, rejects, pending corrections (and their keys) and history, as
    the current build left them (an incremental build's stats count what it evaluated)."""
    tables = build_tables(ent.name)
    for schema, name in tables:
        wh.register(schema, name)
    mastered, history, rejects, pending, _ = (f"{s}.{q(n)}" for s, n in tables)
    return wh.execute(
        f"select (select count(*) from {mastered}), (select count(*) from {rejects}),"
        f" (select count(*) from {pending}),"
        f" (select count(distinct {q(ent.key)}) from {pending}),"
        f" (select count(*) from {history})"
    ).fetchone()


def unchanged_rows_sql(schema: str, name: str, key: str) -> str:
    """The rows of a build's table whose key an incremental build does not re-evaluate."""
    return f"select p.* from {schema}.{q(name)} p anti join _keys k on p.{key} = k.{key}"


# The keys an incremental build re-evaluated (`changes_folder`), and whether each one
# became or stopped being mastered: what a reader's foreign keys and lookups trace.
CHANGES_DDL = "key STRING, presence_changed BOOLEAN"


def changes_folder(entity: str) -> str:
    """Where the builds of `entity` keep the keys each one re-evaluated (and whether each
    became or stopped being mastered), relative to the root: read by the entities whose
    rules read this one, never a table (plain readers do not look under `_builds`)."""
    return f"{BUILDS}/changes/{entity}"


@dataclass(frozen=True)
class IncrementalPlan:
    """What an incremental build re-evaluates: new raw batches, referenced entities'
    changes tables ("entity" -> the folder of its changes in its current build)."""

    watermark: int
    batches: list[str]
    changed: dict[str, str]


@dataclass(frozen=True)
class BuildState:
    """What a build manifest records about its build ("state"), so the next build can be
    incremental: the newest raw batch it read, the rules' fingerprint, the builds of the
    referenced entities it read, whether it evaluated every key ("full") or only those in
    its changes folder ("changes"), and the build it replaced ("base")."""

    watermark: int  # the newest raw batch (ingest id) committed when the build started
    rules: str
    refs: dict[str, str]  # referenced entity -> its build (version) read

    @classmethod
    def of(
        cls, wh: SparkWarehouse, ent: Entity, reporting_currency: str, previous: dict | None
    ) -> BuildState:
        batches = wh.batches("raw", ent.name)
        watermark = int(batches[-1].removeprefix("batch=")) if batches else 0
        refs = {
            name: ((wh.build(name) or {}).get("build") or "none")
            for name in referenced_entities(ent)
        }
        return cls(watermark, rules_fingerprint(ent, reporting_currency), refs)

    def doc(self, *, full: bool, base: dict | None) -> dict:
        return {
            "watermark": self.watermark,
            "rules": self.rules,
            "refs": self.refs,
            "full": full,
            "base": (base or {}).get("build"),
        }

    def plan(
        self, wh: SparkWarehouse, ent: Entity, previous: dict | None
    ) -> IncrementalPlan | None:
        """What changed since the previous build; None when every key needs evaluating."""
        before = (previous or {}).get("state")
        tables = (previous or {}).get("tables", {})
        if (
            not before
            or before.get("rules") != self.rules
            or set(before.get("refs", {})) != set(self.refs)
            or any(f"{s}/{n}" not in tables for s, n in build_tables(ent.name))
        ):
            return None
        changed: dict[str, str] = {}
        for name, build in self.refs.items():
            seen = before["refs"][name]
            if seen == build:
                continue
            doc = wh.build(name) or {}
            ref_state = doc.get("state") or {}
            folder = ref_state.get("changes")
            # Traceable only over one incremental build of the referenced entity.
            if (
                not traceable_references(ent)
                or ref_state.get("full", True)
                or ref_state.get("base") != seen
            ):
                return None
            if seen == "none" or folder is None:
                return None
            changed[name] = f"{wh.root.rstrip('/')}/{folder}"
        watermark = int(before.get("watermark", 0))
        batches = [
            b for b in wh.batches("raw", ent.name) if int(b.removeprefix("batch=")) > watermark
        ]
        return IncrementalPlan(watermark, batches, changed)


def changed_keys(
    wh: SparkWarehouse, ent: Entity, plan: IncrementalPlan, reporting_currency: str
) -> DataFrame:
    """The keys an incremental build re-evaluates: those of the new raw batches (read
    from their folders alone), and those whose rows read a changed referenced key
    (`mastering.affected_keys_sql`, over each referenced entity's changes table)."""
    key = q(ent.key)
    raw = wh.table_path("raw", ent.name)
    frames = []
    if plan.batches:
        new = wh.spark.read.schema(raw_ddl(ent)).option("recursiveFileLookup", "true")
        frames.append(new.parquet(*(f"{raw}/{b}" for b in plan.batches)).select(ent.key))
    for name, folder in plan.changed.items():  # dropped by build_mastered
        changes = wh.spark.read.schema(CHANGES_DDL).parquet(folder)
        changes.createOrReplaceTempView(changed_keys_table(name))
    changed = dict.fromkeys(plan.changed, (0, 0))  # only which entities changed is read
    selects, params = affected_keys_sql(ent, changed, reporting_currency)
    if selects:
        frames.append(wh.sql(" union all ".join(selects), params))
    if not frames:
        return wh.spark.createDataFrame([], f"{key} STRING")
    out = functools.reduce(lambda a, b: a.unionByName(b), frames)
    return out.distinct()


# --- customer_by_region ----------------------------------------------------------------


def write_partitions(
    wh: SparkWarehouse,
    pairs: list[tuple[str, str]],
    select_sql: str,
    export_name: str,
    landing_prefixes: list[str] | None = None,
) -> dict[tuple[str, str], int]:
    """Replace exactly these (country, state) folders of the Hive layout; rows per pair.

    `select_sql` is the regional asset's own selection (mastered customers of `_pairs`).
    Spark writes all pairs in one job to a staging folder; each pair's folder is then
    renamed into `<root>/<export_name>/country=<c>/state=<s>` (named by the values
    themselves, like the DuckDB export), and pairs without rows lose their folder.
    `_source_file` is written relative to the landing folder (`landing_prefixes`, as
    `regional.landing_prefixes` gives them), a file outside it by its name only.
    """
    if not wh.register("mastered", CUSTOMER.name):
        raise RuntimeError("mastered.customer does not exist yet; build it first")
    wh.spark.createDataFrame(pairs, "country STRING, state STRING").createOrReplaceTempView(
        "_pairs"
    )
    root = f"{wh.root.rstrip('/')}/{export_name}"
    staging, version = f"{root}/{STAGING}/{uuid.uuid4().hex}", new_version()
    partition_folders(wh, root)  # refuses a layout without a manifest before any work
    written: dict[tuple[str, str], str] = {}
    try:
        wh.sql(select_sql).withColumn(
            "_source_file", _relative_source(landing_prefixes or [])
        ).write.partitionBy("country", "state").parquet(staging)
        rows = {
            (r[0], r[1]): r[2]
            for r in wh.spark.read.parquet(staging).groupBy("country", "state").count().collect()
        }
        # Each pair's rows become a new version folder inside its partition folder; the
        # old one stays (readers may be scanning it) until the manifest stops naming it.
        for country_dir in wh._children(staging):
            if not country_dir.startswith("country="):
                continue
            for state_dir in wh._children(f"{staging}/{country_dir}"):
                if not state_dir.startswith("state="):
                    continue
                country = unquote(country_dir.removeprefix("country="))
                state = unquote(state_dir.removeprefix("state="))
                folder = f"country={country}/state={state}/{version}"
                wh._rename(f"{staging}/{country_dir}/{state_dir}", f"{root}/{folder}")
                written[(country, state)] = folder
        current = commit_partitions(wh, root, pairs, written)
    finally:
        wh.delete(staging)
        wh.spark.catalog.dropTempView("_pairs")
    for country, state in pairs:
        kept = current.get((country, state), "").rsplit("/", 1)[-1]
        wh.drop_expired(f"{root}/country={country}/state={state}", {kept})
    return {p: rows.get(p, 0) for p in pairs}


def commit_partitions(
    wh: SparkWarehouse,
    root: str,
    pairs: Iterable[tuple[str, str]],
    written: dict[tuple[str, str], str],
) -> dict[tuple[str, str], str]:
    """Make `written` the current folders of `pairs` in the layout's manifest (a pair
    not written loses its entry: it has no rows now); every other entry is kept.

    The manifest is read, changed and replaced under the layout's lock, so two writers of
    different partitions at once both keep their entries (a read at the start of the
    Spark job would lose the one that commits first). Returns the manifest committed."""
    with wh.manifest_lock(root):
        current = {
            (c, s): folder for c, s, folder in (wh.read_pointer(root) or {}).get("partitions", [])
        }
        for pair in pairs:
            current.pop(pair, None)
        current.update(written)
        doc = {"partitions": sorted([c, s, f] for (c, s), f in current.items())}
        wh.commit_doc(f"{root}/{POINTER}", doc)
    return current


def partition_folders(wh: SparkWarehouse, root: str) -> dict[tuple[str, str], str]:
    """The regional layout's manifest: (country, state) -> its current folder, relative."""
    doc = wh.read_pointer(root) or {}
    if (
        "partitions" not in doc
        and wh.exists(root)
        and any(n.startswith("country=") for n in wh._children(root))
    ):
        raise RuntimeError(
            f"{root} holds partition folders but no {POINTER} manifest (a layout written "
            "before versioned publish); delete the folder and materialize customer_by_region "
            "for every partition again"
        )
    return {(c, s): folder for c, s, folder in doc.get("partitions", [])}


def _relative_source(prefixes: list[str]) -> Any:
    """`_source_file` without the landing folder (literal prefixes, not patterns)."""
    from pyspark.sql import functions as F

    col = F.col("_source_file")
    expr = F.regexp_extract(col, r"[^/]*$", 0)
    for prefix in reversed(prefixes):
        expr = F.when(col.startswith(prefix), col.substr(len(prefix) + 1, 1 << 20)).otherwise(expr)
    return expr


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


# --- the engine ------------------------------------------------------------------------


class SourceFormatUnsupported(RuntimeError):
    """A source entity's files, whose dates need strptime formats, on the Spark engine."""


class SparkEngine:
    """The `Engine` on Spark: Parquet tables under `root`, the ledger in `control`."""

    name = "spark"

    def __init__(
        self,
        control: DuckDBFile,
        root: str,
        master: str = "local[*]",
        conf: dict[str, str] | None = None,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        self.control = control
        self.root = root
        self.spark_master = master
        self.conf = dict(conf or {})
        self.retention_s = retention_s
        self._session: SparkSession | None = None
        self._views: set[str] = set()  # temporary views registered for checks

    @contextmanager
    def warehouse(self, *, read_only: bool = False) -> Iterator[SparkWarehouse]:
        """The Parquet warehouse for one unit of work, with the control file open."""
        with open_file(self.control, read_only=read_only) as conn:
            if self._session is None:
                self._session = build_session(self.spark_master, conf=self.conf)
            yield SparkWarehouse(self._session, self.root, conn, self.retention_s)

    def ingest(self, ent: Entity, paths: Sequence[Path], run_id: str | None) -> RawIngest:
        """Every new file of the entity in one job per layout (`ingest_files`)."""
        formatted = [c.name for c in ent.columns if c.text_format is not None]
        if paths and formatted:
            # strptime layouts (a source's mapping) are not Spark's datetime patterns.
            raise SourceFormatUnsupported(
                f"{ent.name}: columns {formatted} are parsed with the mapping's strptime "
                "formats, which the Spark engine does not read yet; nothing was ingested "
                "and the files stay in the landing folder. Build this source with the "
                "DuckDB engine (the default)."
            )
        with self.warehouse() as wh:
            outcomes = ingest_files(wh, ent, paths, run_id)
            wh.register("raw", ent.name, raw_ddl(ent))
            rows, keys = wh.execute(raw_counts_sql(ent)).fetchone()
        return RawIngest(outcomes, rows, keys)

    def master(self, ent: Entity, *, full_refresh: bool, reporting_currency: str) -> MasteredBuild:
        """Incremental where it can be (`build_mastered`); `full_refresh`: every key."""
        with self.warehouse() as wh:
            stats = build_mastered(wh, ent, reporting_currency, full_refresh=full_refresh)
            return MasteredBuild(stats, *mastered_counts(wh, ent))

    def write_partitions(
        self, pairs: list[tuple[str, str]], landing: Path | None
    ) -> dict[tuple[str, str], int]:
        # Its Dagster-free part moves to the transforms layer in the layout step.
        from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL, landing_prefixes

        with self.warehouse() as wh:
            return write_partitions(
                wh, pairs, REGION_SELECT_SQL, EXPORT_NAME, landing_prefixes(landing)
            )

    @contextmanager
    def for_checks(self, tables: Iterable[tuple[str, str]] = ()) -> Iterator[SparkWarehouse]:
        """The Parquet output, each (schema, name) of `tables` exposed under the name the
        check's DuckDB SQL uses once transpiled, so every check keeps one copy of its SQL."""
        tables = list(dict.fromkeys(tables))
        with self.warehouse(read_only=True) as wh:
            self._views.update(view_name(s, n) for s, n in tables)
            register_tables(wh, tables)
            yield wh

    @contextmanager
    def for_region_checks(self) -> Iterator[RegionReader]:
        """mastered.customer, and the Hive folders under `<root>/customer_overview/`, which
        *are* the regional table on Spark, exposed as mastered.customer_by_region with
        country and state from the folder names."""
        from fs_assets.transforms.regional import EXPORT_NAME

        customer = ("mastered", CUSTOMER.name)
        with self.for_checks([customer]) as wh:
            self._views.add(view_name("mastered", "customer_by_region"))
            exists = register_hive(wh, "mastered", "customer_by_region", EXPORT_NAME, customer)
            yield RegionReader(wh, region_exists=exists, hive_is_table=True)

    def write_governed(self, name: str, select_sql: str, key: MaskingKey) -> int:
        """A Parquet table written from the statement, behind its manifest."""
        from fs_assets.engines.spark_governed import write_governed

        with self.warehouse() as wh:
            return write_governed(wh, name, select_sql, key)

    def close(self) -> None:
        """Drop the temporary views registered for checks from the shared session (the
        session itself is kept for the next step: starting one takes seconds)."""
        if self._session is not None:
            for view in sorted(self._views):
                self._session.catalog.dropTempView(view)
        self._views.clear()
