"""One check step per mastered table, running every check family on one connection.

Each check stays a separate, named, individually selectable Dagster check; they share a
step because a step is a process with its own start-up and its own turn at the
single-writer warehouse, and forty steps of a few milliseconds of SQL each would spend
their time waiting for each other.

The step reads whichever engine the warehouse resource runs: the DuckDB file, or the Spark
engine's Parquet output with the tables the families need exposed as views. The families'
SQL is written once, in DuckDB's dialect, and transpiled for Spark.
"""

from collections.abc import Iterator

import dagster as dg

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
from asset_checks.rule_checks import evaluate_rule_checks, rule_check_specs, rule_check_tables
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
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


def build_mastered_checks(ent: Entity, families: tuple = FAMILIES) -> dg.AssetChecksDefinition:
    specs = [spec for specs_of, _, _ in families for spec in specs_of(ent)]
    tables = [table for _, _, tables_of in families for table in tables_of(ent)]

    @dg.multi_asset_check(
        specs=specs,
        name=f"mastered_{ent.name}_checks",
        can_subset=True,
        pool=WAREHOUSE_POOL,
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.AssetCheckResult]:
        selected = {k.name for k in context.selected_asset_check_keys}
        currency = warehouse.resolved_reporting_currency
        with warehouse.for_checks(tables) as conn:
            for _, evaluate, _ in families:
                if evaluate in CURRENCY_AWARE:
                    yield from evaluate(conn, ent, selected, reporting_currency=currency)
                else:
                    yield from evaluate(conn, ent, selected)

    return _checks


MASTERED_CHECKS = [build_mastered_checks(e) for e in ENTITIES.values()]
# A source entity's mastered table: the rule and integrity checks (key unique, every
# rule, reconciliation with raw, quarantine); pandera, freshness and fx read the model's.
SOURCE_FAMILIES = FAMILIES[:2]
SOURCE_CHECKS = [build_mastered_checks(e, SOURCE_FAMILIES) for e in SOURCE_ENTITIES]
