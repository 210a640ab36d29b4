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
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from splink import Linker, SparkAPI
from splink.clustering import cluster_pairwise_predictions_at_threshold

from fs_assets.identity import link, model
from fs_assets.identity.pipeline import DEFAULT_THRESHOLDS, DEFAULT_TRAINING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fs_assets.engines.spark_warehouse import SparkWarehouse

BREAK_LINEAGE = "parquet"
WORK_FOLDER = "_identity_work"  # under the warehouse root; hidden from table listings
PAIR_COLUMNS = ("unique_id_l", "unique_id_r", "match_weight", "match_probability")


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
    spark = wh.spark
    work = f"{wh.root.rstrip('/')}/{WORK_FOLDER}/{uuid.uuid4().hex[:12]}"
    spark.sparkContext.setCheckpointDir(work)
    db_api = spark_api(spark)
    linker = spark_linker(db_api, features, model.settings())
    try:
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
            db_api,
            "unique_id",
            threshold_match_probability=thresholds.match,
        )
        clusters = result.as_spark_dataframe().select("unique_id", "cluster_id").toArrow()
        seconds["cluster"] = time.perf_counter() - started
    finally:
        close_linker(linker)
        if wh.exists(work):
            wh.delete(work)
    return SparkLinkage(pairs, clusters, candidates, pairs.num_rows, seconds)
