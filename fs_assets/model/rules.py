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

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from fs_assets.model.columns import Column, Entity
from fs_assets.model.cross_entity import lookup_joins_sql, lookups
from fs_assets.model.entities import ENTITIES
from fs_assets.model.places import (
    COUNTRIES,
    COUNTRY_CODES,
    MOBILE_FORMAT_BY_COUNTRY,
    PIN_FORMAT_BY_COUNTRY,
    country_state_city_triples,
    country_state_pairs,
)
from fs_assets.model.value_sets import (
    CONTROL_CHARACTERS,
    CUSTOMER_TYPES,
    DEFAULT_REPORTING_CURRENCY,
    FREE_TEXT_CONTROL_CHARACTERS,
    GENDERS,
    MINOR_BELOW_AGE,
    SENIOR_FROM_AGE,
    TITLES_BY_GENDER,
    YES_NO,
)

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
    "control_characters",
    "personal_only",
    "in_country",
    "in_state",
    "country_format",
    "matches_country",
    "matches_dob",
    "not_future",
    "matches_gender",
    "before_start",
    "without_consent",
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


def is_blank_sql(expr: str) -> str:
    """TRUE when `expr` (text) is empty or only spaces: `trim(x) = ''` as `ltrim(x) = ''`.

    Equal on every string (a string trims to nothing from both sides exactly when it does
    from the left; DuckDB and Spark trim the same characters either way), and half the
    cost: the required rules run on every column of every row, in mastering and checks.
    """
    return f"ltrim({expr}) = ''"


def _applies(col: Column, expr: str) -> str:
    if col.personal_only:
        return f"({expr}) and customer_type = 'Personal'"
    return expr


def _parsed(col: Column, alias: str = "") -> tuple[str, tuple[object, ...]]:
    """The column's text parsed to its type (by its text format when it has one)."""
    ref = f"{alias}{q(col.name)}"
    if col.text_format is not None:
        return f"cast(try_strptime(nullif(trim({ref}), ''), ?) as {col.type})", (col.text_format,)
    return f"try_cast({ref} as {col.type})", ()


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
            _applies(col, f"{c} is null or {is_blank_sql(c)}"),
        )
    if col.type != "VARCHAR" and col.text_format is not None:
        add(
            "type",
            f"{col.name} must parse as {col.type} in the layout {col.text_format}",
            f"nullif(trim({c}), '') is not null and try_strptime(trim({c}), ?) is null",
            col.text_format,
        )
    elif col.type != "VARCHAR":
        add(
            "type",
            f"{col.name} must parse as {col.type}",
            f"{c} is not null and try_cast({c} as {col.type}) is null",
        )
    if col.not_future:
        value, params = _parsed(col)
        add(
            "not_future", f"{col.name} must not lie after today", f"{value} > current_date", *params
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


def _missing_reference_sql(column: str, found: str) -> str:
    """A foreign key's predicate: `column` has a value and `found` (a column of the join
    that looks that value up) is NULL, so no referenced row holds it."""
    return f"{q(column)} is not null and {found} is null"


def served_foreign_keys(ent: Entity) -> dict[int, str]:
    """The entity's foreign keys (by position) a lookup of its already answers, each with
    the lookup's column that is NULL exactly when the referenced key is missing
    (`Lookup.finds`). Such a key needs no join of its own: at 10M customers the
    transaction's account key was a second hash table of 16.5M account ids in every pass
    of mastering (a pass's evaluation 12.2-13.2 s with it, 10.1-10.4 s without) and in
    the rule checks. The rules as written (and their fingerprint) keep the join;
    `running_rules_sql` applies the shortcut where a statement runs."""
    found = {(lk.entity, *lk.finds[:2]): lk.finds[2] for lk in lookups(ent) if lk.finds}
    return {
        i: found[key]
        for i, fk in enumerate(ent.foreign_keys)
        if (key := (fk.entity, fk.column, fk.ref_column)) in found
    }


def reading_served_keys(ent: Entity, rules: Sequence[Rule]) -> list[Rule]:
    """`rules` with each foreign key a lookup serves (`served_foreign_keys`) reading the
    lookup's column; for a statement that joins with `served=True`."""
    columns = {ent.foreign_keys[i].column: found for i, found in served_foreign_keys(ent).items()}
    return [
        replace(r, fail_sql=_missing_reference_sql(r.column, columns[r.column]))
        if r.kind == "foreign_key" and r.column in columns
        else r
        for r in rules
    ]


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
                fail_sql=_missing_reference_sql(fk.column, f"{fk_alias(i)}.ref"),
            )
        )
    return rules


# Cross-field and cross-entity rules that are not implied by one column. A predicate may
# read the aliases of the entity's lookups (`fs_assets/model/cross_entity.py`): `_acct` is the
# transaction's mastered account, `_fx` the day's rate of its currency.
_TS = "try_cast(transaction_ts as timestamp)"
YES, NO = YES_NO
CROSS_RULES: dict[str, tuple[tuple[str, str, RuleKind, str, str], ...]] = {
    "campaign": (
        (
            "end_date__before_start",
            "end_date",
            "before_start",
            "end_date must not be before start_date",
            "try_cast(end_date as date) < try_cast(start_date as date)",
        ),
    ),
    "campaign_event": (
        (
            "cust_id__without_consent",
            "cust_id",
            "without_consent",
            "a campaign may contact only customers with marketing_consent 'Yes' and "
            "do_not_contact 'No' at the event's time (mastered.customer_history)",
            f"_cons.cons_cust_id is not null and (_cons.cons_marketing_consent <> '{YES}' "
            f"or _cons.cons_do_not_contact <> '{NO}')",
        ),
    ),
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


def control_character_rules(ent: Entity) -> list[Rule]:
    """No control character in any text column (free text may keep tabs and line breaks).

    A value in the column's value set, or one that fully matches a pattern matching only
    printable ASCII, holds no control character; so the regular expression runs only on
    values that break that rule (`_printable_gate`), with the same result on every row.
    It ran on every value of every text column, in mastering and in the checks: at 1M
    customers about 7 s of the transaction checks' 18 s of rules.
    """
    rules = []
    for col in ent.columns:
        if col.type != "VARCHAR":
            continue
        pattern = FREE_TEXT_CONTROL_CHARACTERS if col.free_text else CONTROL_CHARACTERS
        allowed = " (tab and line breaks allowed)" if col.free_text else ""
        gate, gate_params = _printable_gate(col)
        rules.append(
            Rule(
                f"{col.name}__control_characters",
                ent.name,
                col.name,
                "control_characters",
                f"{col.name} must hold no control character{allowed}",
                f"{gate}regexp_matches({q(col.name)}, ?)",
                (*gate_params, pattern),
            )
        )
    return rules


def _printable_gate(col: Column) -> tuple[str, tuple[object, ...]]:
    """`<the value breaks a rule that admits only printable text> and `, or nothing."""
    c = q(col.name)
    if col.values is not None and not any(re.search(CONTROL_CHARACTERS, v) for v in col.values):
        return f"{c} is not null and not list_contains(?, {c}) and ", (list(col.values),)
    if col.pattern is not None and matches_only_printable(col.pattern):
        return f"{c} is not null and not regexp_full_match({c}, ?) and ", (col.pattern,)
    return "", ()


def matches_only_printable(pattern: str) -> bool:
    """True when every text `pattern` can fully match is printable ASCII. Conservative:
    the pattern is printable ASCII with no `.` wildcard, no negated or nested class (a
    POSIX class such as `[[:cntrl:]]`) and no escape but `\\d` and escaped punctuation;
    a range between two printable characters stays printable. False for anything else."""
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if not " " <= ch <= "~":
            return False
        if ch == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped != "d" and escaped not in _ESCAPED_PUNCTUATION:
                return False
            i += 2
            continue
        if ch == "[":
            if in_class or pattern[i + 1 : i + 2] == "^":
                return False
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "." and not in_class:
            return False
        i += 1
    return True


_ESCAPED_PUNCTUATION = frozenset(string.punctuation)


# Cross-field rules join two or more values with this separator and look the result up in
# a list of the model's valid combinations (a parameter). The first value is always checked
# against its own value set first, and no value set holds the separator, so a joined text
# matches a valid combination only when every part does.
SEP = "|"
PERSONAL = "Personal"


def _joined(*columns: str) -> str:
    return f" || '{SEP}' || ".join(q(c) for c in columns)


def _keyed(pairs: list[tuple[str, ...]]) -> list[str]:
    return sorted(SEP.join(p) for p in pairs)


def _format_by_country(column: str, formats: dict[str, str]) -> tuple[str, tuple[object, ...]]:
    """`column` does not match its country's format.

    One branch per distinct format, each with its own constant pattern (a pattern computed
    per row would be compiled per row): `case when country in (those countries) then ...`.
    """
    by_pattern: dict[str, list[str]] = {}
    for country, pattern in sorted(formats.items()):
        by_pattern.setdefault(pattern, []).append(country)
    whens = " ".join(
        f"when list_contains(?, country) then not regexp_full_match({q(column)}, ?)"
        for _ in by_pattern
    )
    params: list[object] = []
    for pattern, countries in by_pattern.items():
        params += [countries, pattern]
    sql = f"{q(column)} is not null and (case {whens} else false end)"
    return sql, tuple(params)


def _age_flag_sql(flag: str, years: int, when_younger: bool) -> str:
    """`flag` (Yes/No) disagrees with the age in whole years on the version's modified_at."""
    dob = "try_cast(cust_dob as date)"
    day = "cast(try_cast(modified_at as timestamp) as date)"
    younger = f"{dob} > {day} - interval {int(years)} year"
    holds = younger if when_younger else f"not ({younger})"
    return (
        f"customer_type = ? and list_contains(?, {q(flag)}) and {dob} is not null "
        f"and {day} is not null and {q(flag)} <> case when {holds} then ? else ? end"
    )


def customer_cross_field_rules(ent: Entity) -> list[Rule]:
    """Rules tying a customer's fields together: place, formats, age flags, title."""
    if ent.name != "customer":
        return []
    pairs = _keyed(list(country_state_pairs()))
    triples = _keyed(list(country_state_city_triples()))
    codes = _keyed(list(COUNTRY_CODES.items()))
    titles = _keyed(
        [(g, t) for g, ts in TITLES_BY_GENDER.items() for t in ts]
        + [(g, "") for g, ts in TITLES_BY_GENDER.items() if not ts]
    )
    countries = list(COUNTRIES)
    pin_sql, pin_params = _format_by_country("pin", PIN_FORMAT_BY_COUNTRY)
    mobile_sql, mobile_params = _format_by_country("mobile_number1", MOBILE_FORMAT_BY_COUNTRY)
    yes, no = YES_NO
    title_text = "; ".join(f"{g}: {', '.join(t) or 'none'}" for g, t in TITLES_BY_GENDER.items())
    rules = [
        Rule(
            "state__in_country",
            ent.name,
            "state",
            "in_country",
            "state must be a state of the row's country in the model",
            f"state is not null and list_contains(?, country) "
            f"and not list_contains(?, {_joined('country', 'state')})",
            (countries, pairs),
        ),
        Rule(
            "city__in_state",
            ent.name,
            "city",
            "in_state",
            "city must be a city of the row's state and country in the model",
            f"city is not null and list_contains(?, {_joined('country', 'state')}) "
            f"and not list_contains(?, {_joined('country', 'state', 'city')})",
            (pairs, triples),
        ),
        Rule(
            "pin__country_format",
            ent.name,
            "pin",
            "country_format",
            "pin must have the postal code format of the row's country (digits, length)",
            pin_sql,
            pin_params,
        ),
        Rule(
            "mobile_number1__country_format",
            ent.name,
            "mobile_number1",
            "country_format",
            "mobile_number1 must have the mobile number format of the row's country "
            "(ten digits, starting 6 to 9)",
            mobile_sql,
            mobile_params,
        ),
        Rule(
            "country_code__matches_country",
            ent.name,
            "country_code",
            "matches_country",
            "country_code must be the dialling code of the row's country",
            f"country_code is not null and list_contains(?, country) "
            f"and not list_contains(?, {_joined('country', 'country_code')})",
            (countries, codes),
        ),
        Rule(
            "minor_flag__matches_dob",
            ent.name,
            "minor_flag",
            "matches_dob",
            f"minor_flag must be Yes exactly when the customer is under {MINOR_BELOW_AGE} "
            "on the version's modified_at (from cust_dob)",
            _age_flag_sql("minor_flag", MINOR_BELOW_AGE, when_younger=True),
            (PERSONAL, list(YES_NO), yes, no),
        ),
        Rule(
            "senior_citizen_flag__matches_dob",
            ent.name,
            "senior_citizen_flag",
            "matches_dob",
            f"senior_citizen_flag must be Yes exactly when the customer is {SENIOR_FROM_AGE} "
            "or older on the version's modified_at (from cust_dob)",
            _age_flag_sql("senior_citizen_flag", SENIOR_FROM_AGE, when_younger=False),
            (PERSONAL, list(YES_NO), yes, no),
        ),
        Rule(
            "cust_dob__not_future",
            ent.name,
            "cust_dob",
            "not_future",
            "cust_dob must not be after the version's modified_at",
            "try_cast(cust_dob as date) > cast(try_cast(modified_at as timestamp) as date)",
        ),
        Rule(
            "cust_title__matches_gender",
            ent.name,
            "cust_title",
            "matches_gender",
            f"cust_title must be one of the titles of the customer's gender ({title_text})",
            "customer_type = ? and list_contains(?, gender) and not list_contains(?, "
            f"gender || '{SEP}' || coalesce(cust_title, ''))",
            (PERSONAL, list(GENDERS), titles),
        ),
    ]
    for col in ent.columns:
        if col.personal_only:
            rules.append(
                Rule(
                    f"{col.name}__personal_only",
                    ent.name,
                    col.name,
                    "personal_only",
                    f"{col.name} must be empty unless customer_type is {PERSONAL}",
                    f"list_contains(?, customer_type) and customer_type <> ? "
                    f"and not {is_blank_sql(q(col.name))}",
                    (list(CUSTOMER_TYPES), PERSONAL),
                )
            )
    return rules


def entity_rules(ent: Entity) -> list[Rule]:
    rules = [r for col in ent.columns for r in column_rules(ent, col)]
    rules += control_character_rules(ent) + customer_cross_field_rules(ent)
    return rules + foreign_key_rules(ent) + cross_rules(ent)


RULES: dict[str, tuple[Rule, ...]] = {name: tuple(entity_rules(e)) for name, e in ENTITIES.items()}


def rules_of(ent: Entity) -> tuple[Rule, ...]:
    """The entity's rules: the table's for the model's entities, derived for any other
    (a source system's entity made from its mapping file)."""
    if ENTITIES.get(ent.name) is ent:
        return RULES[ent.name]
    return tuple(entity_rules(ent))


def on_stored_type(rule: Rule, col: Column, stored: str) -> Rule | None:
    """`rule` read where `col` is stored in its model type (`stored` names that value):
    the type rule holds by the storage itself (None: nothing to evaluate), the required
    rule is the stored value's null test (a typed value is never blank), any other rule
    reads the delivered text as it does everywhere. For the checks on mastered tables,
    which otherwise cast each typed value to text and parse it back; `rule` is one of
    `col`'s rules."""
    if col.type == "VARCHAR":
        return rule
    if rule.kind == "type":
        return None
    if rule.kind == "required":
        return replace(rule, fail_sql=_applies(col, f"{stored} is null"), params=())
    return rule


def failed_rules_sql(rules: tuple[Rule, ...] | list[Rule]) -> tuple[str, list[object]]:
    """`list_filter([...])` naming every broken rule of a row, with its parameters.

    A rule whose predicate is NULL is not broken: `case when` takes NULL as not true (in
    DuckDB and Spark alike). The predicate stands bare in the condition, not wrapped in
    `coalesce(..., false)`: there DuckDB evaluates `a and b` on the rows where `a` holds
    only, so a rule's costly part (a regular expression) runs on the few rows its cheap
    guard lets through; inside a function call it ran on every row."""
    parts: list[str] = []
    params: list[object] = []
    for rule in rules:
        parts.append(f"case when {rule.fail_sql} then ? end")
        params.extend(rule.params)
        params.append(rule.name)
    return f"list_filter([{', '.join(parts)}], lambda x: x is not null)", params


def reference_joins_sql(
    ent: Entity,
    source_alias: str = "l",
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    kept_refs: Sequence[str | None] | None = None,
    served: bool = False,
) -> tuple[str, list[object]]:
    """Every join the entity's rules read: foreign keys, then lookups; with parameters.
    `kept_refs`: tables already holding each foreign key's `fk_refs_sql`, in order.
    `served`: no join for a foreign key a lookup answers (`served_foreign_keys`; the
    statement's rules then read `reading_served_keys`)."""
    joined, params = lookup_joins_sql(ent, source_alias, reporting_currency)
    return f"{fk_joins_sql(ent, source_alias, kept_refs, served)}\n{joined}", params


def running_rules_sql(
    ent: Entity,
    rules: Sequence[Rule],
    source_alias: str = "l",
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    kept_refs: Sequence[str | None] | None = None,
) -> tuple[str, list[object], str, list[object]]:
    """`rules` as a statement runs them: their `failed_rules_sql` and parameters, and the
    joins they read and theirs, together, so a foreign key a lookup answers reads the
    lookup exactly where its own join is left out (`served_foreign_keys`)."""
    failed_sql, params = failed_rules_sql(reading_served_keys(ent, rules))
    joins, join_params = reference_joins_sql(
        ent, source_alias, reporting_currency, kept_refs, served=True
    )
    return failed_sql, params, joins, join_params


def fk_refs_sql(ent: Entity) -> list[str]:
    """The distinct keys of each referenced mastered table, one statement per foreign key."""
    return [
        f"select distinct {q(fk.ref_column)} as ref from mastered.{q(fk.entity)}"
        for fk in ent.foreign_keys
    ]


def fk_joins_sql(
    ent: Entity,
    source_alias: str = "l",
    kept_refs: Sequence[str | None] | None = None,
    served: bool = False,
) -> str:
    """Left joins to the distinct keys of each referenced mastered table (read from
    `kept_refs`, tables of those keys, when given); `served`: none for a foreign key a
    lookup answers."""
    refs = kept_refs if kept_refs is not None else [f"({sql})" for sql in fk_refs_sql(ent)]
    skipped = served_foreign_keys(ent) if served else {}
    return "\n".join(
        f"left join {ref} {fk_alias(i)} on {fk_alias(i)}.ref = {source_alias}.{q(fk.column)}"
        for i, (fk, ref) in enumerate(zip(ent.foreign_keys, refs, strict=True))
        if i not in skipped
    )


def parsed_name(column: str) -> str:
    """The column `parsed_select_sql` adds for a column with a text format."""
    return f"_parsed__{column}"


def parsed_select_sql(ent: Entity, source_alias: str = "l") -> tuple[str, list[object]]:
    """`, <value parsed by its format> as _parsed__<column>` for each column delivered in
    a text format (none for the model's entities), with the formats as parameters;
    `typed_select_sql` reads these columns."""
    parts: list[str] = []
    params: list[object] = []
    for col in ent.columns:
        if col.type != "VARCHAR" and col.text_format is not None:
            value, args = _parsed(col, f"{source_alias}.")
            parts.append(f", {value} as {q(parsed_name(col.name))}")
            params.extend(args)
    return "".join(parts), params


def typed_select_sql(ent: Entity, source_alias: str = "e") -> str:
    """Cast each text column to its mastered type (the seed's casts); a column with a text
    format is the value `parsed_select_sql` parsed."""
    parts = []
    for col in ent.columns:
        ref = f"{source_alias}.{q(col.name)}"
        if col.type != "VARCHAR" and col.text_format is not None:
            parts.append(f"{source_alias}.{q(parsed_name(col.name))} as {q(col.name)}")
        elif col.type == "VARCHAR":
            parts.append(f"{ref} as {q(col.name)}")
        else:
            parts.append(f"try_cast({ref} as {col.type}) as {q(col.name)}")
    return ",\n  ".join(parts)
