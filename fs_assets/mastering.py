"""The mastered layer: latest version per key, typed, validated; the rest quarantined.

The seed's mastering SQL: `ROW_NUMBER() OVER (PARTITION BY key ORDER BY modified_at DESC)`
keeps one version per key (ties broken by the later ingestion, then the later file row,
so the result never depends on scan order), casts the columns, and its validity SQL keeps
the rows that pass. Here a row that fails any rule is not dropped: it goes to
`quarantine.<entity>_rejects` with the names of the rules it broke, so that

    count(distinct key in raw) == count(mastered) + count(rejects)

holds after every build. Both tables change in one transaction: a build that fails
midway leaves the previous versions readable and unchanged. After the first build only
the keys with new raw versions are re-evaluated (see `build_mastered`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import duckdb

from fs_assets.entities import Entity
from fs_assets.raw_history import AUDIT_COLUMNS, ensure_tables, raw_table
from fs_assets.rules import RULES, failed_rules_sql, fk_joins_sql, q, typed_select_sql
from resources.warehouse import table_exists

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_ingested_at")


def mastered_table(ent: Entity) -> str:
    return f"mastered.{q(ent.name)}"


def rejects_table(ent: Entity) -> str:
    return f"quarantine.{q(ent.name + '_rejects')}"


def latest_sql(ent: Entity, keys_table: str | None = None) -> str:
    """The latest version of each key in the raw history (of the keys in `keys_table`).

    Most keys have one version; only keys with several go through the window, which is the
    expensive part (a sort) at ten million rows.
    """
    key = q(ent.key)
    raw = raw_table(ent)
    if keys_table:
        raw = f"(select r.* from {raw} r semi join {keys_table} k on r.{key} = k.{key})"
    names = [*(q(c) for c in ent.column_names), *AUDIT_COLUMNS]
    # Named columns in both branches: the union is by position, and a column the model
    # gained later sits at the end of the raw table. A subquery filter rather than
    # QUALIFY, which Spark 3.5 and 4.0 do not have.
    return f"""(with multi as (select {key} from {raw} group by {key} having count(*) > 1)
        select {", ".join(f"r.{c}" for c in names)} from {raw} r anti join multi m
          on r.{key} = m.{key}
        union all
        select {", ".join(names)} from (
          select r.*, row_number() over (
            partition by r.{key}
            order by r._modified_ts desc, r._batch_id desc, r._source_row desc) as _nth
          from {raw} r semi join multi m on r.{key} = m.{key}) as versions
        where _nth = 1)"""


# The mastering transformation, written once (DuckDB SQL; the Spark engine transpiles it).


def evaluated_sql(ent: Entity, source: str) -> tuple[str, list[object]]:
    """Each latest version (from `source`, e.g. `latest_sql`) with the rules it breaks."""
    failed_sql, params = failed_rules_sql(RULES[ent.name])
    text_cols = ", ".join(f"l.{q(c)}" for c in ent.column_names)
    lineage = ", ".join(f"l.{c}" for c in LINEAGE_COLUMNS)
    sql = f"""select {text_cols}, {lineage}, {failed_sql} as _failed_rules
            from {source} l
            {fk_joins_sql(ent, "l")}"""
    return sql, params


def mastered_select_sql(ent: Entity) -> str:
    """The typed rows of `_evaluated` that break no rule."""
    return (
        f"select {typed_select_sql(ent, 'e')}, {', '.join(f'e.{c}' for c in LINEAGE_COLUMNS)}"
        " from _evaluated e where array_length(e._failed_rules) = 0"
    )


def rejects_select_sql(ent: Entity) -> str:
    """The rows of `_evaluated` that break a rule, as delivered, with the rules; param: now."""
    return (
        f"select {', '.join(f'e.{q(c)}' for c in ent.column_names)}, e._failed_rules, "
        f"{', '.join(f'e.{c}' for c in LINEAGE_COLUMNS)}, cast(? as timestamp) as _rejected_at "
        "from _evaluated e where array_length(e._failed_rules) > 0"
    )


EVALUATED_COUNTS_SQL = (
    "select count(*), count(*) filter (where array_length(_failed_rules) = 0), "
    "count(*) filter (where array_length(_failed_rules) > 0) from _evaluated"
)
RULE_FAILURES_SQL = (
    "select r, count(*) from (select unnest(_failed_rules) as r from _evaluated) "
    "group by r order by r"
)


@dataclass(frozen=True)
class MasterStats:
    """What one build did; counts of `latest_rows` and below are of the keys it evaluated."""

    mode: str  # full | incremental | unchanged
    keys_evaluated: int
    latest_rows: int
    mastered_rows: int
    rejected_rows: int
    rule_failures: dict[str, int]


STATE = "meta.master_state"


def ensure_reference_tables(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """Referenced mastered tables must exist for the foreign-key joins."""
    for fk in ent.foreign_keys:
        if not table_exists(conn, "mastered", fk.entity):
            raise RuntimeError(
                f"mastered.{fk.entity} does not exist yet; build it before mastered.{ent.name} "
                f"(its {fk.column} must reference it)"
            )


def rules_fingerprint(ent: Entity) -> str:
    """Changes whenever the rules or the casts change: then every key is re-evaluated."""
    failed_sql, params = failed_rules_sql(RULES[ent.name])
    text = "|".join([failed_sql, repr(params), typed_select_sql(ent), fk_joins_sql(ent)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _state(conn: duckdb.DuckDBPyConnection, entity: str) -> tuple | None:
    conn.execute(
        f"create table if not exists {STATE} (entity varchar primary key, build_id bigint, "
        "raw_watermark bigint, rules_fingerprint varchar, refs varchar, built_at timestamp)"
    )
    return conn.execute(
        f"select build_id, raw_watermark, rules_fingerprint, refs from {STATE} where entity = ?",
        [entity],
    ).fetchone()


def _refs(conn: duckdb.DuckDBPyConnection, ent: Entity) -> str:
    """Build ids of the referenced mastered tables: if one was rebuilt, FKs need a recheck."""
    parts = []
    for fk in ent.foreign_keys:
        row = _state(conn, fk.entity)
        parts.append(f"{fk.entity}:{row[0] if row else 'none'}")
    return ",".join(parts)


def build_mastered(
    conn: duckdb.DuckDBPyConnection, ent: Entity, full_refresh: bool = False
) -> MasterStats:
    """Refresh mastered.<entity> and its rejects from raw history, atomically.

    Incremental when it can be: only keys with raw versions newer than the last build are
    re-evaluated (a 1,000-customer update touches 1,000 keys, not a million). A full
    rebuild happens on the first build, on request, when the rules changed, or when a
    referenced mastered table was rebuilt (foreign keys may have changed status).
    """
    ensure_tables(conn, ent)
    ensure_reference_tables(conn, ent)
    key = q(ent.key)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn.execute("begin transaction")
    try:
        state = _state(conn, ent.name)
        fingerprint, refs = rules_fingerprint(ent), _refs(conn, ent)
        watermark = conn.execute(
            f"select coalesce(max(_batch_id), 0) from {raw_table(ent)}"
        ).fetchone()[0]
        incremental = (
            not full_refresh
            and state is not None
            and state[2] == fingerprint
            and state[3] == refs
            and table_exists(conn, "mastered", ent.name)
            and table_exists(conn, "quarantine", f"{ent.name}_rejects")
        )
        if incremental and watermark == state[1]:
            conn.execute("rollback")
            return MasterStats("unchanged", 0, 0, 0, 0, {})
        if incremental:
            conn.execute(
                f"create or replace temp table _keys as select distinct {key} "
                f"from {raw_table(ent)} where _batch_id > ?",
                [state[1]],
            )
            source = latest_sql(ent, keys_table="_keys")
        else:
            source = latest_sql(ent)
        evaluated, params = evaluated_sql(ent, source)
        conn.execute(f"create or replace temp table _evaluated as {evaluated}", params)
        mastered_select, rejects_select = mastered_select_sql(ent), rejects_select_sql(ent)
        if incremental:
            for table in (mastered_table(ent), rejects_table(ent)):
                conn.execute(f"delete from {table} where {key} in (select {key} from _keys)")
            conn.execute(f"insert into {mastered_table(ent)} {mastered_select}")
            conn.execute(f"insert into {rejects_table(ent)} {rejects_select}", [now])
        else:
            conn.execute(f"create or replace table {mastered_table(ent)} as {mastered_select}")
            conn.execute(f"create or replace table {rejects_table(ent)} as {rejects_select}", [now])
        latest, mastered, rejected = conn.execute(EVALUATED_COUNTS_SQL).fetchone()
        failures = dict(conn.execute(RULE_FAILURES_SQL).fetchall())
        build_id = (state[0] if state else 0) + 1
        conn.execute(
            f"insert or replace into {STATE} values (?, ?, ?, ?, ?, ?)",
            [ent.name, build_id, watermark, fingerprint, refs, now],
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    finally:
        conn.execute("drop table if exists _evaluated")
        conn.execute("drop table if exists _keys")
    mode = "incremental" if incremental else "full"
    return MasterStats(mode, latest, latest, mastered, rejected, failures)
