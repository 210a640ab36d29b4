"""`marts.customer_features`: one row per mastered customer, holding its person's features.

Each row carries the person's golden id (`mastered.customer_identity`, where identity
resolution linked the core customer with other sources; NULL before that) and
`person_record`, true on one core record per person (a customer without golden id is a
person of its own): the newest (`modified_at`, then the lowest cust_id), the record the
golden record's survivorship prefers among core records. `person_id` names the person: the
golden id, or `cust:<cust_id>` for a customer without one.

A person's features are the person's, on every row of theirs: transactions, spend and
the mode mix summed over all their core records, the credit cards held open on any of
them, and the attributes the archetype and eligibility read (customer type and status,
minor flag, CIBIL, affluence, risk, segment) from their person record (their latest
word), except a death: recorded on any of their records, it is the person's (model.DECEASED),
so every record of a person gets the person's archetype and recommended card, and
a card held on one record is not offered through another. A person's region
(`person_state`, `person_country`) is the golden record's (mastered.golden_customer:
survivorship over every source), each where it has a value, else their person record's;
`state` and `country` stay the record's own. The marts count a person once, through
their person record.

One set-based statement: a single pass over mastered.transaction aggregates each
person's activity (every transaction of their records, grouped by person); the cards and
attributes are joined on, the window over a person's records only for people of more than
one record. No order: a reader orders what it reads (a sort of every row took 16 s at 10M
customers). People without transactions get zeros,
not a missing row, so every customer is scored. The window is the last SPEND_WINDOW_DAYS
before the newest transaction in the table (the data's own "today"), so a rerun on the
same data gives the same features whatever the wall clock says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

import duckdb

from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import MARTS_SCHEMA
from fs_assets.model.rules import q
from fs_assets.model.value_sets import AS_OF, SEGMENT_LABELS, TRANSACTION_MODES
from fs_assets.transforms.change_record import INCREMENTAL, current_build, read_change
from fs_assets.transforms.duckdb_file import table_exists, transaction
from fs_assets.transforms.marts.model import (
    DEAL_CATEGORIES,
    DECEASED,
    FAILED_STATUS,
    MODE_SHARE_COLUMNS,
    RECENT_DAYS,
    SPEND_COLUMNS,
    SPEND_STATUS,
    SPEND_TYPE,
    SPEND_WINDOW_DAYS,
)
from fs_assets.transforms.marts.sql_builder import SqlBuilder

FEATURES_TABLE = "marts.customer_features"
# When each row was written (UTC, naive like the raw `_ingested_at`): the statement's
# start, the same on every row it writes. The catalog scanner counts the rows written
# since its last profile, so a small incremental update keeps the column statistics
# instead of profiling every row again; a full rebuild stamps every row.
WRITTEN_AT = "_written_at"
WINDOW_MONTHS = SPEND_WINDOW_DAYS / 30.4375


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def spend_predicate(alias: str = "") -> tuple[str, list[object]]:
    """What counts as spend (successful debits), with its parameters."""
    p = f"{alias}." if alias else ""
    return f"{p}transaction_status = ? and {p}transaction_type = ?", [SPEND_STATUS, SPEND_TYPE]


# The person's golden id, where identity resolution linked the core customer; an empty
# relation of the same shape when the table is not there yet.
_NO_IDENTITY = "(select null::varchar as source_id, null::varchar as golden_id limit 0)"


@dataclass(frozen=True)
class IdentityLink:
    """Where a core customer's golden id is: the identity table and the core feed's source
    name in it, and the golden records (given by the caller: identity resolution sits above
    the marts)."""

    table: str  # "<schema>.<table>", e.g. mastered.customer_identity
    source: str
    golden: str | None = None  # "<schema>.<table>", e.g. mastered.golden_customer

    def tables(self) -> list[tuple[str, str]]:
        """The (schema, name) of the identity table and of the golden records, if named."""
        return [_schema_and_name(t) for t in (self.table, self.golden) if t is not None]

    def as_present(self, exists: Callable[[str, str], bool]) -> IdentityLink | None:
        """The link as far as its tables exist (`exists(schema, name)`, asked of the
        engine that runs the features): None without the identity table (identity
        resolution has not run), without the golden records when theirs is missing."""
        if not exists(*_schema_and_name(self.table)):
            return None
        if self.golden is not None and not exists(*_schema_and_name(self.golden)):
            return replace(self, golden=None)
        return self


def _schema_and_name(table: str) -> tuple[str, str]:
    schema, name = table.split(".", 1)
    return schema, name


# The golden record's region per golden id; an empty relation of that shape without one.
_NO_GOLDEN = (
    "(select null::varchar as golden_id, null::varchar as state, null::varchar as country limit 0)"
)


def _identity_relation(identity: IdentityLink | None) -> str:
    if identity is None:
        return _NO_IDENTITY
    return f"(select source_id, golden_id from {identity.table} where source = ?)"


def _golden_relation(identity: IdentityLink | None) -> str:
    if identity is None or identity.golden is None:
        return _NO_GOLDEN
    return f"(select golden_id, state, country from {identity.golden})"


# The window of a person's records, their person record (the newest, then the lowest
# cust_id) first.
_PERSON_WINDOW = "person_w as (partition by pe.person_id order by c.modified_at desc, c.cust_id)"
# The customer's attributes the archetype and eligibility read, as the features name them,
# and the mastered column each comes from. The person's value is their person record's
# (their latest word), on every row of theirs; the status is DECEASED when any record of
# theirs says so.
PERSON_ATTRIBUTES = {
    "customer_type": "customer_type",
    "customer_status": "customer_status",
    "minor_flag": "minor_flag",
    "cibil_score": "cibil_score",
    "affluence_level": "afflunce_level",
    "risk_category": "customer_risk_category",
}
# The one attribute a person's records decide together (the `?` twice: DECEASED).
_STATUS = "customer_status"


def _person_attribute(name: str, column: str) -> str:
    """The window SQL of a person's attribute over their records (`person_w`)."""
    if name == _STATUS:
        return (
            f"case when bool_or(c.{column} = ?) over (partition by pe.person_id) then ? "
            f"else first_value(c.{column}) over person_w end"
        )
    return f"first_value(c.{column}) over person_w"


def features_sql(
    identity: IdentityLink | None = None, only: str | None = None
) -> tuple[str, list[object]]:
    """The statement that (re)creates the features table, and its parameters in order;
    `identity`: join each customer's golden id from that table; `only`: a relation of
    cust_ids whose rows are inserted instead (their transactions alone are read: it must
    hold every record of each of its people)."""
    spend, spend_params = spend_predicate()
    s = SqlBuilder()
    head = (
        f"insert into {FEATURES_TABLE} by name"
        if only
        else f"create or replace table {FEATURES_TABLE} as"
    )
    mine = f" and t.cust_id in (select cust_id from {only})" if only else ""
    where = f"\n      where c.cust_id in (select cust_id from {only})" if only else ""
    s.add(
        f"""{head}
    with bounds as (
      select coalesce(max(transaction_ts), cast(? as timestamp)) as as_of from mastered.transaction
    ),
    -- Each core record's person: the golden id, or the record itself when not linked.
    persons as (
      select c.cust_id, g.golden_id, coalesce(g.golden_id, 'cust:' || c.cust_id) as person_id
      from mastered.customer c
      left join {_identity_relation(identity)} g on g.source_id = c.cust_id::varchar{where}
    ),
    tx as (
      select t.cust_id, t.amount_reporting::double as amount, t.transaction_mode as mode,
             t.transaction_reason as reason, t.transaction_status as status,
             t.transaction_ts as ts, b.as_of, ({spend}) as is_spend
      from mastered.transaction t, bounds b
      where t.transaction_ts > b.as_of - to_days(cast(? as integer)){mine}
    ),
    -- A person's activity: every transaction of their records, grouped by person.
    pagg as (
      select p.person_id,
        count(*) as all_txns,
        count(*) filter (where is_spend) as spend_txns,
        coalesce(sum(amount) filter (where is_spend), 0) as total_spend,
        """,
        AS_OF.isoformat(),
        *([identity.source] if identity else []),
        *spend_params,
        SPEND_WINDOW_DAYS,
    )
    s.join(
        [
            (f"coalesce(sum(amount) filter (where is_spend and reason = ?), 0) as {q(col)}", (r,))
            for r, col in SPEND_COLUMNS.items()
        ]
        + [
            (f"count(*) filter (where is_spend and mode = ?) as {q('n_' + m)}", (m,))
            for m in TRANSACTION_MODES
        ],
        ",\n        ",
    )
    deal = " + ".join(f"a.{q(SPEND_COLUMNS[c])}" for c in DEAL_CATEGORIES)
    shares = ",\n      ".join(
        f"coalesce(a.{q('n_' + m)}::double / nullif(a.spend_txns, 0), 0) as {q(col)}"
        for m, col in MODE_SHARE_COLUMNS.items()
    )
    reason_cols = ",\n      ".join(
        f"coalesce(a.{q(c)}, 0) as {q(c)}" for c in SPEND_COLUMNS.values()
    )
    own = ", ".join(f"c.{q(col)} as {q(n)}" for n, col in PERSON_ATTRIBUTES.items())
    windowed = ",\n        ".join(
        f"{_person_attribute(n, col)} as {q(n)}" for n, col in PERSON_ATTRIBUTES.items()
    )
    s.add(
        f""",
        count(*) filter (where status = ?) as failed_txns,
        max(ts) filter (where is_spend) as last_spend_at,
        -- Distinct months with spend, as bits of a mask (a window spans at most 13
        -- calendar months): a third cheaper than count(distinct month) at 10M rows.
        bit_count(bit_or(1::bigint << (year(ts) * 12 + month(ts) - year(as_of) * 12
          - month(as_of) + 13)::integer) filter (where is_spend)) as active_months,
        coalesce(sum(amount) filter (
          where is_spend and ts > as_of - to_days(cast(? as integer))), 0) as spend_recent,
        coalesce(sum(amount) filter (
          where is_spend and ts <= as_of - to_days(cast(? as integer))), 0) as spend_earlier
      from tx join persons p using (cust_id) group by p.person_id
    ),
    -- People of more than one core record (only a golden id joins records): the only
    -- ones whose attributes need the window over their records (at 10M customers, none
    -- shared, the window over every person, each a partition of one, took 21 s).
    shared as (
      select golden_id from persons where golden_id is not null
      group by golden_id having count(*) > 1
    ),
    -- The credit cards a person holds open on any of their records.
    cards as (
      select p.person_id, list(distinct a.product_id order by a.product_id) as held_cards
      from mastered.account a join mastered.product d using (product_id)
      join persons p on p.cust_id = a.cust_id
      where d.product_type = 'Credit Card' and a.account_status <> 'Closed'
      group by p.person_id
    ),
    -- Each record's person attributes and person-record flag: a person of one record is
    -- their record; the others' come from their person record, through the window.
    person_of as (
      select c.cust_id, true as person_record, {own}, coalesce(""",
        FAILED_STATUS,
        RECENT_DAYS,
        RECENT_DAYS,
    )
    s.case_map("c.cust_segment", SEGMENT_LABELS)
    s.add(
        f""", c.cust_segment) as segment,
        c.state as person_record_state, c.country as person_record_country
      from mastered.customer c join persons pe using (cust_id)
      left join shared m on m.golden_id = pe.golden_id
      where m.golden_id is null
      union all
      select c.cust_id, row_number() over person_w = 1 as person_record,
        {windowed},
        first_value(coalesce(""",
        DECEASED,
        DECEASED,
    )
    s.case_map("c.cust_segment", SEGMENT_LABELS)
    s.add(
        f""", c.cust_segment)) over person_w as segment,
        first_value(c.state) over person_w as person_record_state,
        first_value(c.country) over person_w as person_record_country
      from mastered.customer c join persons pe using (cust_id)
      join shared m on m.golden_id = pe.golden_id
      window {_PERSON_WINDOW}
    )
    select
      c.cust_id, pe.golden_id, pe.person_id, po.person_record,
      {", ".join(f"po.{q(n)}" for n in PERSON_ATTRIBUTES)}, po.segment,
      c.state, c.country,
      coalesce(gc.state, po.person_record_state) as person_state,
      coalesce(gc.country, po.person_record_country) as person_country,
      coalesce(a.all_txns, 0) as all_txns,
      coalesce(a.failed_txns, 0) as failed_txns,
      coalesce(a.failed_txns::double / nullif(a.all_txns, 0), 0) as failed_share,
      coalesce(a.spend_txns, 0) as spend_txns,
      coalesce(a.total_spend, 0) as total_spend,
      coalesce(a.total_spend / nullif(a.spend_txns, 0), 0) as avg_ticket,
      {reason_cols},
      {shares},
      coalesce(({deal}) / nullif(a.total_spend, 0), 0) as deal_share,
      case when coalesce(a.total_spend, 0) > 0 then top.r end as dominant_category,
      coalesce(top.s / nullif(a.total_spend, 0), 0) as dominant_share,
      a.last_spend_at,
      date_diff('day', a.last_spend_at, (select as_of from bounds)) as recency_days,
      coalesce(a.active_months, 0) as active_months,
      coalesce(a.spend_txns, 0) / cast(? as double) as txns_per_month,
      coalesce(a.spend_recent, 0) as spend_recent,
      coalesce(a.spend_earlier, 0) as spend_earlier,
      (a.spend_recent - a.spend_earlier) / nullif(a.spend_earlier, 0) as spend_trend,
      coalesce(k.held_cards, []::varchar[]) as held_cards,
      (select as_of from bounds) as as_of,
      cast(? as timestamp) as {q(WRITTEN_AT)}
    from mastered.customer c
    join persons pe using (cust_id)
    join person_of po using (cust_id)
    left join pagg a using (person_id)
    left join cards k using (person_id)
    left join {_golden_relation(identity)} gc on gc.golden_id = pe.golden_id,
    -- The largest spend category; a tie goes to the reason listed first in the model.
    lateral (select unnest(list_max([""",
        WINDOW_MONTHS,
        _now().isoformat(),
    )
    s.join(
        [
            (f"struct_pack(s := a.{q(col)}, o := {-i}, r := ?)", (reason,))
            for i, (reason, col) in enumerate(SPEND_COLUMNS.items())
        ],
        ", ",
    )
    s.add("]))) as top")
    return s.text, s.params


def _present(conn: duckdb.DuckDBPyConnection, identity: IdentityLink | None) -> IdentityLink | None:
    """`identity` as far as its tables exist in the DuckDB file (`IdentityLink.as_present`)."""
    if identity is None:
        return None
    return identity.as_present(lambda schema, name: table_exists(conn, schema, name))


def build_features(conn: duckdb.DuckDBPyConnection, identity: IdentityLink | None = None) -> int:
    """(Re)create the features table in one statement; the row count. The golden ids are
    joined when `identity` is given and its table exists, the golden records' region when
    their table exists too."""
    conn.execute(f"create schema if not exists {MARTS_SCHEMA}")
    sql, params = features_sql(_present(conn, identity))
    conn.execute(sql, params)
    return int(conn.execute(f"select count(*) from {FEATURES_TABLE}").fetchall()[0][0])


def update_features(
    conn: duckdb.DuckDBPyConnection, keys: str, identity: IdentityLink | None = None
) -> int:
    """Rewrite the rows of the customers in `keys` (a relation with a `key` column), and of
    every customer sharing a golden id with one (whose person_record may move), in one
    transaction; the number of rows rewritten. Exact when nothing else the features read
    changed since the table was built (the caller's proof: only these customers did)."""
    identity = _present(conn, identity)
    touched = "_features_touched"
    if identity is None:
        conn.execute(f"create or replace temp table {touched} as select key as cust_id from {keys}")
    else:
        link = _identity_relation(identity)
        conn.execute(
            f"""create or replace temp table {touched} as
            select key as cust_id from {keys}
            union select g.source_id from {link} g where g.golden_id in (
              select golden_id from {link} i where i.source_id in (select key from {keys}))""",
            [identity.source] * 2,
        )
    sql, params = features_sql(identity, only=touched)
    with transaction(conn):
        conn.execute(
            f"delete from {FEATURES_TABLE} where cust_id in (select cust_id from {touched})"
        )
        conn.execute(sql, params)
    return int(conn.execute(f"select count(*) from {touched}").fetchall()[0][0])


def _has_column(conn: duckdb.DuckDBPyConnection, column: str) -> bool:
    """Whether the features table has `column` (a table built by an earlier release may
    not: rows inserted by name into it would fail)."""
    schema, table = FEATURES_TABLE.split(".")
    return bool(
        conn.execute(
            "select count(*) from information_schema.columns "
            "where table_schema = ? and table_name = ? and column_name = ?",
            [schema, table, column],
        ).fetchone()[0]
    )


# The mastered entities the features read, whose builds a features table was made from.
FEATURE_SOURCES = ("customer", "transaction", "account", "product")


@dataclass(frozen=True)
class FeaturesPlan:
    """How to bring the features up to date: `full`, `incremental` (the customers of the
    last customer write), or `unchanged`; why; and the builds it will be made from."""

    mode: str
    reason: str
    built_from: dict[str, object]


def plan_features(
    conn: duckdb.DuckDBPyConnection,
    previous: dict[str, object] | None,
    identity_stamp: str | None,
    full_rebuild: bool = False,
) -> FeaturesPlan:
    """Incremental only when the table is the one `previous` (the last build's `built_from`)
    describes and the one write since is an incremental customer write: transactions,
    accounts, products and identity links as they were, the customer write started from
    the build the table was made from. Anything else rebuilds in full."""
    builds: dict[str, object] = {e: current_build(conn, e) for e in FEATURE_SOURCES}
    now = {**builds, "identity": identity_stamp}
    if full_rebuild:
        return FeaturesPlan("full", "full_rebuild requested", now)
    if not previous or not table_exists(conn, MARTS_SCHEMA, FEATURES_TABLE.split(".")[1]):
        return FeaturesPlan("full", "no earlier build recorded", now)
    if not _has_column(conn, WRITTEN_AT):
        return FeaturesPlan("full", f"the table predates its {WRITTEN_AT} column", now)
    rows = conn.execute(f"select count(*) from {FEATURES_TABLE}").fetchall()[0][0]
    if rows != previous.get("rows"):
        return FeaturesPlan("full", "the table was written outside this asset", now)
    moved = [k for k in (*FEATURE_SOURCES[1:], "identity") if now[k] != previous.get(k)]
    if moved:
        return FeaturesPlan("full", f"rebuilt since: {', '.join(moved)}", now)
    if builds["customer"] == previous.get("customer"):
        return FeaturesPlan("unchanged", "no customer write since", now)
    record = read_change(conn, CUSTOMER)
    if (
        record is None
        or record.mode != INCREMENTAL
        or record.build_id != builds["customer"]
        or record.base_build_id != previous.get("customer")
    ):
        return FeaturesPlan("full", "customers changed by more than one incremental write", now)
    return FeaturesPlan("incremental", "the last customer write's keys", now)
