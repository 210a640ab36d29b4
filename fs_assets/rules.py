"""The validity rules, derived from the entity model: one table for mastering and checks.

Each rule is a SQL predicate that is TRUE when a row breaks the rule, with its values as
`?` parameters. Mastering evaluates all rules of an entity in one pass and quarantines
the rows that break any; the asset checks evaluate the same predicates on the mastered
table to prove nothing slipped through. Because both read this table, they cannot drift.

These are the seed's validity SQL (lengths, formats, value sets, the cibil range and the
date format) with two bugs fixed to their intent:
- `... AND LENGTH(COALESCE(cust_middle_name, '')) <= 35 or cust_middle_name is null AND ...`
  binds as `(all rules before) OR (middle name null AND all rules after)`, so a row with
  no middle name skipped half the rules. Intended: the middle name is optional; when
  present it is at most 35 letters.
- `cust_segment IN ('Urban','Rural','Semi-Urban')` rejects the generator's 'Semi' (see
  entities.py); the accepted set is the generator's.
The seed's quality job used regexes that contradict its own data (`^\\d{4}$` for the
segment, `^[A-Za-z]{20}$` for the channel) and `duplicate_count == 0` on categorical
columns; the checks implement their intent: accepted values, nothing missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fs_assets.cross_entity import lookup_joins_sql
from fs_assets.entities import DEFAULT_REPORTING_CURRENCY, ENTITIES, Column, Entity

RuleKind = Literal[
    "required",
    "type",
    "accepted_values",
    "max_length",
    "exact_length",
    "pattern",
    "range",
    "foreign_key",
    "positive",
    "matches_currency_and_date",
    "matches_account",
    "before_account_open",
    "fx_rate_missing",
]


@dataclass(frozen=True)
class Rule:
    """One validity rule on one column; `fail_sql` is TRUE for a row that breaks it."""

    name: str
    entity: str
    column: str
    kind: RuleKind
    description: str
    fail_sql: str
    params: tuple[object, ...] = field(default_factory=tuple)


def q(identifier: str) -> str:
    """Quote an identifier from the entity model (never from user input)."""
    return '"' + identifier.replace('"', '""') + '"'


def _applies(col: Column, expr: str) -> str:
    if col.personal_only:
        return f"({expr}) and customer_type = 'Personal'"
    return expr


def column_rules(ent: Entity, col: Column) -> list[Rule]:
    """The rules the entity model implies for one column."""
    c = q(col.name)
    rules: list[Rule] = []

    def add(kind: RuleKind, description: str, fail_sql: str, *params: object) -> None:
        rules.append(
            Rule(
                f"{col.name}__{kind}",
                ent.name,
                col.name,
                kind,
                description,
                fail_sql,
                tuple(params),
            )
        )

    if col.required:
        who = " for Personal customers" if col.personal_only else ""
        add(
            "required",
            f"{col.name} must be present{who}",
            _applies(col, f"{c} is null or trim({c}) = ''"),
        )
    if col.type != "VARCHAR":
        add(
            "type",
            f"{col.name} must parse as {col.type}",
            f"{c} is not null and try_cast({c} as {col.type}) is null",
        )
    if col.values is not None:
        add(
            "accepted_values",
            f"{col.name} must be one of {list(col.values)}",
            f"{c} is not null and not list_contains(?, {c})",
            list(col.values),
        )
    if col.max_length is not None:
        add(
            "max_length",
            f"{col.name} must be at most {col.max_length} characters",
            f"length({c}) > ?",
            col.max_length,
        )
    if col.exact_length is not None:
        add(
            "exact_length",
            f"{col.name} must be exactly {col.exact_length} characters",
            f"length({c}) <> ?",
            col.exact_length,
        )
    if col.pattern is not None:
        add(
            "pattern",
            f"{col.name} must match {col.pattern}",
            f"{c} is not null and not regexp_full_match({c}, ?)",
            col.pattern,
        )
    if col.value_range is not None:
        low, high = col.value_range
        add(
            "range",
            f"{col.name} must lie between {low} and {high}",
            f"try_cast({c} as double) not between ? and ?",
            float(low),
            float(high),
        )
    return rules


def fk_alias(index: int) -> str:
    return f"_fk{index}"


def foreign_key_rules(ent: Entity) -> list[Rule]:
    """Referential rules: the referenced key must exist in the referenced mastered table.

    The predicate reads the left-joined reference column `_fk<i>` that `mastering_sql`
    provides; a null reference column means no such key.
    """
    rules = []
    for i, fk in enumerate(ent.foreign_keys):
        rules.append(
            Rule(
                name=f"{fk.column}__foreign_key",
                entity=ent.name,
                column=fk.column,
                kind="foreign_key",
                description=f"{fk.column} must exist in mastered.{fk.entity}.{fk.ref_column}",
                fail_sql=f"{q(fk.column)} is not null and {fk_alias(i)}.ref is null",
            )
        )
    return rules


# Cross-field and cross-entity rules that are not implied by one column. A predicate may
# read the aliases of the entity's lookups (`fs_assets/cross_entity.py`): `_acct` is the
# transaction's mastered account, `_fx` the day's rate of its currency.
_TS = "try_cast(transaction_ts as timestamp)"
CROSS_RULES: dict[str, tuple[tuple[str, str, RuleKind, str, str], ...]] = {
    "fx_rate": (
        (
            "rate__positive",
            "rate",
            "positive",
            "rate must be greater than 0",
            "try_cast(rate as double) <= 0",
        ),
        (
            "fx_rate_id__matches_currency_and_date",
            "fx_rate_id",
            "matches_currency_and_date",
            "fx_rate_id must be '<currency>:<rate_date>', so one rate per currency and day",
            "fx_rate_id <> (currency || ':' || cast(try_cast(rate_date as date) as varchar))",
        ),
    ),
    "transaction": (
        (
            "currency__matches_account",
            "currency",
            "matches_account",
            "currency must be the currency of the transaction's account (mastered.account)",
            "currency <> _acct.acct_currency",
        ),
        (
            "transaction_ts__before_account_open",
            "transaction_ts",
            "before_account_open",
            "transaction_ts must not be before its account's open_date (mastered.account)",
            f"{_TS} < cast(_acct.acct_open_date as timestamp)",
        ),
        (
            "currency__fx_rate_missing",
            "currency",
            "fx_rate_missing",
            "mastered.fx_rate must hold a rate for the currency on the transaction's day (to "
            "the reporting currency); without one the amount cannot be reported",
            f"currency is not null and {_TS} is not null and _fx.fx_rate is null",
        ),
    ),
}


def cross_rules(ent: Entity) -> list[Rule]:
    """The entity's cross-field and cross-entity rules (CROSS_RULES)."""
    return [
        Rule(name, ent.name, column, kind, description, fail_sql)
        for name, column, kind, description, fail_sql in CROSS_RULES.get(ent.name, ())
    ]


def entity_rules(ent: Entity) -> list[Rule]:
    rules = [r for col in ent.columns for r in column_rules(ent, col)]
    return rules + foreign_key_rules(ent) + cross_rules(ent)


RULES: dict[str, tuple[Rule, ...]] = {name: tuple(entity_rules(e)) for name, e in ENTITIES.items()}


def failed_rules_sql(rules: tuple[Rule, ...] | list[Rule]) -> tuple[str, list[object]]:
    """`list_filter([...])` naming every broken rule of a row, with its parameters."""
    parts: list[str] = []
    params: list[object] = []
    for rule in rules:
        parts.append(f"case when coalesce({rule.fail_sql}, false) then ? end")
        params.extend(rule.params)
        params.append(rule.name)
    return f"list_filter([{', '.join(parts)}], lambda x: x is not null)", params


def reference_joins_sql(
    ent: Entity, source_alias: str = "l", reporting_currency: str = DEFAULT_REPORTING_CURRENCY
) -> tuple[str, list[object]]:
    """Every join the entity's rules read: foreign keys, then lookups; with parameters."""
    lookups, params = lookup_joins_sql(ent, source_alias, reporting_currency)
    return f"{fk_joins_sql(ent, source_alias)}\n{lookups}", params


def fk_joins_sql(ent: Entity, source_alias: str = "l") -> str:
    """Left joins to the distinct keys of each referenced mastered table."""
    joins = []
    for i, fk in enumerate(ent.foreign_keys):
        joins.append(
            f"left join (select distinct {q(fk.ref_column)} as ref from mastered.{q(fk.entity)})"
            f" {fk_alias(i)} on {fk_alias(i)}.ref = {source_alias}.{q(fk.column)}"
        )
    return "\n".join(joins)


def typed_select_sql(ent: Entity, source_alias: str = "e") -> str:
    """Cast each text column to its mastered type (the seed's casts)."""
    parts = []
    for col in ent.columns:
        ref = f"{source_alias}.{q(col.name)}"
        if col.type == "VARCHAR":
            parts.append(f"{ref} as {q(col.name)}")
        else:
            parts.append(f"try_cast({ref} as {col.type}) as {q(col.name)}")
    return ",\n  ".join(parts)
