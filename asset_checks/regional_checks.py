"""Checks of `mastered.customer_by_region`: each partition, and the union, match mastered."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from fs_assets.defs.keys import REGION_KEY
from fs_assets.defs.regional import REGION_PARTITIONS
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import mastered_table
from fs_assets.transforms.regional import (
    REGION_TABLE,
    partition_dir,
    split_key,
    unknown_pairs,
)
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource


@contextmanager
def _check_reader(warehouse: WarehouseResource) -> Iterator[tuple[Any, bool, bool]]:
    """(reader, whether customer_by_region exists, whether its Hive folders are the table)
    for the regional checks, from the engine (`Engine.for_region_checks`)."""
    with warehouse.open_engine() as engine, engine.for_region_checks() as region:
        yield region.conn, region.region_exists, region.hive_is_table


@dg.asset_check(
    asset=REGION_KEY,
    name="partition_matches_mastered",
    partitions_def=REGION_PARTITIONS,
    blocking=True,
    pool=WAREHOUSE_POOL,
    description=(
        "The partition being written holds exactly the mastered customers of its (country, "
        "state), in the table and in its Hive Parquet folder."
    ),
)
def partition_matches_mastered(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    problems: dict[str, dict[str, int]] = {}
    with _check_reader(warehouse) as (conn, _, hive_is_table):
        for key in context.partition_keys:
            country, state = split_key(key)
            expected, in_table, missing = conn.execute(
                f"""select
                  (select count(*) from {mastered_table(CUSTOMER)} where country = ? and state = ?),
                  (select count(*) from {REGION_TABLE} where country = ? and state = ?),
                  (select count(*) from {mastered_table(CUSTOMER)} m
                     where country = ? and state = ? and not exists (
                       select 1 from {REGION_TABLE} r where r.cust_id = m.cust_id
                         and r.country = m.country and r.state = m.state))""",
                [country, state] * 3,
            ).fetchone()
            if hive_is_table:
                # The Hive folder is the table on Spark (a pair without rows has none).
                in_parquet = in_table
            else:
                folder = partition_dir(warehouse.export_dir, country, state)
                in_parquet = (
                    sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
                    if folder.exists()
                    else -1
                )
            if not (expected == in_table == in_parquet and missing == 0):
                problems[key] = {"mastered": expected, "table": in_table,
                                 "parquet": in_parquet, "missing_keys": missing}  # fmt: skip
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "partitions_checked": len(context.partition_keys),
            "mismatches": dg.MetadataValue.json(problems),
        },
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "region_pairs_known",
            asset=REGION_KEY,
            description="Every (country, state) pair in mastered.customer is a partition of the "
            "model; names unknown pairs and their row counts.",
        ),
        dg.AssetCheckSpec(
            "union_matches_mastered",
            asset=REGION_KEY,
            description="The union of all partitions equals mastered.customer: same count, "
            "same keys, each in its customer's current (country, state).",
        ),
    ],
    name="customer_by_region_whole_table_checks",
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def whole_table_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    selected = {k.name for k in context.selected_asset_check_keys}
    with _check_reader(warehouse) as (conn, ensure_exists, _):
        unknown = unknown_pairs(conn)
        if ensure_exists:
            mastered, regional, only_mastered, only_regional = conn.execute(
                f"""select (select count(*) from {mastered_table(CUSTOMER)}),
                  (select count(*) from {REGION_TABLE}),
                  (select count(*) from {mastered_table(CUSTOMER)} m anti join {REGION_TABLE} r
                     on r.cust_id = m.cust_id and r.country = m.country and r.state = m.state),
                  (select count(*) from {REGION_TABLE} r anti join {mastered_table(CUSTOMER)} m
                     on r.cust_id = m.cust_id and r.country = m.country and r.state = m.state)"""
            ).fetchone()
        else:
            mastered = conn.execute(f"select count(*) from {mastered_table(CUSTOMER)}").fetchone()[
                0
            ]
            regional, only_mastered, only_regional = 0, mastered, 0
    if "region_pairs_known" in selected:
        yield dg.AssetCheckResult(
            check_name="region_pairs_known",
            asset_key=REGION_KEY,
            passed=not unknown,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "unknown_pairs": dg.MetadataValue.json(
                    [{"country": c, "state": s, "rows": n} for c, s, n in unknown]
                ),
                "rows_in_unknown_pairs": sum(n for _, _, n in unknown),
            },
        )
    if "union_matches_mastered" in selected:
        yield dg.AssetCheckResult(
            check_name="union_matches_mastered",
            asset_key=REGION_KEY,
            passed=mastered == regional and only_mastered == 0 and only_regional == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "mastered_rows": mastered,
                "partitioned_rows": regional,
                "keys_missing_from_partitions": only_mastered,
                "keys_not_in_mastered": only_regional,
            },
        )


REGIONAL_CHECKS = [partition_matches_mastered, whole_table_checks]
