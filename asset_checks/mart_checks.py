"""Checks on the cross-sell marts and dashboards: coverage, eligibility, reconciliation.

Each check runs an independent proof from `asset_checks.mart_verify` and fails with the
counts of what is wrong. The cross-sell checks are blocking: a recommendation that breaks
an eligibility rule must not reach the campaign.
"""

from collections.abc import Callable

import dagster as dg
import duckdb

from asset_checks.mart_verify import (
    archetype_problems,
    dashboard_problems,
    eligibility_problems,
    funnel_problems,
    lead_problems,
    spend_problems,
    uplift_problems,
)
from fs_assets.defs.keys import CROSS_SELL_KEY, FUNNEL_KEY, LEAD_KEY, SPEND_KEY, UPLIFT_KEY
from fs_assets.defs.marts import reports_dir
from fs_assets.transforms.marts.charts import Chart, funnel_charts, lead_charts, spend_charts
from fs_assets.transforms.marts.uplift import uplift_by_archetype, uplift_charts
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource


def _result(problems: dict[str, int], passed: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not problems,
        description=passed if not problems else "; ".join(f"{k}: {v}" for k, v in problems.items()),
        metadata={k: dg.MetadataValue.int(v) for k, v in problems.items()},
    )


def _sql_check(
    key: dg.AssetKey,
    name: str,
    description: str,
    proof: Callable[[duckdb.DuckDBPyConnection], dict[str, int]],
    passed: str,
    *,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name=name,
        description=description,
        blocking=blocking,
        pool=WAREHOUSE_POOL,
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as conn:
            return _result(proof(conn), passed)

    return _check


def _dashboard_check(
    key: dg.AssetKey, slug: str, charts_of: Callable[[duckdb.DuckDBPyConnection], list[Chart]]
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=key,
        name="charts_show_mart",
        description="The dashboard page and a PNG per chart exist and are valid, and every "
        "chart on the page carries exactly the mart's rows.",
        pool=WAREHOUSE_POOL,
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as conn:
            problems = dashboard_problems(conn, reports_dir(warehouse), slug, charts_of)
        return dg.AssetCheckResult(
            passed=not problems,
            description="; ".join(problems) or "every chart shows the mart's numbers",
            metadata={"problems": dg.MetadataValue.int(len(problems))},
        )

    return _check


@dg.asset_check(
    asset=UPLIFT_KEY,
    name="uplift_reconciles",
    description="Each uplift group (archetype, offer) holds the contacts (person, campaign: "
    "a contacted event on any of the person's core records) of people with a recommended "
    "card, split by the card that campaign offered, and their conversions in the same "
    "campaign (mastered.campaign_event); metadata: uplift per archetype.",
    pool=WAREHOUSE_POOL,
)
def uplift_reconciles(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as conn:
        problems = uplift_problems(conn)
        uplift = uplift_by_archetype(conn)
    result = _result(problems, "the uplift groups reconcile with the campaign events")
    metadata = dict(result.metadata or {})
    for archetype, points in uplift.items():
        metadata[f"uplift_points/{archetype}"] = (
            dg.MetadataValue.float(points) if points is not None else dg.MetadataValue.text("n/a")
        )
    return dg.AssetCheckResult(
        passed=result.passed, description=result.description, metadata=metadata
    )


MART_CHECKS = [
    uplift_reconciles,
    _sql_check(
        CROSS_SELL_KEY,
        "one_archetype_per_customer",
        "Every mastered customer has exactly one row and the archetype of the first rule "
        "that holds, re-evaluated independently.",
        archetype_problems,
        "every customer has exactly one archetype, the first rule that holds",
        blocking=True,
    ),
    _sql_check(
        CROSS_SELL_KEY,
        "recommendations_respect_eligibility",
        "No card for an ineligible customer (nor a person deceased on any core record), "
        "none below the card's CIBIL minimum, none already held, none above the tier cap; "
        "every row says why.",
        eligibility_problems,
        "every recommendation respects eligibility and the tier cap",
        blocking=True,
    ),
    _sql_check(
        FUNNEL_KEY,
        "funnel_consistent",
        "Stage counts never grow, the first stage is every contacted person, and every "
        "stage's people equal the distinct people with a valid event of its type in "
        "mastered.campaign_event on any of their core records.",
        funnel_problems,
        "stages shrink from the contacted customers and reconcile with the campaign events",
        blocking=False,
    ),
    _sql_check(
        LEAD_KEY,
        "reconciles_with_mastered",
        "Transaction counts per mode and reason, amounts per reason and the customer total "
        "equal mastered's.",
        lead_problems,
        "lead generation figures reconcile with mastered",
        blocking=False,
    ),
    _sql_check(
        SPEND_KEY,
        "reconciles_with_mastered",
        "Monthly, category, flow and segment spend equal mastered's successful debits, and "
        "each spend segment holds the people whose debits over all their core records fall "
        "in it.",
        spend_problems,
        "spend figures reconcile with mastered",
        blocking=False,
    ),
    _dashboard_check(FUNNEL_KEY, "campaign_funnel", funnel_charts),
    _dashboard_check(UPLIFT_KEY, "campaign_uplift", uplift_charts),
    _dashboard_check(LEAD_KEY, "lead_generation", lead_charts),
    _dashboard_check(SPEND_KEY, "spend_analysis", spend_charts),
]
