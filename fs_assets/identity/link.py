"""Predictions, clusters, the review band and golden ids, from a trained linker.

`predict` keeps every candidate pair at or above the review threshold with its match
weight (`identity.pairs`); `cluster` joins records by pairs at or above the match
threshold (connected components, Splink's); `review` lists the pairs between the two
thresholds for people to decide; `assign_golden_ids` numbers the clusters
(`identity.customer_identity`: source, source id -> golden id).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from splink import Linker
from splink.internals.splink_dataframe import SplinkDataFrame

from fs_assets.identity.canonical import SCHEMA


@dataclass(frozen=True)
class Thresholds:
    """Match probabilities: at or above `match` one person; from `review` to `match`, a
    person decides."""

    match: float = 0.95
    review: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.review <= self.match < 1:
            raise ValueError(f"need 0 < review <= match < 1, not {self}")


def block(linker: Linker) -> int:
    """The candidate pairs the blocking rules generate (each pair once), kept in Splink's
    cache for `predict`; how many."""
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    return blocked.as_duckdbpyrelation().count("*").fetchall()[0][0]


def predict(
    con: duckdb.DuckDBPyConnection, linker: Linker, thresholds: Thresholds
) -> SplinkDataFrame:
    """`identity.pairs`: candidate pairs scored at or above the review threshold, with
    match weight and probability; Splink's own table is returned for clustering."""
    scored = linker.inference.predict(threshold_match_probability=thresholds.review)
    con.execute(
        f"create or replace table {SCHEMA}.pairs as select unique_id_l, unique_id_r, "
        f"match_weight, match_probability from {scored.physical_name} "
        "order by unique_id_l, unique_id_r"
    )
    return scored


def count_pairs(con: duckdb.DuckDBPyConnection) -> int:
    """How many scored pairs `identity.pairs` holds."""
    return con.execute(f"select count(*) from {SCHEMA}.pairs").fetchall()[0][0]


def cluster(
    con: duckdb.DuckDBPyConnection,
    linker: Linker,
    scored: SplinkDataFrame,
    thresholds: Thresholds,
) -> int:
    """`identity.clusters` (unique_id, cluster_id): connected components of the pairs at
    or above the match threshold; a record without such a pair is its own cluster."""
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        scored, threshold_match_probability=thresholds.match
    )
    con.execute(
        f"create or replace table {SCHEMA}.clusters as select unique_id, cluster_id "
        f"from {clusters.physical_name} order by unique_id"
    )
    clusters.drop_table_from_database_and_remove_from_cache()
    scored.drop_table_from_database_and_remove_from_cache()
    return con.execute(f"select count(distinct cluster_id) from {SCHEMA}.clusters").fetchall()[0][0]


def review(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> int:
    """`identity.review_pairs`: pairs between the two thresholds, for a person to decide."""
    con.execute(
        f"create or replace table {SCHEMA}.review_pairs as select * from {SCHEMA}.pairs "
        "where match_probability < $match order by match_probability desc, unique_id_l, "
        "unique_id_r",
        {"match": thresholds.match},
    )
    return con.execute(f"select count(*) from {SCHEMA}.review_pairs").fetchall()[0][0]


def assign_golden_ids(con: duckdb.DuckDBPyConnection) -> int:
    """`identity.customer_identity`: every record's golden id, clusters numbered in the
    order of their lowest record id (a run on the same records gives the same ids)."""
    con.execute(
        f"create or replace table {SCHEMA}.customer_identity as "
        "with first_record as (select cluster_id, min(unique_id) as first_id "
        f"from {SCHEMA}.clusters group by cluster_id), "
        "numbered as (select cluster_id, 'G' || lpad(cast(row_number() over "
        "(order by first_id) as varchar), 10, '0') as golden_id from first_record) "
        "select r.source, r.source_id, r.unique_id, n.golden_id "
        f"from {SCHEMA}.records r join {SCHEMA}.clusters c using (unique_id) "
        "join numbered n using (cluster_id) order by r.unique_id"
    )
    return con.execute(
        f"select count(distinct golden_id) from {SCHEMA}.customer_identity"
    ).fetchall()[0][0]
