"""The raw layer: an append-only history of every version the sources delivered.

One landing file is ingested in one DuckDB transaction: either all of its new versions
land (with the ledger row that records it), or none do. The seed's merge rule
`old.key = new.key AND old.modified_at = new.modified_at WHEN NOT MATCHED THEN INSERT *`
is a set-based anti-join, so re-ingesting the same rows adds nothing. The ledger of
ingested files (path, size, sha256, rows, status) makes re-ingesting a known file a no-op
before any row is read.

Rows that cannot be versioned at all (no key, or a modified_at that is not a timestamp)
cannot take part in the merge; they go to `quarantine.<entity>_ingest_rejects` with the
reason, the file and the row number.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.entities import Entity
from fs_assets.landing_files import (
    LandingFileError,
    explain_read_error,
    file_layout,
    relation_sql,
    sha256_of,
)
from fs_assets.rules import q

LEDGER = "meta.ingest_ledger"
# Ledger statuses whose bytes are in raw: the same bytes again add nothing.
LEDGER_ACCEPTED = ("ingested", "duplicate")
AUDIT_COLUMNS = ("_modified_ts", "_source_file", "_source_row", "_ingested_at", "_batch_id")


def raw_table(ent: Entity) -> str:
    return f"raw.{q(ent.name)}"


def ingest_rejects_table(ent: Entity) -> str:
    return f"quarantine.{q(ent.name + '_ingest_rejects')}"


def ensure_ledger(conn: duckdb.DuckDBPyConnection) -> None:
    """The ledger of landing files and its id sequence (also the Spark engine's ledger)."""
    conn.execute("create sequence if not exists meta.ingest_id_seq")
    conn.execute(
        f"""create table if not exists {LEDGER} (
            ingest_id bigint primary key, entity varchar, path varchar, file_name varchar,
            size_bytes bigint, mtime timestamp, sha256 varchar, status varchar,
            rows_read bigint, rows_inserted bigint, rows_already_present bigint,
            rows_rejected bigint, error varchar, error_line bigint, run_id varchar,
            ingested_at timestamp)"""
    )


def ensure_tables(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """Create the raw, ingest-reject and ledger tables; add columns the model gained.

    A column the model lost is an error: history is append-only and we do not drop data.
    """
    text_cols = ", ".join(f"{q(c)} varchar" for c in ent.column_names)
    audit = (
        "_modified_ts timestamp, _source_file varchar, _source_row bigint, "
        "_ingested_at timestamp, _batch_id bigint"
    )
    conn.execute(f"create table if not exists {raw_table(ent)} ({text_cols}, {audit})")
    conn.execute(
        f"create table if not exists {ingest_rejects_table(ent)} "
        f"({text_cols}, _source_file varchar, _source_row bigint, _reason varchar, "
        "_rejected_at timestamp)"
    )
    ensure_ledger(conn)
    existing = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [ent.name],
        ).fetchall()
    ]
    lost = [c for c in existing if c not in ent.column_names and c not in AUDIT_COLUMNS]
    if lost:
        raise RuntimeError(
            f"raw.{ent.name} has columns the entity model no longer defines: {lost}. "
            "History is append-only; restore the columns in the model or migrate the table."
        )
    for col in ent.column_names:
        if col not in existing:
            conn.execute(f"alter table {raw_table(ent)} add column {q(col)} varchar")


@dataclass(frozen=True)
class IngestOutcome:
    """What happened to one landing file."""

    path: str
    status: str  # ingested | duplicate | rejected | skipped
    rows_read: int = 0
    rows_inserted: int = 0
    rows_already_present: int = 0
    rows_rejected: int = 0
    error: str | None = None
    error_line: int | None = None

    @classmethod
    def ingested(cls, path: Path, read: int, rejected: int, inserted: int) -> IngestOutcome:
        """A merged file: the rows neither rejected nor inserted were already in history."""
        return cls(
            str(path),
            "ingested",
            rows_read=read,
            rows_inserted=inserted,
            rows_already_present=read - rejected - inserted,
            rows_rejected=rejected,
        )


def known_file(conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, sha: str) -> str | None:
    """'skipped' when this exact file was handled before, 'duplicate' when its bytes were."""
    rows = conn.execute(
        f"select path, status from {LEDGER} where entity = ? and sha256 = ?", [ent.name, sha]
    ).fetchall()
    accepted = [p for p, s in rows if s in LEDGER_ACCEPTED]
    if str(path) in accepted:
        return "skipped"
    if accepted:
        return "duplicate"
    return None  # new bytes, or bytes rejected before: read (and reject) again, with a report


def record_outcome(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    path: Path,
    sha: str,
    outcome: IngestOutcome,
    run_id: str | None,
    now: dt.datetime,
    ingest_id: int | None = None,
) -> None:
    stat = path.stat()
    if ingest_id is None:
        ingest_id = next_ingest_id(conn)
    conn.execute(
        f"insert into {LEDGER} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ingest_id,
            ent.name,
            str(path),
            path.name,
            stat.st_size,
            dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None),
            sha,
            outcome.status,
            outcome.rows_read,
            outcome.rows_inserted,
            outcome.rows_already_present,
            outcome.rows_rejected,
            outcome.error,
            outcome.error_line,
            run_id,
            now,
        ],
    )


def next_ingest_id(conn: duckdb.DuckDBPyConnection) -> int:
    return int(conn.execute("select nextval('meta.ingest_id_seq')").fetchone()[0])


# The ingest transformation, written once (DuckDB SQL; the Spark engine transpiles it).


def stage_sql(ent: Entity, source: str) -> str:
    """Each delivered row with its parsed version time and, if unusable, why.

    `source` yields the entity's columns as text plus `_source_row` (1-based file row).
    """
    key = q(ent.key)
    ts = "try_cast(modified_at as timestamp)"
    return f"""select *, {ts} as _ts,
          case when {key} is null or trim({key}) = ''
                 then 'key_missing: {ent.key} is empty'
               when {ts} is null
                 then 'modified_at_invalid: '
                   || coalesce('"' || modified_at || '"', 'empty')
                   || ' is not a timestamp'
          end as _reason
        from {source}"""


def stage_stats_sql(ent: Entity) -> str:
    """Rows read, rejected, distinct usable versions and the key range of `_stage`."""
    key = q(ent.key)
    return (
        f"select count(*), count(_reason), count(distinct ({key}, _ts)) filter "
        f"(where _reason is null), min({key}), max({key}) from _stage"
    )


def ingest_rejects_select_sql(ent: Entity) -> str:
    """Unversionable rows of `_stage` for the ingest quarantine; params: file, now."""
    cols = ", ".join(q(c) for c in ent.column_names)
    return (
        f"select {cols}, cast(? as varchar) as _source_file, _source_row, _reason, "
        "cast(? as timestamp) as _rejected_at from _stage where _reason is not null"
    )


def new_versions_sql(ent: Entity, first_only: bool) -> str:
    """Versions of `_stage` not yet in raw history: the seed's merge as an anti-join.

    Params: file, now, batch id, lowest and highest key of the file. The key range lets
    DuckDB skip raw row groups (zone maps) that cannot match. A file that repeats a
    (key, modified_at) keeps its first row, as the seed's merge would; the window that
    finds it only runs when there is a repeat (`first_only`).
    """
    key = q(ent.key)
    cols = ", ".join(q(c) for c in ent.column_names)
    # A subquery filter rather than QUALIFY, which Spark 3.5 and 4.0 do not have.
    first = (
        f", row_number() over (partition by {key}, _ts order by _source_row) as _nth"
        if first_only
        else ""
    )
    return f"""select {cols}, _ts as _modified_ts, cast(? as varchar) as _source_file,
          _source_row, cast(? as timestamp) as _ingested_at, cast(? as bigint) as _batch_id
        from (
          select s.*{first}
          from _stage s
          where _reason is null
            and not exists (
              select 1 from {raw_table(ent)} r
              where r.{key} between ? and ?
                and r.{key} = s.{key} and r._modified_ts = s._ts)
        ) as fresh
        {"where _nth = 1" if first_only else ""}"""


def ledger_precheck(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, run_id: str | None
) -> tuple[Path, str, dt.datetime, IngestOutcome | None]:
    """Resolve and hash the file and look it up in the ledger (either engine's).

    Returns the resolved path, its sha256, the ingestion time, and an outcome when there
    is nothing to read: the same file again (skipped) or its bytes under another name
    (a duplicate, recorded).
    """
    path = path.resolve()
    sha = sha256_of(path)
    known = known_file(conn, ent, path, sha)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if known == "skipped":
        return path, sha, now, IngestOutcome(str(path), "skipped")
    if known == "duplicate":
        outcome = IngestOutcome(
            str(path), "duplicate", error="same bytes as a file already ingested"
        )
        record_outcome(conn, ent, path, sha, outcome, run_id, now)
        return path, sha, now, outcome
    return path, sha, now, None


def ingest_file(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, run_id: str | None = None
) -> IngestOutcome:
    """Merge one landing file into raw.<entity>, atomically; never raises for bad input."""
    ensure_tables(conn, ent)
    path, sha, now, done = ledger_precheck(conn, ent, path, run_id)
    if done:
        return done

    cols = ", ".join(q(c) for c in ent.column_names)
    conn.execute("begin transaction")
    try:
        batch = next_ingest_id(conn)
        layout = file_layout(conn, ent, path)
        select_sql, params = relation_sql(layout)
        source = (
            f"(select *, row_number() over () as _source_row from ({select_sql}) as src({cols}))"
        )
        try:
            conn.execute(f"create or replace temp table _stage as {stage_sql(ent, source)}", params)
        except duckdb.Error as exc:
            raise explain_read_error(path, exc) from exc
        rows_read, rows_rejected, distinct_versions, low, high = conn.execute(
            stage_stats_sql(ent)
        ).fetchone()
        conn.execute(
            f"insert into {ingest_rejects_table(ent)} {ingest_rejects_select_sql(ent)}",
            [str(path), now],
        )
        inserted = conn.execute(
            f"insert into {raw_table(ent)} ({cols}, {', '.join(AUDIT_COLUMNS)}) "
            + new_versions_sql(ent, first_only=distinct_versions < rows_read - rows_rejected),
            [str(path), now, batch, low, high],
        ).fetchone()[0]
        outcome = IngestOutcome.ingested(path, rows_read, rows_rejected, inserted)
        record_outcome(conn, ent, path, sha, outcome, run_id, now, ingest_id=batch)
        conn.execute("commit")
    except LandingFileError as err:
        conn.execute("rollback")
        outcome = IngestOutcome(str(path), "rejected", error=err.reason, error_line=err.line)
        record_outcome(conn, ent, path, sha, outcome, run_id, now)
    except BaseException:
        conn.execute("rollback")
        raise
    finally:
        conn.execute("drop table if exists _stage")
    return outcome
