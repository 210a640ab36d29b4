"""What one entity's mastering reads of other mastered tables, and what it derives from them.

A cross-entity rule (a transaction's currency against its account's) needs columns of
another mastered table next to the row it judges. Each `Lookup` is one left join of such
a table, under an alias the rule's predicate reads; mastering and the asset checks add the
same joins, so a rule means the same in both. A looked-up table is built first (a
dependency of the asset); when it changes, the rows its changed keys affect (`affected`)
are re-evaluated on the next build (`mastering.referenced_changes`), so a late fx rate
releases the transactions that were waiting for it without re-mastering the others.

The reporting currency is the one `?` parameter a lookup takes: rates are triangulated
through the rate feed's own quote currency, so any currency the feed covers can be the
reporting one (amount * rate(currency) / rate(reporting currency), same day, same quote).
"""

from __future__ import annotations

from dataclasses import dataclass

from fs_assets.model.columns import Entity
from fs_assets.model.value_sets import CURRENCIES, DEFAULT_REPORTING_CURRENCY


@dataclass(frozen=True)
class Lookup:
    """A left join of another mastered table; `{s}` in `on` is the judged row's alias."""

    alias: str
    entity: str
    relation: str
    on: str
    # Columns of the relation that mastering carries along as `_<column>`.
    carried: tuple[str, ...] = ()
    takes_reporting_currency: bool = False
    # Which judged rows a change of looked-up keys affects: a predicate over `{s}` (the
    # judged row) and `{changed}` (a subquery of the changed keys of `entity`); each `?`
    # is the reporting currency. None: any change re-evaluates every row.
    affected: str | None = None
    # The mastered tables the relation reads (empty: the entity's own mastered table).
    tables: tuple[str, ...] = ()
    # (judged column, looked-up column, relation column): the lookup joins the judged
    # row's column to a unique column of its table, so the relation's column is NULL
    # exactly when no row holds that value. A foreign key on the same pair reads it
    # instead of a join of its own (`rules.served_foreign_keys`).
    finds: tuple[str, str, str] | None = None
    # Small whatever the data's size (bounded by the model's value sets, not by customers):
    # an engine may copy it whole to every worker (Spark broadcasts it rather than
    # shuffling every judged row to meet it: its estimate of a join's size cannot tell).
    small: bool = False

    @property
    def reads(self) -> tuple[str, ...]:
        return self.tables or (self.entity,)


ACCOUNT_LOOKUP = Lookup(
    alias="_acct",
    entity="account",
    relation=(
        "select account_id as acct_account_id, currency as acct_currency, "
        "open_date as acct_open_date from mastered.account"
    ),
    on="_acct.acct_account_id = {s}.account_id",
    affected="{s}.account_id in ({changed})",
    finds=("account_id", "account_id", "_acct.acct_account_id"),
)
# A transaction's day as fx_rate_id writes it ('<currency>:<rate_date>').
_FX_DAY = "cast(cast(try_cast({s}.transaction_ts as timestamp) as date) as varchar)"
# One row per (currency, day): the rate to the reporting currency through the feed's quote
# currency. No row (no rate for the currency, or none for the reporting currency that day,
# or the two quoted in different currencies) means no conversion: the rule says so. Output
# columns carry a prefix, so a rule's unqualified column names stay the judged row's.
FX_LOOKUP = Lookup(
    alias="_fx",
    entity="fx_rate",
    relation=(
        "select f.currency as fx_currency, f.rate_date as fx_rate_date, "
        "f.rate / r.rate as fx_rate, r.currency as fx_reporting_currency "
        "from mastered.fx_rate f join mastered.fx_rate r on r.rate_date = f.rate_date "
        "and r.reporting_currency = f.reporting_currency and r.currency = ?"
    ),
    on=(
        "_fx.fx_currency = {s}.currency "
        "and _fx.fx_rate_date = cast(try_cast({s}.transaction_ts as timestamp) as date)"
    ),
    carried=("fx_rate", "fx_reporting_currency"),
    takes_reporting_currency=True,
    small=True,  # one row per currency and day
    # The rate of its currency that day, or the reporting currency's (it divides all).
    affected=(
        f"({{s}}.currency || ':' || {_FX_DAY}) in ({{changed}}) "
        f"or (? || ':' || {_FX_DAY}) in ({{changed}})"
    ),
)
# A campaign event's customer's marketing permissions as they were at the event's time:
# the customer's valid version in force then (mastered.customer_history, valid_from
# inclusive, valid_to exclusive; versions never in force, valid_from = valid_to, left out).
# The first version also covers the time before it (a contact before the customer's first
# known version is judged by it), so every event of a mastered customer finds exactly one.
_EVENT_TS = "try_cast({s}.event_ts as timestamp)"
CONSENT_LOOKUP = Lookup(
    alias="_cons",
    entity="customer",
    relation=(
        "select cust_id as cons_cust_id, marketing_consent as cons_marketing_consent, "
        "do_not_contact as cons_do_not_contact, case when row_number() over "
        "(partition by cust_id order by valid_from) = 1 then null else valid_from end "
        "as cons_from, valid_to as cons_to from mastered.customer_history "
        "where valid_to is null or valid_from < valid_to"
    ),
    on=(
        "_cons.cons_cust_id = {s}.cust_id "
        f"and (_cons.cons_from is null or _cons.cons_from <= {_EVENT_TS}) "
        f"and (_cons.cons_to is null or {_EVENT_TS} < _cons.cons_to)"
    ),
    affected="{s}.cust_id in ({changed})",
    tables=("customer_history",),
)
LOOKUPS: dict[str, tuple[Lookup, ...]] = {
    "transaction": (ACCOUNT_LOOKUP, FX_LOOKUP),
    "campaign_event": (CONSENT_LOOKUP,),
}
# The aliases of the lookups that are small at any data size (`Lookup.small`): wherever a
# statement joins one (mastering, the rule and fx checks), Spark broadcasts it.
SMALL_LOOKUP_ALIASES = frozenset(lk.alias for lks in LOOKUPS.values() for lk in lks if lk.small)


def amount_reporting_sql(amount: str, rate: str) -> str:
    """Amount times rate, to the cent, half away from zero, in exact decimal arithmetic.

    The rate (a DOUBLE) is fixed to ten decimals first: a double product rounds a half cent
    (101.25 x 60.492 = 6124.815) by its binary representation, which differs between DuckDB
    and Spark; decimals are exact on both.
    """
    return (
        f"cast(round(cast({amount} as decimal(18,2)) * cast({rate} as decimal(18,10)), 2) "
        "as decimal(18,2))"
    )


# Derived columns (entities.py declares them): the SQL over a mastered row `e` of
# `_ranked`, and the columns each comes from, (schema, table, column), for lineage.
DERIVED_SQL: dict[str, dict[str, str]] = {
    "transaction": {
        "amount_reporting": amount_reporting_sql(
            "try_cast(e.amount as decimal(18,2))", "e._fx_rate"
        ),
        "reporting_currency": "e._fx_reporting_currency",
    }
}
DERIVED_FROM: dict[str, dict[str, tuple[tuple[str, str, str], ...]]] = {
    "transaction": {
        "amount_reporting": (("raw", "transaction", "amount"), ("mastered", "fx_rate", "rate")),
        "reporting_currency": (("mastered", "fx_rate", "currency"),),
    }
}


def lookups(ent: Entity) -> tuple[Lookup, ...]:
    return LOOKUPS.get(ent.name, ())


def lookup_entities(ent: Entity) -> tuple[str, ...]:
    """Entities whose mastered tables this entity's rules read, besides foreign keys."""
    return tuple(dict.fromkeys(lk.entity for lk in lookups(ent)))


def lookup_tables(ent: Entity) -> tuple[str, ...]:
    """Mastered tables (and history views) this entity's lookups read."""
    return tuple(dict.fromkeys(t for lk in lookups(ent) for t in lk.reads))


def check_reporting_currency(currency: str) -> str:
    """The currency if it is one the model knows; a clear error otherwise."""
    if currency not in CURRENCIES:
        raise ValueError(
            f"reporting currency {currency!r} is not one of {', '.join(CURRENCIES)}: set "
            f"FS_ACCELERATOR_REPORTING_CURRENCY (or the warehouse resource's "
            f"reporting_currency) to one of them; default {DEFAULT_REPORTING_CURRENCY}"
        )
    return currency


def lookup_joins_sql(
    ent: Entity, source_alias: str, reporting_currency: str = DEFAULT_REPORTING_CURRENCY
) -> tuple[str, list[object]]:
    """The left joins of the entity's lookups, with their parameters (in text order)."""
    joins: list[str] = []
    params: list[object] = []
    for lk in lookups(ent):
        joins.append(f"left join ({lk.relation}) {lk.alias} on {lk.on.format(s=source_alias)}")
        if lk.takes_reporting_currency:
            params.append(check_reporting_currency(reporting_currency))
    return "\n".join(joins), params


def carried_sql(ent: Entity) -> str:
    """`, _fx.fx_rate as _fx_rate, ...`: looked-up values kept for derived columns."""
    parts = [f"{lk.alias}.{c} as _{c}" for lk in lookups(ent) for c in lk.carried]
    return "".join(f", {p}" for p in parts)


def derived_select_sql(ent: Entity) -> str:
    """`, <expr> as <column>` for each derived column of the entity."""
    sql = DERIVED_SQL.get(ent.name, {})
    return "".join(f', {sql[c.name]} as "{c.name}"' for c in ent.derived_columns)
