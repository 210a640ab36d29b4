"""`mastered.<entity>` and `mastered.<entity>_history`: newest valid version, and history."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from fs_assets.defs.automation import DOWNSTREAM
from fs_assets.defs.history import history_column_lineage, history_column_schema, history_grain
from fs_assets.defs.keys import history_key, mastered_key, raw_key
from fs_assets.defs.metadata import column_schema, mastered_column_lineage, table_name
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import (
    OWNER,
    history_name,
)
from fs_assets.transforms.mastering import referenced_entities
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

# A mastered table older than this is stale (FreshnessPolicy, and the data_freshness check).
MAX_AGE = dt.timedelta(hours=24)


class MasteringConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Re-evaluate every key, not only those with new raw versions.",
    )


def _mastered_spec(ent: Entity, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=mastered_key(ent.name),
        group_name="mastered",
        owners=[OWNER],
        kinds={"duckdb"},
        deps=deps,
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=MAX_AGE),
        automation_condition=DOWNSTREAM,
        description=(
            f"{ent.description} Grain: one row per {ent.name} ({ent.key}) that has a valid "
            f"version: its newest valid version by modified_at. Built from raw.{ent.name} "
            "with the seed's casts and validity rules. A newer version that breaks a rule "
            f"is a pending correction in quarantine.{ent.name}_pending_corrections and does "
            "not replace the good row; a key with no valid version is in "
            f"quarantine.{ent.name}_rejects with the rules it broke; nothing is dropped."
        ),
        metadata={
            "dagster/table_name": table_name("mastered", ent.name),
            "dagster/column_schema": column_schema(ent, typed=True),
            "dagster/column_lineage": mastered_column_lineage(ent),
            "quarantine_table": table_name("quarantine", f"{ent.name}_rejects"),
            "pending_corrections_table": table_name(
                "quarantine", f"{ent.name}_pending_corrections"
            ),
        },
    )


def _history_spec(ent: Entity, deps: list[dg.AssetKey]) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=history_key(ent),
        group_name="mastered",
        owners=[OWNER],
        kinds={"duckdb"},
        deps=deps,
        automation_condition=DOWNSTREAM,
        description=(
            f"History of mastered.{ent.name} (SCD type 2). Grain: {history_grain(ent)}. "
            f"Written with mastered.{ent.name} in one transaction; a late correction "
            "(older modified_at than the current version) takes its place in time and "
            "does not become current."
        ),
        metadata={
            "dagster/table_name": table_name("mastered", history_name(ent)),
            "dagster/column_schema": history_column_schema(ent),
            "dagster/column_lineage": history_column_lineage(ent),
        },
    )


def build_mastered_asset(ent: Entity) -> dg.AssetsDefinition:
    """mastered.<entity> and mastered.<entity>_history: one step, one transaction."""
    deps = [raw_key(ent.name), *(mastered_key(name) for name in referenced_entities(ent))]
    deps = list(dict.fromkeys(deps))

    @dg.multi_asset(
        # The step key of a single mastered/<entity> asset, kept for runs and lineage.
        name=f"mastered__{ent.name}",
        specs=[_mastered_spec(ent, deps), _history_spec(ent, deps)],
        pool=WAREHOUSE_POOL,
        # Selecting one of the two still builds both tables (one transaction); only the
        # selected ones report a materialization.
        can_subset=True,
    )
    def _mastered(
        context: dg.AssetExecutionContext, config: MasteringConfig, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        with warehouse.open_engine() as engine:
            built = engine.master(
                ent,
                full_refresh=config.full_refresh,
                reporting_currency=warehouse.resolved_reporting_currency,
            )
        stats, rows, history = built.stats, built.rows, built.history
        rejected, pending, pending_keys = built.rejected, built.pending, built.pending_keys
        context.log.info(
            f"{stats.mode} build of mastered.{ent.name}: {stats.keys_evaluated} keys, "
            f"{stats.versions_evaluated} versions evaluated"
        )
        if pending:
            context.log.warning(
                f"{pending} pending corrections of {pending_keys} {ent.name} keys in "
                f"quarantine.{ent.name}_pending_corrections: newer versions that break rules; "
                "the last valid version stays mastered until a valid one arrives"
            )
        if stats.rejected_rows or stats.pending_rows:
            context.log.warning(
                f"{stats.rejected_rows} rejected keys and {stats.pending_rows} pending "
                f"corrections in this build of mastered.{ent.name}: {stats.rule_failures}"
            )
        failures_md = "\n".join(
            ["| rule | rows |", "|---|---|"]
            + [f"| {rule} | {n} |" for rule, n in stats.rule_failures.items()]
        )
        selected = context.selected_asset_keys
        if mastered_key(ent.name) in selected:
            yield dg.MaterializeResult(
                asset_key=mastered_key(ent.name),
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(rows),
                    "rejected_rows": dg.MetadataValue.int(rejected),
                    "pending_corrections": dg.MetadataValue.int(pending),
                    "keys_with_pending_correction": dg.MetadataValue.int(pending_keys),
                    "build_mode": stats.mode,
                    "keys_evaluated": dg.MetadataValue.int(stats.keys_evaluated),
                    "versions_evaluated": dg.MetadataValue.int(stats.versions_evaluated),
                    "rejected_in_this_build": dg.MetadataValue.int(stats.rejected_rows),
                    "pending_in_this_build": dg.MetadataValue.int(stats.pending_rows),
                    "rule_failures_in_this_build": dg.MetadataValue.md(failures_md),
                },
            )
        if history_key(ent) in selected:
            yield dg.MaterializeResult(
                asset_key=history_key(ent),
                metadata={
                    "dagster/row_count": dg.MetadataValue.int(history),
                    "build_mode": stats.mode,
                },
            )

    return _mastered


MASTERED_ASSETS = [build_mastered_asset(e) for e in ENTITIES.values()]
