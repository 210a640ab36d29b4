"""`mastered.customer_by_region`: the country/state layout as a partitioned asset.

Each valid pair is one partition of a StaticPartitionsDefinition keyed 'Country|State'
(e.g. 'India|Tamil Nadu'). Why static and not the alternatives:
- MultiPartitionsDefinition(country x state) is a cross product: 13 countries times 40-odd
  states, nearly all impossible pairs, each a partition to backfill and to show as missing.
- Dynamic partitions added by a sensor would let any pair that shows up in the data become
  a partition silently, including typos.
Static keys make the partitions exactly the pairs of the entity model. A pair that shows
up in mastered.customer but not in the model is not dropped: its rows belong to no
partition, and the `region_pairs_known` check fails naming the pair and its row count.
With the Spark engine the Hive folders are the only copy (there is no DuckDB table).
"""

import dagster as dg

from fs_assets.defs.automation import DOWNSTREAM
from fs_assets.defs.keys import REGION_KEY, mastered_key
from fs_assets.defs.metadata import column_schema, table_name
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import OWNER
from fs_assets.model.paths import data_paths
from fs_assets.model.places import country_state_pairs
from fs_assets.transforms.regional import (
    EXPORT_NAME,
    SEPARATOR,
    partition_key,
    split_key,
)
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

REGION_PARTITIONS = dg.StaticPartitionsDefinition(
    [f"{country}{SEPARATOR}{state}" for country, state in country_state_pairs()]
)


@dg.asset(
    key=REGION_KEY,
    partitions_def=REGION_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=DOWNSTREAM,
    group_name="mastered",
    owners=[OWNER],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[mastered_key(CUSTOMER.name)],
    description=(
        "Mastered customers laid out by country and state, the seed's partition spec. Grain: one "
        "row per customer (cust_id); partition: one valid (country, state) pair of the entity "
        "model, key 'Country|State'. Also exported as Hive-style Parquet under "
        f"warehouse/{EXPORT_NAME}/country=<c>/state=<s>/ for Spark, Trino or DuckDB: PII in "
        "clear, so the pii-reader's layout, owner-only (0700 folders, 0600 files)."
    ),
    metadata={
        "dagster/table_name": table_name("mastered", "customer_by_region"),
        "dagster/column_schema": column_schema(CUSTOMER, typed=True),
        # Every column is mastered.customer's, copied: column lineage for the catalog.
        "dagster/column_lineage": dg.TableColumnLineage(
            {
                c.name: [
                    dg.TableColumnDep(asset_key=mastered_key(CUSTOMER.name), column_name=c.name)
                ]
                for c in column_schema(CUSTOMER, typed=True).columns
            }
        ),
        "hive_layout": f"warehouse/{EXPORT_NAME}/country=<country>/state=<state>/*.parquet",
    },
)
def customer_by_region(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Write the selected partitions (one, or all of a single-run backfill)."""
    pairs = [split_key(k) for k in context.partition_keys]
    landing = data_paths(warehouse.home).landing
    with warehouse.open_engine() as engine:
        by_pair = engine.write_partitions(pairs, landing)
    written = {partition_key(c, s): n for (c, s), n in by_pair.items()}
    context.log.info(f"wrote {len(written)} partitions, {sum(written.values())} rows")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(sum(written.values())),
            "partitions_written": len(written),
            "rows_by_partition": dg.MetadataValue.json(written),
        }
    )


REGIONAL_ASSETS = [customer_by_region]
