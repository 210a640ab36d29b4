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
    EXPORT_NAME,
    REGION_TABLE,
    partition_dir,
    split_key,
    unknown_pairs,
)
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource, table_exists


@contextmanager
def _check_reader(warehouse: WarehouseResource) -> Iterator[tuple[Any, bool | None]]:
    """(connection, whether customer_by_region exists on Spark) for the regional checks.

    DuckDB: the file, read-only (None: the table's existence is asked when needed). Spark:
    mastered.customer, and the Hive folders under `<spark warehouse>/customer_overview/`,
    which *are* the regional table there, exposed as mastered.customer_by_region with
    country and state from the folder names; the checks' SQL then runs unchanged.
    """
    if warehouse.resolved_engine != "spark":
        with warehouse.for_checks() as conn:
            yield conn, None
        return
    from fs_assets.engines.spark import register_hive  # pyspark and sqlglot: optional

    customer = ("mastered", CUSTOMER.name)
    with warehouse.for_checks([customer]) as wh:
        yield wh, register_hive(wh, "mastered", "customer_by_region", EXPORT_NAME, customer)


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
    with _check_reader(warehouse) as (conn, hive_exists):
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
            if hive_exists is not None:
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
    with _check_reader(warehouse) as (conn, hive_exists):
        ensure_exists = (
            table_exists(conn, "mastered", "customer_by_region")
            if hive_exists is None
            else hive_exists
        )
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
