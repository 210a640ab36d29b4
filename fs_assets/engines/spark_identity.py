"""Identity resolution's Splink phases on Spark, with Splink's Spark backend (SparkAPI).

One model definition for both engines: the settings (comparisons, blocking rules),
the training steps and the saved JSON are `identity.model`'s, and the thresholds
`identity.link`'s; only the backend differs. Splink's string similarities (Jaro-Winkler
for names) are Scala UDFs shipped in Splink's jar, which every session of the project
loads (`spark_warehouse.similarity_jar`, added by `build_session`).

Splink's intermediate tables (blocked pairs, comparison vectors, predictions, each
round of connected components) break their lineage by being written as Parquet and read
back (Splink's `parquet` method): `persist` keeps the whole plan, which grows with every
round of connected components until the driver runs out of memory (it did, at 2,100
records). They go to a work folder of the run under the warehouse root
(`_identity_work/<run>/`, inside the governed boundary: they hold PII), deleted when the
run ends, failed or not. Every table Splink made is dropped then too (`close_linker`).

The features are the DuckDB engine's `identity.features` (one row per source record,
standardised); `link_features` returns the scored pairs (ids, weight, probability: no
PII) and the clusters of Splink's connected components at the match threshold.

`SparkIdentity` is the Spark engine's identity backend for the assets
(`Engine.identity()`, identity/backend.py): identity's state stays in the DuckDB file,
Splink's blocking, training and scoring run here, the identity tables are published as
Spark tables.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from splink import Linker, SparkAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.splink_dataframe import SplinkDataFrame

from fs_assets.engines.spark_warehouse import build_owner
from fs_assets.identity import link, model
from fs_assets.identity.pipeline import DEFAULT_THRESHOLDS, DEFAULT_TRAINING
from fs_assets.identity.tables import FEATURES
from fs_assets.model.keys import MASTERED_SCHEMA
from fs_assets.transforms.duckdb_file import table_exists

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fs_assets.engines.spark_warehouse import SparkWarehouse

BREAK_LINEAGE = "parquet"
WORK_FOLDER = "_identity_work"  # under the warehouse root; hidden from table listings
PAIR_COLUMNS = ("unique_id_l", "unique_id_r", "match_weight", "match_probability")
# Names of the Arrow relations SparkIdentity registers in the DuckDB file's connection.
MASTERED_VIEW = "_spark_mastered_"
ROWS_VIEW = "_spark_rows_"


def spark_api(spark: SparkSession, partitions: int | None = None) -> SparkAPI:
    """Splink's Spark backend on this session, lineage broken by Parquet files in the
    session's checkpoint folder (`link_features` sets it to the run's work folder)."""
    return SparkAPI(
        spark_session=spark,
        break_lineage_method=BREAK_LINEAGE,
        num_partitions_on_repartition=partitions,
    )


def spark_linker(db_api: SparkAPI, features: DataFrame, settings: Any) -> Linker:
    """A Splink linker over the features on Spark (`settings`: `model.settings()`, the
    saved JSON's dict or its path, as `model.make_linker` takes)."""
    return model.linker_over(db_api.register(features, table_name=model.SPLINK_INPUT), settings)


def close_linker(linker: Linker) -> None:
    """Drop every table Splink made on the session (its cached frames with them)."""
    linker.table_management.delete_tables_created_by_splink_from_db()


@dataclass
class SparkLinkage:
    """The outputs of one linkage on Spark, and its counts and seconds per phase."""

    pairs: pa.Table  # PAIR_COLUMNS, at or above the review threshold
    clusters: pa.Table  # unique_id, cluster_id
    candidate_pairs: int = 0
    scored_pairs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def spark_linkage(wh: SparkWarehouse, features: DataFrame, settings: Any) -> Iterator[Linker]:
    """A Splink linker on Spark over `features`, its lineage broken in a work folder of
    its own under the warehouse root; every table Splink made and the folder go when the
    context closes, failed or not (read what is needed before)."""
    spark = wh.spark
    work = f"{wh.root.rstrip('/')}/{WORK_FOLDER}/{uuid.uuid4().hex[:12]}"
    spark.sparkContext.setCheckpointDir(work)
    linker = None
    try:
        linker = spark_linker(spark_api(spark), features, settings)
        yield linker
    finally:
        if linker is not None:
            close_linker(linker)
        spark.catalog.dropTempView(model.SPLINK_INPUT)  # the input Splink registered
        if wh.exists(work):
            wh.delete(work)


def link_features(
    wh: SparkWarehouse,
    features: DataFrame,
    model_path: Path,
    thresholds: link.Thresholds = DEFAULT_THRESHOLDS,
    training: model.Training = DEFAULT_TRAINING,
) -> SparkLinkage:
    """Block, train (no labels), score and cluster the features on Spark; the trained
    model is saved at `model_path` as on DuckDB. Pairs and clusters come back as Arrow
    tables (ids and weights, no PII; about one row per record each), read before the
    run's work folder, which Spark's frames of them read from, is deleted."""
    seconds: dict[str, float] = {}
    with spark_linkage(wh, features, model.settings()) as linker:
        started = time.perf_counter()
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        candidates = blocked.as_spark_dataframe().count()
        seconds["blocking"] = time.perf_counter() - started
        started = time.perf_counter()
        model.train(linker, training)
        model.save_model(linker, model_path)
        seconds["train"] = time.perf_counter() - started
        started = time.perf_counter()
        scored = linker.inference.predict(threshold_match_probability=thresholds.review)
        pairs = scored.as_spark_dataframe().select(*PAIR_COLUMNS).toArrow()
        seconds["predict"] = time.perf_counter() - started
        started = time.perf_counter()
        result = cluster_pairwise_predictions_at_threshold(
            features.select("unique_id"),
            pairs,
            linker._db_api,
            "unique_id",
            threshold_match_probability=thresholds.match,
        )
        clusters = result.as_spark_dataframe().select("unique_id", "cluster_id").toArrow()
        seconds["cluster"] = time.perf_counter() - started
    return SparkLinkage(pairs, clusters, candidates, pairs.num_rows, seconds)


class SparkIdentity:
    """The Spark engine's `IdentityBackend` (identity/backend.py): the state in the
    warehouse's DuckDB file, the sources read from Spark's mastered tables, Splink's
    blocking, training and scoring on Spark, the identity tables published as Spark
    tables behind their build manifests.

    Rows cross between the two as Arrow: each source's mastered table into the file's
    `identity.records` (read in full each run: Spark keeps no change record), the
    features into Spark (written once to the run's work folder, which Splink's many
    jobs read), the scored pairs (ids and weights) back, the identity tables out.
    """

    rescores_in_place = False  # predict_changed registers DuckDB relations with Splink

    def __init__(self, wh: SparkWarehouse) -> None:
        self.wh = wh
        self.con = wh.control
        self._rows: list[str] = []  # Splink results registered in `con`

    @contextmanager
    def mastered(self, tables: Sequence[str]) -> Iterator[dict[str, str]]:
        """Each existing table's current version, as Arrow registered in the file's
        connection under a name of ours (a table's name never enters SQL text)."""
        found: dict[str, str] = {}
        try:
            for number, table in enumerate(tables):
                frame = self.wh.read(MASTERED_SCHEMA, table)
                if frame is None:
                    continue
                found[table] = f"{MASTERED_VIEW}{number}"
                self.con.register(found[table], frame.toArrow())
            yield found
        finally:
            for name in found.values():
                self.con.unregister(name)

    @contextmanager
    def linker(self, settings: Any) -> Iterator[Linker]:
        """The file's `identity.features` written to the run's work folder as Parquet
        and read back, so every Splink job reads files, not rows held by the driver."""
        spark = self.wh.spark
        self._sweep_killed_work()
        arrow = self.con.table(FEATURES).arrow().read_all()
        folder = f"{self.wh.root.rstrip('/')}/{WORK_FOLDER}/features-{uuid.uuid4().hex[:12]}"
        try:
            spark.createDataFrame(arrow).write.parquet(folder)
            features = self.wh.read_folders([folder])
            with spark_linkage(self.wh, features, settings) as linker:
                yield linker
        finally:
            for name in self._rows:
                self.con.unregister(name)
            self._rows.clear()
            if self.wh.exists(folder):
                self.wh.delete(folder)

    def _sweep_killed_work(self) -> None:
        """Delete the work folders a killed step left (PII: features, pairs). Each step
        holds the DuckDB file's write lock from start to end, so no other step of this
        data folder is using one now."""
        base = f"{self.wh.root.rstrip('/')}/{WORK_FOLDER}"
        for name in self.wh._children(base):
            self.wh.delete(f"{base}/{name}")

    def rows(self, frame: SplinkDataFrame) -> str:
        name = f"{ROWS_VIEW}{len(self._rows)}"
        self.con.register(name, frame.as_spark_dataframe().toArrow())
        self._rows.append(name)
        return name

    def count(self, frame: SplinkDataFrame) -> int:
        return frame.as_spark_dataframe().count()

    def publish(self, table: str) -> None:
        """The file's `table` as a new version of the Spark table, made current by its
        build manifest (nothing when the file has no such table yet)."""
        schema, name = table.split(".")
        if not table_exists(self.con, schema, name):
            return
        cursor = self.con.cursor()  # its own result: the step's statements may be pending
        try:
            rows = cursor.table(table).arrow().read_all()
        finally:
            cursor.close()
        frame = self.wh.spark.createDataFrame(rows)
        build = build_owner(schema, name)
        assert build is not None  # identity's published tables own their builds
        self.wh.replace(build, {(schema, name): frame})
