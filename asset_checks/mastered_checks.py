"""One check step per mastered table, running every check family on one connection.

Each check stays a separate, named, individually selectable Dagster check; they share a
step because a step is a process with its own start-up and its own turn at the
single-writer warehouse, and forty steps of a few milliseconds of SQL each would spend
their time waiting for each other.

The step reads whichever engine the warehouse resource runs: the DuckDB file, or the Spark
engine's Parquet output with the tables the families need exposed as views. The families'
SQL is written once, in DuckDB's dialect, and transpiled for Spark.

On DuckDB the step evaluates the rows the last mastering write changed when the evidence
for that proof is complete (check_scope.py), else every row; `full_checks: true` and the
weekly `mastered_checks_full` schedule force a full evaluation. Each result says which
mode ran, why, and over how many changed keys; each outcome is kept per build
(meta.check_evidence), the evidence the next incremental evaluation needs.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from asset_checks.check_scope import CheckScope, decide_scope, with_scope
from asset_checks.freshness import (
    evaluate_freshness_check,
    freshness_check_specs,
    freshness_check_tables,
)
from asset_checks.fx_checks import evaluate_fx_checks, fx_check_specs, fx_check_tables
from asset_checks.integrity_checks import (
    evaluate_integrity_checks,
    integrity_check_specs,
    integrity_check_tables,
)
from asset_checks.pandera_checks import (
    evaluate_pandera_check,
    pandera_check_specs,
    pandera_check_tables,
)
from asset_checks.rule_checks import (
    check_groups,
    evaluate_rule_checks,
    rule_check_specs,
    rule_check_tables,
)
from fs_assets.defs.keys import mastered_checks_name
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.transforms.change_record import FULL, record_outcomes
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

# (specs, evaluation, tables read) per family.
FAMILIES = (
    (rule_check_specs, evaluate_rule_checks, rule_check_tables),
    (integrity_check_specs, evaluate_integrity_checks, integrity_check_tables),
    (pandera_check_specs, evaluate_pandera_check, pandera_check_tables),
    (freshness_check_specs, evaluate_freshness_check, freshness_check_tables),
    (fx_check_specs, evaluate_fx_checks, fx_check_tables),
)
# The families whose SQL converts to the reporting currency take it as a keyword.
CURRENCY_AWARE = (evaluate_rule_checks, evaluate_fx_checks)
# The families that can evaluate the changed keys only take the step's scope; the others
# read small tables (quarantine, fx rates) or one column (freshness) in full.
SCOPED = (
    evaluate_rule_checks,
    evaluate_integrity_checks,
    evaluate_pandera_check,
    evaluate_fx_checks,
)
READ_IN_FULL = CheckScope(FULL, "read in full: a small table or one column")


def incremental_checks(ent: Entity) -> set[str]:
    """Checks evaluated on the changed keys when the step is incremental."""
    names = {"key_unique", *check_groups(ent), "reconciles_with_raw", "pandera_schema"}
    if ent.name == "transaction":
        names.add("amounts_in_reporting_currency")
    return names


class MasteredChecksConfig(dg.Config):
    full_checks: bool = Field(
        default=False,
        description="Evaluate every check on every row, not only on the rows the last "
        "mastering write changed (the weekly schedule sets it).",
    )


def build_mastered_checks(ent: Entity, families: tuple = FAMILIES) -> dg.AssetChecksDefinition:
    specs = [spec for specs_of, _, _ in families for spec in specs_of(ent)]
    tables = [table for _, _, tables_of in families for table in tables_of(ent)]

    @dg.multi_asset_check(
        specs=specs,
        name=mastered_checks_name(ent.name),
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _checks(
        context: dg.AssetCheckExecutionContext,
        config: MasteredChecksConfig,
        warehouse: WarehouseResource,
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        scoped_names = incremental_checks(ent) & selected
        currency = warehouse.resolved_reporting_currency
        recorded = warehouse.keeps_change_record
        results: list[dg.AssetCheckResult] = []
        with warehouse.for_checks(tables) as conn:
            if recorded:
                scope = decide_scope(conn, ent, scoped_names, config.full_checks)
            else:
                scope = CheckScope(FULL, "the engine keeps no change record")
            in_full = dataclasses.replace(READ_IN_FULL, build_id=scope.build_id)
            context.log.info(
                f"mastered.{ent.name} checks: {scope.mode} ({scope.reason}), "
                f"{scope.keys} changed keys"
            )
            for _, evaluate, _ in families:
                kwargs: dict[str, object] = {}
                if evaluate in CURRENCY_AWARE:
                    kwargs["reporting_currency"] = currency
                if evaluate in SCOPED:
                    kwargs["scope"] = scope
                for result in evaluate(conn, ent, selected, **kwargs):
                    ran = scope if result.check_name in scoped_names else in_full
                    results.append(with_scope(result, ran))
        if recorded and scope.build_id is not None:
            _keep_outcomes(context, warehouse, ent, scope, results)
        yield from results

    return _checks


def _keep_outcomes(
    context: dg.AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    ent: Entity,
    scope: CheckScope,
    results: list[dg.AssetCheckResult],
) -> None:
    """Each outcome on the build it evaluated; without them the next step runs in full."""
    outcomes = {r.check_name: r.passed for r in results if r.check_name}
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        with warehouse.connect() as conn:
            record_outcomes(conn, ent.name, scope.build_id, outcomes, scope.mode, now)
    except Exception as exc:  # the results stand; only the next step's cost depends on it
        context.log.warning(
            f"could not record the check outcomes of mastered.{ent.name} ({exc}); the next "
            "check step evaluates in full"
        )


MASTERED_CHECKS = [build_mastered_checks(e) for e in ENTITIES.values()]
# A source entity's mastered table: the rule and integrity checks (key unique, every
# rule, reconciliation with raw, quarantine); pandera, freshness and fx read the model's.
SOURCE_FAMILIES = FAMILIES[:2]
SOURCE_CHECKS = [build_mastered_checks(e, SOURCE_FAMILIES) for e in SOURCE_ENTITIES]
