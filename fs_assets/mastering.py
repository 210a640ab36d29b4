"""The mastered layer: latest version per key, typed, validated; the rest quarantined.

The seed's mastering SQL: `ROW_NUMBER() OVER (PARTITION BY key ORDER BY modified_at DESC)`
keeps one version per key (ties broken by the later ingestion, then the later file row,
so the result never depends on scan order), casts the columns, and its validity SQL keeps
the rows that pass. Here a row that fails any rule is not dropped: it goes to
`quarantine.<entity>_rejects` with the names of the rules it broke, so that

    count(distinct key in raw) == count(mastered) + count(rejects)

holds after every build. Both tables are replaced in one transaction: a build that fails
midway leaves the previous versions readable and unchanged.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from fs_assets.entities import Entity
from fs_assets.raw_history import ensure_tables, raw_table
from fs_assets.rules import RULES, failed_rules_sql, fk_joins_sql, q, typed_select_sql

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_ingested_at")


def mastered_table(ent: Entity) -> str:
    return f"mastered.{q(ent.name)}"


def rejects_table(ent: Entity) -> str:
    return f"quarantine.{q(ent.name + '_rejects')}"


def latest_sql(ent: Entity) -> str:
    """The latest version of each key in the raw history.

    Most keys have one version; only keys with several go through the window, which is the
    expensive part (a sort) at ten million rows.
    """
    key = q(ent.key)
    raw = raw_table(ent)
    return f"""(with multi as (select {key} from {raw} group by {key} having count(*) > 1)
        select r.* from {raw} r anti join multi m on r.{key} = m.{key}
        union all
        select * from (select r.* from {raw} r semi join multi m on r.{key} = m.{key})
        qualify row_number() over (
          partition by {key}
          order by _modified_ts desc, _batch_id desc, _source_row desc) = 1)"""


@dataclass(frozen=True)
class MasterStats:
    latest_rows: int
    mastered_rows: int
    rejected_rows: int
    rule_failures: dict[str, int]


def ensure_reference_tables(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """Referenced mastered tables must exist for the foreign-key joins."""
    for fk in ent.foreign_keys:
        exists = conn.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'mastered' and table_name = ?",
            [fk.entity],
        ).fetchone()[0]
        if not exists:
            raise RuntimeError(
                f"mastered.{fk.entity} does not exist yet; build it before mastered.{ent.name} "
                f"(its {fk.column} must reference it)"
            )


def build_mastered(conn: duckdb.DuckDBPyConnection, ent: Entity) -> MasterStats:
    """Rebuild mastered.<entity> and its rejects from raw history, atomically."""
    ensure_tables(conn, ent)
    ensure_reference_tables(conn, ent)
    rules = RULES[ent.name]
    failed_sql, params = failed_rules_sql(rules)
    text_cols = ", ".join(f"l.{q(c)}" for c in ent.column_names)
    lineage = ", ".join(f"l.{c}" for c in LINEAGE_COLUMNS)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn.execute("begin transaction")
    try:
        conn.execute(
            f"""create or replace temp table _evaluated as
            select {text_cols}, {lineage}, {failed_sql} as _failed_rules
            from ({latest_sql(ent)}) l
            {fk_joins_sql(ent, "l")}""",
            params,
        )
        conn.execute(
            f"""create or replace table {mastered_table(ent)} as
            select {typed_select_sql(ent, "e")}, {", ".join(f"e.{c}" for c in LINEAGE_COLUMNS)}
            from _evaluated e where len(e._failed_rules) = 0
            """
        )
        conn.execute(
            f"""create or replace table {rejects_table(ent)} as
            select {", ".join(f"e.{q(c)}" for c in ent.column_names)}, e._failed_rules,
              {", ".join(f"e.{c}" for c in LINEAGE_COLUMNS)}, ?::timestamp as _rejected_at
            from _evaluated e where len(e._failed_rules) > 0
            """,
            [now],
        )
        latest, mastered, rejected = conn.execute(
            "select count(*), count(*) filter (where len(_failed_rules) = 0), "
            "count(*) filter (where len(_failed_rules) > 0) from _evaluated"
        ).fetchone()
        failures = dict(
            conn.execute(
                "select r, count(*) from (select unnest(_failed_rules) as r from _evaluated) "
                "group by r order by r"
            ).fetchall()
        )
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    finally:
        conn.execute("drop table if exists _evaluated")
    return MasterStats(latest, mastered, rejected, failures)
