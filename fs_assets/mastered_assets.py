"""`mastered.<entity>` assets: the latest valid version of every key, typed."""

import datetime as dt

import dagster as dg
from pydantic import Field

from fs_assets.automation import DOWNSTREAM
from fs_assets.catalog_metadata import column_schema, mastered_column_lineage, table_name
from fs_assets.entities import ENTITIES, OWNER, Entity
from fs_assets.mastering import build_mastered, mastered_table, rejects_table
from fs_assets.raw_assets import raw_key
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

# A mastered table older than this is stale (FreshnessPolicy, and the data_freshness check).
MAX_AGE = dt.timedelta(hours=24)


class MasteringConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Re-evaluate every key, not only those with new raw versions.",
    )


def mastered_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["mastered", entity])


def build_mastered_asset(ent: Entity) -> dg.AssetsDefinition:
    deps = [raw_key(ent.name), *(mastered_key(fk.entity) for fk in ent.foreign_keys)]

    @dg.asset(
        key=mastered_key(ent.name),
        group_name="mastered",
        owners=[OWNER],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        deps=list(dict.fromkeys(deps)),
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=MAX_AGE),
        automation_condition=DOWNSTREAM,
        description=(
            f"{ent.description} Grain: {ent.grain}. Built from raw.{ent.name} with the seed's "
            "casts and validity rules; rows that break a rule are in "
            f"quarantine.{ent.name}_rejects with the rules they broke, never dropped."
        ),
        metadata={
            "dagster/table_name": table_name("mastered", ent.name),
            "dagster/column_schema": column_schema(ent, typed=True),
            "dagster/column_lineage": mastered_column_lineage(ent),
            "quarantine_table": table_name("quarantine", f"{ent.name}_rejects"),
        },
    )
    def _mastered(
        context: dg.AssetExecutionContext, config: MasteringConfig, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        if warehouse.resolved_engine == "spark":
            from fs_assets.engines import spark as engine  # pyspark and sqlglot: optional

            with warehouse.spark() as wh:
                # Always a full build on Spark: every key is re-evaluated.
                stats = engine.build_mastered(wh, ent)
            rows, rejected = stats.mastered_rows, stats.rejected_rows
        else:
            with warehouse.connect() as conn:
                stats = build_mastered(conn, ent, full_refresh=config.full_refresh)
                rows, rejected = conn.execute(
                    f"select (select count(*) from {mastered_table(ent)}),"
                    f" (select count(*) from {rejects_table(ent)})"
                ).fetchone()
        context.log.info(
            f"{stats.mode} build of mastered.{ent.name}: {stats.keys_evaluated} keys evaluated"
        )
        if stats.rejected_rows:
            context.log.warning(
                f"{stats.rejected_rows} of {stats.latest_rows} evaluated {ent.name} versions "
                f"broke rules and went to quarantine.{ent.name}_rejects: {stats.rule_failures}"
            )
        failures_md = "\n".join(
            ["| rule | rows |", "|---|---|"]
            + [f"| {rule} | {n} |" for rule, n in stats.rule_failures.items()]
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rows),
                "rejected_rows": dg.MetadataValue.int(rejected),
                "build_mode": stats.mode,
                "keys_evaluated": dg.MetadataValue.int(stats.keys_evaluated),
                "rejected_in_this_build": dg.MetadataValue.int(stats.rejected_rows),
                "rule_failures_in_this_build": dg.MetadataValue.md(failures_md),
            }
        )

    return _mastered


MASTERED_ASSETS = [build_mastered_asset(e) for e in ENTITIES.values()]
