"""Checks of identity resolution: one golden id per source record, no person with two
national ids, and pairwise precision and recall against the generator's truth file."""

import dagster as dg
import duckdb

from fs_assets.defs.keys import CUSTOMER_IDENTITY_KEY
from fs_assets.identity import tables
from fs_assets.identity.evaluate import pairwise_score, truth_path
from resources.landing_zone import LandingZoneResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

MIN_PRECISION = 0.99
MIN_RECALL = 0.98
SAMPLE = 10


def _no_data(con: duckdb.DuckDBPyConnection) -> dg.AssetCheckResult | None:
    if tables.sources_linked(con) >= 2:
        return None
    return dg.AssetCheckResult(passed=True, metadata={"status": "no multi-source data"})


def _cluster_sizes(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = con.execute(
        "select n, count(*) from (select count(*) as n from "
        f"{tables.CUSTOMER_IDENTITY} group by golden_id) group by n order by n"
    ).fetchall()
    return {str(n): c for n, c in rows}


@dg.asset_check(
    asset=CUSTOMER_IDENTITY_KEY,
    name="one_golden_id_per_record",
    blocking=True,
    pool=WAREHOUSE_POOL,
    description="Every source record read has exactly one golden id, and no other row.",
)
def one_golden_id_per_record(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if (skipped := _no_data(con)) is not None:
            return skipped
        rows = con.execute(
            f"with ids as (select unique_id, count(golden_id) as n, count(*) as rows "
            f"from {tables.CUSTOMER_IDENTITY} group by unique_id) "
            f"select coalesce(r.unique_id, i.unique_id), coalesce(i.n, 0), "
            f"r.unique_id is null from {tables.RECORDS} r full join ids i using (unique_id) "
            "where i.n is distinct from 1 or i.rows <> 1 or r.unique_id is null "
            "order by all"
        ).fetchall()
    without = [r[0] for r in rows if r[1] == 0 and not r[2]]
    several = [r[0] for r in rows if r[1] > 1]
    unknown = [r[0] for r in rows if r[2]]
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={
            "records_without_golden_id": len(without),
            "records_with_several_golden_ids": len(several),
            "ids_of_records_not_read": len(unknown),
            "sample": dg.MetadataValue.json((without + several + unknown)[:SAMPLE]),
        },
    )


@dg.asset_check(
    asset=CUSTOMER_IDENTITY_KEY,
    name="one_national_id_per_person",
    blocking=True,
    pool=WAREHOUSE_POOL,
    description=(
        "No golden customer gathers two different national ids (two people merged); the "
        "cluster-size distribution is in the metadata."
    ),
)
def one_national_id_per_person(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        if (skipped := _no_data(con)) is not None:
            return skipped
        bad = con.execute(
            f"select i.golden_id from {tables.CUSTOMER_IDENTITY} i join {tables.FEATURES} f "
            "using (unique_id) where f.national_id is not null group by i.golden_id "
            "having count(distinct f.national_id) > 1 order by i.golden_id"
        ).fetchall()
        sizes = _cluster_sizes(con)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "golden_ids_with_several_national_ids": len(bad),
            "sample": dg.MetadataValue.json([r[0] for r in bad[:SAMPLE]]),
            "cluster_sizes": dg.MetadataValue.json(sizes),
        },
    )


@dg.asset_check(
    asset=CUSTOMER_IDENTITY_KEY,
    name="precision_recall_against_truth",
    pool=WAREHOUSE_POOL,
    description=(
        f"On generated data (a truth file beside the landing folder): pairwise precision "
        f">= {MIN_PRECISION} and recall >= {MIN_RECALL}."
    ),
)
def precision_recall_against_truth(
    warehouse: WarehouseResource, landing: LandingZoneResource
) -> dg.AssetCheckResult:
    truth = truth_path(landing.root)
    if not truth.exists():
        return dg.AssetCheckResult(passed=True, metadata={"status": "no truth file"})
    with warehouse.connect(read_only=True) as con:
        if (skipped := _no_data(con)) is not None:
            return skipped
        score = pairwise_score(con, truth, tables.CUSTOMER_IDENTITY)
    return dg.AssetCheckResult(
        passed=score.precision >= MIN_PRECISION and score.recall >= MIN_RECALL,
        metadata={
            "precision": dg.MetadataValue.float(score.precision),
            "recall": dg.MetadataValue.float(score.recall),
            "true_pairs": score.true_pairs,
            "predicted_pairs": score.predicted_pairs,
            "correct_pairs": score.correct_pairs,
            "truth_records_not_linked": score.records_not_linked,
        },
    )


IDENTITY_CHECKS = [
    one_golden_id_per_record,
    one_national_id_per_person,
    precision_recall_against_truth,
]
