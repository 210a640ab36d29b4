"""Identity resolution's Splink phases on Spark (Splink's SparkAPI) against DuckDB's.

On the generator's multi-source sample, the DuckDB pipeline links the records; the same
standardised features go to `engines/spark_identity.link_features` (one model
definition: `identity.model`'s settings and training, the same seed). Spark's clusters
must meet the precision and recall DuckDB's must meet against the truth file, and are
scored against DuckDB's clusters (pairwise, the same measure): the agreement. Real
DuckDB file, real local Spark session with Splink's similarity jar.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from sources_support import local_spark_warehouse, sources_landing

from fs_assets.engines.spark_identity import WORK_FOLDER, link_features, spark_api
from fs_assets.engines.spark_warehouse import similarity_jar
from fs_assets.identity.canonical import SCHEMA
from fs_assets.identity.evaluate import PairwiseScore, pairwise_score, truth_path
from fs_assets.identity.link import Thresholds
from fs_assets.identity.mapping import load_mappings
from fs_assets.identity.model import Training
from fs_assets.identity.pipeline import run_linkage

PEOPLE = 1_000  # core customers; about 2,100 source records
TRAINING = Training(seed=3, u_max_pairs=3e5)
THRESHOLDS = Thresholds()
PRECISION, RECALL = 0.99, 0.98  # what tests/test_identity_link.py requires of DuckDB


def _as_truth(con: duckdb.DuckDBPyConnection, identity: str, path: Path) -> Path:
    """A table of (source, source_id, golden_id) written as a truth file, so another
    engine's clusters are scored against it with `pairwise_score`."""
    rows = con.execute(f"select source, source_id, golden_id from {identity}").fetchall()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "source_id", "person_id"])
        writer.writerows(rows)
    return path


def test_every_session_loads_splinks_similarity_functions(tmp_path: Path) -> None:
    """The jar is in every session the project starts (it cannot be added later), so
    Splink's Spark backend finds jaro_winkler, as DuckDB has it built in."""
    with local_spark_warehouse(tmp_path) as wh:
        assert similarity_jar() in wh.spark.conf.get("spark.jars").split(",")
        spark_api(wh.spark)  # registers the jar's functions with the session
        value = wh.spark.sql("select jaro_winkler('martha', 'marhta')").first()[0]
        ours = duckdb.execute("select jaro_winkler_similarity('martha', 'marhta')").fetchone()[0]
    assert value == pytest.approx(ours, abs=1e-3) and 0.9 < value < 1


@pytest.mark.slow
def test_spark_linkage_meets_duckdbs_thresholds_and_agrees_with_its_clusters(
    tmp_path: Path, record_property
) -> None:
    landing = sources_landing(tmp_path / "landing", PEOPLE, 5)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("set enable_progress_bar = false")
    report = run_linkage(
        con, landing, load_mappings(), tmp_path / "duck_model.json", THRESHOLDS, TRAINING
    )
    truth = truth_path(landing)
    duck = pairwise_score(con, truth)
    assert duck.precision >= PRECISION and duck.recall >= RECALL, duck
    features = con.table(f"{SCHEMA}.features").arrow().read_all()

    with local_spark_warehouse(tmp_path / "spark") as wh:
        # As a table of the warehouse would be read: Parquet, not rows held by the driver.
        pq.write_table(features, tmp_path / "features.parquet")
        frame = wh.spark.read.parquet(str(tmp_path / "features.parquet"))
        result = link_features(wh, frame, tmp_path / "spark_model.json", THRESHOLDS, TRAINING)
        clusters, scored = result.clusters, result.scored_pairs
    work = tmp_path / "spark" / "warehouse" / WORK_FOLDER
    assert not work.exists() or not any(work.iterdir()), "the run's work folder outlived it"
    con.register("spark_clusters", clusters)
    con.execute(
        "create table spark_identity as select r.source, r.source_id, "
        "cast(c.cluster_id as varchar) as golden_id "
        f"from {SCHEMA}.records r join spark_clusters c using (unique_id)"
    )
    spark = pairwise_score(con, truth, "spark_identity")
    agreement: PairwiseScore = pairwise_score(
        con,
        _as_truth(con, f"{SCHEMA}.customer_identity", tmp_path / "duck_clusters.csv"),
        "spark_identity",
    )
    figures = {
        "records": report.records,
        "candidate_pairs": [report.candidate_pairs, result.candidate_pairs],
        "scored_pairs": [report.scored_pairs, scored],
        "duckdb": [duck.precision, duck.recall],
        "spark": [spark.precision, spark.recall],
        "agreement": [agreement.precision, agreement.recall, agreement.predicted_pairs],
        "spark_seconds": {k: round(v, 1) for k, v in result.seconds.items()},
        "duckdb_seconds": {k: round(v, 1) for k, v in report.seconds.items()},
    }
    record_property("spark_identity", json.dumps(figures))
    # The same blocking rules give the same candidate pairs on both backends.
    assert result.candidate_pairs == report.candidate_pairs
    assert spark.records_not_linked == 0
    assert spark.precision >= PRECISION and spark.recall >= RECALL, spark
    # Every record pair one engine puts together, the other does too, but for a few.
    assert agreement.precision >= 0.99 and agreement.recall >= 0.99, agreement
    saved = json.loads((tmp_path / "spark_model.json").read_text(encoding="utf-8"))
    duck_model = json.loads((tmp_path / "duck_model.json").read_text(encoding="utf-8"))
    assert [c["output_column_name"] for c in saved["comparisons"]] == [
        c["output_column_name"] for c in duck_model["comparisons"]
    ]
    con.close()
