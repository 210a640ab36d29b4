"""Checks of the reporting currency: the rate feed's shape, and every converted amount.

- `one_rate_per_currency_per_day` (mastered.fx_rate): the lookup joins on currency and
  day, so a second rate for a pair would count a transaction twice; the key is built from
  the pair, and this check proves no two keys share one. Positive rates are the
  `valid_rate` check (`rate__positive`).
- `amounts_in_reporting_currency` (mastered.transaction): every row has a rate for its
  currency and day, names the configured reporting currency, and its amount_reporting
  equals amount times that rate, recomputed here.
Both blocking: the marts sum amount_reporting. Incremental (check_scope.py), the
conversion is checked on the changed transactions (a per-row property; fx_rate unchanged
since the write, or the step runs in full); the rate table is small and read in full.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from asset_checks.check_scope import FULL_SCOPE, CheckScope
from fs_assets.defs.keys import mastered_key
from fs_assets.model.columns import Entity
from fs_assets.model.cross_entity import FX_LOOKUP, amount_reporting_sql, lookup_joins_sql
from fs_assets.model.keys import mastered_table
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY

SAMPLE_SIZE = 5


def duplicate_rates(conn, ent: Entity) -> tuple[int, list[str]]:
    """(rows beyond the first per currency and day, a sample of 'currency:day')."""
    dupes, sample = conn.execute(
        f"""select coalesce(sum(n - 1), 0),
          array_slice(list_sort(list(currency || ':' || cast(rate_date as varchar))),
            1, {SAMPLE_SIZE})
        from (select currency, rate_date, count(*) as n from {mastered_table(ent)}
              group by currency, rate_date having count(*) > 1) d"""
    ).fetchone()
    return int(dupes), list(sample or [])


def conversion_failures(
    conn, ent: Entity, reporting_currency: str, scope: CheckScope = FULL_SCOPE
) -> dict[str, object]:
    """Transactions without a rate, in another reporting currency, or converted wrongly."""
    joins, params = lookup_joins_sql(ent, "t", reporting_currency)
    key = ent.key
    rows, no_rate, other_currency, wrong, sample = conn.execute(
        f"""with j as (
          select t.{key} as k, t.amount, t.amount_reporting, t.reporting_currency,
            {FX_LOOKUP.alias}.fx_rate as rate
          from {scope.rows(ent, mastered_table(ent))} t
          {joins}),
        f as (select k, rate is null as no_rate,
                reporting_currency is distinct from ? as other_currency,
                amount_reporting is distinct from {amount_reporting_sql("amount", "rate")}
                  as wrong
              from j)
        select count(*), count(*) filter (where no_rate),
          count(*) filter (where other_currency), count(*) filter (where wrong),
          array_slice(list_sort(list(k) filter (where no_rate or other_currency or wrong)),
            1, {SAMPLE_SIZE})
        from f""",
        [*params, reporting_currency],
    ).fetchone()
    return {
        "rows_checked": rows,
        "without_rate": no_rate,
        "other_reporting_currency": other_currency,
        "amount_mismatch": wrong,
        "sample": list(sample or []),
    }


def fx_check_tables(ent: Entity) -> list[tuple[str, str]]:
    if ent.name == "fx_rate":
        return [("mastered", "fx_rate")]
    if ent.name == "transaction":
        return [("mastered", "transaction"), ("mastered", FX_LOOKUP.entity)]
    return []


def fx_check_specs(ent: Entity) -> list[dg.AssetCheckSpec]:
    asset = mastered_key(ent.name)
    if ent.name == "fx_rate":
        return [
            dg.AssetCheckSpec(
                "one_rate_per_currency_per_day",
                asset=asset,
                blocking=True,
                description="At most one rate per currency and day in mastered.fx_rate.",
            )
        ]
    if ent.name == "transaction":
        return [
            dg.AssetCheckSpec(
                "amounts_in_reporting_currency",
                asset=asset,
                blocking=True,
                description=(
                    "Every transaction has a rate for its currency and day in "
                    "mastered.fx_rate, names the configured reporting currency, and its "
                    "amount_reporting is amount times that rate, to the cent."
                ),
            )
        ]
    return []


def evaluate_fx_checks(
    conn,
    ent: Entity,
    selected: set[str],
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    scope: CheckScope = FULL_SCOPE,
) -> Iterator[dg.AssetCheckResult]:
    """`conn` is DuckDB or the Spark engine's `SparkWarehouse` (portable SQL)."""
    asset = mastered_key(ent.name)
    if ent.name == "fx_rate" and "one_rate_per_currency_per_day" in selected:
        dupes, sample = duplicate_rates(conn, ent)
        yield dg.AssetCheckResult(
            check_name="one_rate_per_currency_per_day",
            asset_key=asset,
            passed=dupes == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"duplicate_rows": dupes, "sample": dg.MetadataValue.json(sample)},
        )
    if ent.name == "transaction" and "amounts_in_reporting_currency" in selected:
        found = conversion_failures(conn, ent, reporting_currency, scope)
        failed = (
            found["without_rate"] + found["other_reporting_currency"] + found["amount_mismatch"]
        )
        yield dg.AssetCheckResult(
            check_name="amounts_in_reporting_currency",
            asset_key=asset,
            passed=failed == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"{failed} of {found['rows_checked']} transactions not converted to "
            f"{reporting_currency} as the day's rate says",
            metadata={
                **{k: v for k, v in found.items() if k != "sample"},
                "reporting_currency": reporting_currency,
                "sample": dg.MetadataValue.json(found["sample"]),
            },
        )
