"""Raw on Spark: every new landing file of an entity read and merged by one job.

The merge is `raw_history`'s DuckDB SQL, transpiled; a file that fails the batch job is
read alone (`BatchFallback`), as on DuckDB. A batch folder is renamed in whole, read once
the ledger commits it, and listed for plain readers by `publish_batches`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fs_assets.engines.spark_warehouse import (
    BATCH_COLUMN,
    INGEST_REJECTS_SUFFIX,
    STAGING,
    SparkWarehouse,
    batch_folder,
    batch_tables,
    publish_batches,
    raw_ddl,
    spark_errors,
)
from fs_assets.model.columns import Entity
from fs_assets.transforms.duckdb_file import transaction
from fs_assets.transforms.landing_files import (
    BatchFallback,
    FileLayout,
    LandingFileError,
    PendingFile,
    hadoop_literal_path,
)
from fs_assets.transforms.raw_history import (
    AUDIT_COLUMNS,
    BATCH_STATS_SQL,
    FRESH_STATS_SQL,
    IngestOutcome,
    batch_fresh_sql,
    batch_rejects_select_sql,
    cross_file_conflicts_sql,
    ensure_ledger,
    held_versions_sql,
    merge_planned,
    next_ingest_id,
    plan_ingest,
    record_ingested,
    reject_file,
    repeats_sql,
    stage_fresh_sql,
    stage_params,
    stage_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


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


def _unreadable(files: list[PendingFile], exc: BaseException) -> Exception:
    """A read of `files` that failed: the lone file rejected, several merged one by one."""
    if len(files) > 1:
        return BatchFallback(_first_line(exc))
    return LandingFileError(files[0].path, _first_line(exc))


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
    try:
        with transaction(conn):
            ids = [next_ingest_id(conn) for _ in files]
            control = any(f.layout.may_hold_control for f in files)
            try:  # Spark lists the files here (a file gone since it was hashed fails)
                landing_batch(wh.spark, ent, files, ids).createOrReplaceTempView("_src")
            except spark_errors() as exc:
                raise _unreadable(files, exc) from exc
            stage = wh.sql(stage_sql(ent, "_src", control), stage_params(ent, control)).persist()
            cached.append(stage)
            stage.createOrReplaceTempView("_stage")
            try:  # the first action: the files are read here
                stats = {o: (r, j) for o, r, j in wh.execute(BATCH_STATS_SQL).fetchall()}
            except spark_errors() as exc:
                raise _unreadable(files, exc) from exc
            raw_batches = wh.batches("raw", ent.name)  # none: a first ingest holds nothing
            wh.register("raw", ent.name, raw_ddl(ent))
            held = wh.sql(held_versions_sql(ent))
            if raw_batches:  # cached only when raw holds anything it could find
                held = held.persist()
                cached.append(held)
            held.createOrReplaceTempView("_held")
            usable, versions = wh.execute(repeats_sql(ent)).fetchone()
            repeats = versions < usable
            if several and repeats and wh.execute(cross_file_conflicts_sql(ent)).fetchone()[0]:
                raise BatchFallback("two files deliver one version with different contents")
            (held_rows,) = (
                wh.execute("select count(*) from _held").fetchone() if raw_batches else (0,)
            )
            if not held_rows and not repeats:
                # Every usable row is a new version (raw holds none of the batch's (key,
                # time) pairs and no pair repeats), the usual case, as on DuckDB: the counts
                # are the stage's, and raw's rows come from the cached stage without the
                # anti-joins and a second cached copy of the batch.
                fresh = wh.sql(stage_fresh_sql(ent))
                added = {o: (r - j, 0) for o, (r, j) in stats.items() if r > j}
            else:
                fresh = wh.sql(batch_fresh_sql(ent, repeats)).persist()
                cached.append(fresh)
                fresh.createOrReplaceTempView("_fresh")
                added = {o: (n, c) for o, n, c in wh.execute(FRESH_STATS_SQL).fetchall()}
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
            outcomes = record_ingested(conn, ent, files, ids, stats, added, run_id)
        return outcomes
    except BaseException:
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
    outcomes = merge_planned(
        plan,
        lambda files: _merge(wh, ent, files, run_id),
        lambda f, err: reject_file(conn, ent, f.path, f.sha, f.now, err, run_id),
        lambda: publish_batches(wh, ent),
    )
    for index in plan.twins:  # its twin is in the ledger now: a duplicate, or read again
        outcomes[index] = ingest_files(wh, ent, [paths[index]], run_id)[0]
    return [outcomes[i] for i in range(len(paths))]


def ingest_file(
    wh: SparkWarehouse, ent: Entity, path: Path, run_id: str | None = None
) -> IngestOutcome:
    """Merge one landing file into raw/<entity>, as `raw_history.ingest_file` does."""
    return ingest_files(wh, ent, [path], run_id)[0]
