"""The seed's dataset names, `customer_overview_raw` and `customer_overview_dp`, as views.

Consumers of the seed query these names (`select * from customer_overview_raw where
cust_id = '...'`); here the tables are `raw.customer` and `mastered.customer`. The views
live in the warehouse's default schema `main`, so a seed-style query runs unchanged on a
connection to the warehouse (DataOS's `"icebasetw"."fs_accelerator".` prefix is an address
in another system and is dropped). Both hold PII in clear, like the tables under them, so
they stay inside the warehouse: role exports carry the governed views only.
"""

from collections.abc import Iterator

import dagster as dg

from fs_assets.catalog.scanner import SameRows
from fs_assets.defs.keys import mastered_key, raw_key
from fs_assets.defs.metadata import column_schema, table_name
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import OWNER, mastered_table, raw_table
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

SEED_SCHEMA = "main"  # DuckDB's default schema: unqualified names resolve here
RAW_NAME = "customer_overview_raw"
DP_NAME = "customer_overview_dp"
# (view name, source asset, source table, typed source): one place for the mapping.
SEED_VIEWS = (
    (RAW_NAME, raw_key(CUSTOMER.name), raw_table(CUSTOMER), False),
    (DP_NAME, mastered_key(CUSTOMER.name), mastered_table(CUSTOMER), True),
)


def seed_same_rows() -> dict[str, SameRows]:
    """Each view is `select *` over its table: the catalog scanner copies every column's
    profile from the table's instead of scanning the same values twice."""
    return {
        f"{SEED_SCHEMA}.{name}": SameRows(".".join(source.path), every_column=True)
        for name, source, _table, _typed in SEED_VIEWS
    }


def seed_view_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([SEED_SCHEMA, name])


def _lineage(source: dg.AssetKey, schema: dg.TableSchema) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        {c.name: [dg.TableColumnDep(asset_key=source, column_name=c.name)] for c in schema.columns}
    )


def _spec(name: str, source: dg.AssetKey, source_table: str, typed: bool) -> dg.AssetSpec:
    schema = column_schema(CUSTOMER, typed=typed)
    layer = "mastered customer, one row per customer" if typed else "raw customer history"
    return dg.AssetSpec(
        key=seed_view_key(name),
        group_name="mastered" if typed else "raw",  # beside the table it names
        owners=[OWNER],
        kinds={"duckdb"},
        deps=[source],
        description=(
            f"The seed's dataset {name}: the {layer} under the name the seed's consumers "
            f"query. Grain: as {source_table}. A view over {source_table}; holds PII in clear "
            "and is not exported (roles read the governed views)."
        ),
        metadata={
            "dagster/table_name": table_name(SEED_SCHEMA, name),
            "dagster/column_schema": schema,
            "dagster/column_lineage": _lineage(source, schema),
        },
    )


@dg.multi_asset(
    specs=[_spec(*view) for view in SEED_VIEWS],
    pool=WAREHOUSE_POOL,
    can_subset=True,
)
def seed_name_views(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    """Create (or replace) each selected view over its table."""
    with warehouse.connect() as conn:
        for name, _source, source_table, _typed in SEED_VIEWS:
            if seed_view_key(name) not in context.selected_asset_keys:
                continue
            conn.execute(
                f"create or replace view {SEED_SCHEMA}.{name} as select * from {source_table}"
            )
            rows = conn.execute(f"select count(*) from {SEED_SCHEMA}.{name}").fetchall()[0][0]
            yield dg.MaterializeResult(
                asset_key=seed_view_key(name),
                metadata={"dagster/row_count": dg.MetadataValue.int(rows)},
            )


SEED_NAME_ASSETS = [seed_name_views]
