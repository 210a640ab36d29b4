"""The DuckDB engine: the raw, mastered and regional steps on the warehouse's DuckDB file.

Each call opens the file for one unit of work (`duckdb_file.open_file`: waits for another
process's lock, explains disk and memory errors) and closes it. Ingest merges the new
files of an entity in one statement per batch of bounded size (the batch SQL of
`raw_history`), file by file when that fails; mastering is incremental
(`mastering.build_mastered`); partitions are written by `regional.write_partitions`,
table and Hive Parquet in one step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from fs_assets.engines.base import MasteredBuild, RawIngest, RegionReader
from fs_assets.model.columns import Entity
from fs_assets.model.keys import (
    MARTS_SCHEMA,
    history_table,
    ingest_rejects_table,
    mart_table,
    mastered_table,
    pending_table,
    raw_table,
    rejects_table,
)
from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import DuckDBFile, open_file, table_exists, transaction
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.governance.views import create_view, governed_table
from fs_assets.transforms.landing_files import (
    BatchFallback,
    PendingFile,
    explain_read_error,
    relation_sql,
)
from fs_assets.transforms.mastering import build_mastered
from fs_assets.transforms.raw_history import (
    AUDIT_COLUMNS,
    BATCH_STATS_SQL,
    FRESH_STATS_SQL,
    IngestOutcome,
    batch_fresh_sql,
    batch_rejects_select_sql,
    cross_file_conflicts_sql,
    ensure_tables,
    held_versions_sql,
    merge_planned,
    next_ingest_id,
    numbered_source_sql,
    plan_ingest,
    raw_counts_sql,
    record_ingested,
    reject_file,
    repeats_sql,
    stage_fresh_sql,
    stage_params,
    stage_sql,
)

if TYPE_CHECKING:
    from fs_assets.identity.backend import DuckDBIdentity
    from fs_assets.transforms.marts.page_data import PageData

# --- raw: the batch merge -----------------------------------------------------------------


_TEMP_TABLES = ("_stage_rows", "_files", "_held", "_fresh")
# At most this many bytes of landing files are merged by one statement, in one
# transaction; more new files are merged in consecutive batches of this size. The stage
# holds every row of its batch: at 10M customers (100 transaction files, 14 GB of CSV) one
# statement staged all 100M rows and spilled 20 GB under a 4 GB memory limit. A 1 GiB
# batch stages about 7M transactions, which fits that limit.
BATCH_MAX_BYTES = 1 << 30
# The batch's files, one row each. The staged rows keep only their file's order (`_ord`);
# `_stage`, what the batch SQL reads, is a view joining them to their file's path, time
# and ingest id, so the stage does not hold those per row: at 1M customers (10M
# transactions, ten files) they were ~0.9 GB of a stage that spilled past the 2 GB limit.
_FILES_SQL = (
    "create or replace temp table _files "
    "(_ord integer primary key, _path varchar, _now timestamp, _batch_id bigint)"
)
_STAGE_VIEW_SQL = (
    "create or replace temp view _stage as select s.*, f._path, f._now, f._batch_id "
    "from _stage_rows s left join _files f on f._ord = s._ord"
)


def _merge(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    files: list[PendingFile],
    run_id: str | None,
) -> dict[int, IngestOutcome]:
    """Merge `files` (one layout) into raw in one transaction, with their ledger rows.

    A file that cannot be read raises LandingFileError when it is alone, BatchFallback
    when it is one of several (nothing is kept: the caller merges them one by one).
    """
    batch = len(files) > 1
    cols = ", ".join(q(c) for c in ent.column_names)
    control = any(f.layout.may_hold_control for f in files)
    try:
        with transaction(conn):
            ids = [next_ingest_id(conn) for _ in files]
            select_sql, params = relation_sql(files[0].layout, [f.path for f in files])
            entries = [
                (str(f.path), n, f.now, i) for n, (f, i) in enumerate(zip(files, ids, strict=True))
            ]
            try:
                conn.execute(
                    "create or replace temp table _stage_rows as select * exclude "
                    "(_path, _now, _batch_id) from ("
                    + stage_sql(ent, numbered_source_sql(ent, select_sql, len(files)), control)
                    + ")",
                    stage_params(ent, control) + params + [v for e in entries for v in e],
                )
            except duckdb.OutOfMemoryException:
                raise  # not the file's fault: the warehouse resource explains it
            except duckdb.Error as exc:
                if batch:
                    raise BatchFallback(str(exc)) from exc
                raise explain_read_error(files[0].path, exc) from exc
            conn.execute(_FILES_SQL)
            conn.execute(
                "insert into _files values " + ", ".join(["(?, ?, ?, ?)"] * len(entries)),
                [v for path, n, now, i in entries for v in (n, path, now, i)],
            )
            conn.execute(_STAGE_VIEW_SQL)
            stats = {o: (r, j) for o, r, j in conn.execute(BATCH_STATS_SQL).fetchall()}
            if None in stats:
                raise RuntimeError(  # DuckDB named a file otherwise than it was given
                    f"rows of {[str(f.path) for f in files]} could not be matched to their file"
                )
            conn.execute(f"insert into {ingest_rejects_table(ent)} {batch_rejects_select_sql(ent)}")
            conn.execute("create or replace temp table _held as " + held_versions_sql(ent))
            usable, versions = conn.execute(repeats_sql(ent)).fetchone()
            repeats = versions < usable
            if batch and repeats and conn.execute(cross_file_conflicts_sql(ent)).fetchone()[0]:
                raise BatchFallback("two files deliver one version with different contents")
            audit = ", ".join(AUDIT_COLUMNS)
            (held,) = conn.execute("select count(*) from _held").fetchall()[0]
            if not held and not repeats:
                # Every usable row is a new version (raw holds none of the batch's (key, time)
                # pairs and no pair repeats), the usual case: no anti-join and no copy of the
                # batch; _stage is in landing order already (files in order, rows as read).
                fresh = {o: (read - rejected, 0) for o, (read, rejected) in stats.items()}
                conn.execute(
                    f"insert into {raw_table(ent)} ({cols}, {audit}) {stage_fresh_sql(ent)}"
                )
            else:
                conn.execute(
                    "create or replace temp table _fresh as " + batch_fresh_sql(ent, repeats)
                )
                fresh = {o: (n, c) for o, n, c in conn.execute(FRESH_STATS_SQL).fetchall()}
                conn.execute(
                    f"insert into {raw_table(ent)} ({cols}, {audit}) "
                    f"select {cols}, {audit} from _fresh order by _batch_id, _source_row"
                )
            outcomes = record_ingested(conn, ent, files, ids, stats, fresh, run_id)
        return outcomes
    finally:
        conn.execute("drop view if exists _stage")
        for table in _TEMP_TABLES:
            conn.execute(f"drop table if exists {table}")


def ingest_files(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    paths: Sequence[Path],
    run_id: str | None = None,
) -> list[IngestOutcome]:
    """Merge new landing files into raw.<entity>; one outcome per path, in order.

    Files already in the ledger are skipped (or recorded as duplicates), symlinks and
    files whose header, bytes or types are wrong are rejected, one by one. The others are
    merged in one transaction per layout and batch of at most BATCH_MAX_BYTES, read by
    one statement: all their rows and ledger rows, or none. When that statement fails (a
    file with bad quoting) or two files deliver one version with different contents, the
    files are merged one by one, so a bad file is rejected alone and the good ones land.
    Never raises for bad input.
    """
    ensure_tables(conn, ent)
    plan = plan_ingest(conn, ent, paths, run_id)
    outcomes = merge_planned(
        plan,
        lambda files: _merge(conn, ent, files, run_id),
        lambda f, err: reject_file(conn, ent, f.path, f.sha, f.now, err, run_id),
        max_bytes=BATCH_MAX_BYTES,
    )
    for index in plan.twins:  # its twin is in the ledger now: a duplicate, or read again
        outcomes[index] = ingest_files(conn, ent, [paths[index]], run_id)[0]
    return [outcomes[i] for i in range(len(paths))]


def ingest_file(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, run_id: str | None = None
) -> IngestOutcome:
    """Merge one landing file into raw.<entity>, atomically; never raises for bad input."""
    return ingest_files(conn, ent, [path], run_id)[0]


# --- the engine ---------------------------------------------------------------------------


def mastered_counts(conn: duckdb.DuckDBPyConnection, ent: Entity) -> tuple[int, ...]:
    """Rows of mastered, rejects, pending corrections (and their keys) and history."""
    return conn.execute(
        f"select (select count(*) from {mastered_table(ent)}),"
        f" (select count(*) from {rejects_table(ent)}),"
        f" (select count(*) from {pending_table(ent)}),"
        f" (select count(distinct {q(ent.key)}) from {pending_table(ent)}),"
        f" (select count(*) from {history_table(ent)})"
    ).fetchone()


class DuckDBEngine:
    """The `Engine` on the DuckDB file; `export_dir` holds the Hive Parquet layout."""

    name = "duckdb"
    marts_in_place = True  # the features' incremental plan rewrites changed rows

    def __init__(self, file: DuckDBFile, export_dir: Path) -> None:
        self.file = file
        self.export_dir = export_dir

    def ingest(self, ent: Entity, paths: Sequence[Path], run_id: str | None) -> RawIngest:
        with open_file(self.file) as conn:
            outcomes = ingest_files(conn, ent, list(paths), run_id)
            rows, keys = conn.execute(raw_counts_sql(ent)).fetchone()
        return RawIngest(outcomes, rows, keys)

    def master(self, ent: Entity, *, full_refresh: bool, reporting_currency: str) -> MasteredBuild:
        with open_file(self.file) as conn:
            stats = build_mastered(
                conn, ent, full_refresh=full_refresh, reporting_currency=reporting_currency
            )
            return MasteredBuild(stats, *mastered_counts(conn, ent))

    def write_partitions(
        self, pairs: list[tuple[str, str]], landing: Path | None
    ) -> dict[tuple[str, str], int]:
        # Its Dagster-free part moves to the transforms layer in the layout step.
        from fs_assets.transforms.regional import partition_key, write_partitions

        with open_file(self.file) as conn:
            written = write_partitions(conn, self.export_dir, pairs, landing)
        return {(c, s): written[partition_key(c, s)] for c, s in pairs}

    @contextmanager
    def for_checks(
        self, tables: Iterable[tuple[str, str]] = ()
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file, read-only (every table is there: `tables` is not needed)."""
        with open_file(self.file, read_only=True) as conn:
            yield conn

    @contextmanager
    def for_region_checks(self) -> Iterator[RegionReader]:
        """The file, read-only; the Hive folders are a second copy, checked apart."""
        with open_file(self.file, read_only=True) as conn:
            exists = table_exists(conn, "mastered", "customer_by_region")
            yield RegionReader(conn, region_exists=exists, hive_is_table=False)

    def write_governed(self, name: str, select_sql: str, key: MaskingKey) -> int:
        """A view in the file (read with the key in the session); its row count now."""
        with open_file(self.file) as conn:
            key.apply(conn)
            create_view(conn, name, select_sql)
            return int(conn.execute(f"select count(*) from {governed_table(name)}").fetchone()[0])

    def build_mart(self, name: str, create_sql: str, params: Sequence[object]) -> int:
        """The statement run as it is, in one write connection; the table's rows."""
        with open_file(self.file) as conn:
            conn.execute(f"create schema if not exists {MARTS_SCHEMA}")
            conn.execute(create_sql, list(params))
            return int(conn.execute(f"select count(*) from {mart_table(name)}").fetchall()[0][0])

    @contextmanager
    def reading(self, key: MaskingKey | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The file, read-only, with the masking key set when given."""
        with open_file(self.file, read_only=True) as conn:
            if key is not None:
                key.apply(conn)
            yield conn

    def present(self, tables: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        if not self.file.path.exists():  # no file yet: no table (read-only cannot create it)
            return set()
        with open_file(self.file, read_only=True) as conn:
            return {(s, n) for s, n in tables if table_exists(conn, s, n)}

    def pages_data(self, slugs: Sequence[str], key: MaskingKey) -> Iterator[tuple[str, PageData]]:
        """Each page's cubes and customer list, read with the key (the governed view's
        token), on one read-only connection; what the pages share read once."""
        from fs_assets.transforms.marts.page_data import pages_data

        with self.reading(key) as conn:
            yield from pages_data(conn, slugs)

    @contextmanager
    def identity(self) -> Iterator[DuckDBIdentity]:
        """Everything in the warehouse file (identity/backend.py)."""
        from fs_assets.identity.backend import DuckDBIdentity  # Splink: its steps only

        with open_file(self.file) as con:
            yield DuckDBIdentity(con)

    def close(self) -> None:
        """Nothing to release: every call opened and closed its own connection."""
