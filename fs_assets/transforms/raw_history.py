"""The raw layer's SQL: an append-only history of every version the sources delivered.

Engine-neutral builders and the ingest ledger, used by both engines: the DuckDB engine
(`engines/duckdb_engine.py`) reads the new files of an entity by one statement and merges
them in one transaction (per layout, and per batch of bounded size), file by file when
that statement fails; the Spark engine (`engines/spark_ingest.py`) does the same, one
Spark job per layout. The seed's merge rule
`old.key = new.key AND old.modified_at = new.modified_at WHEN NOT MATCHED THEN INSERT *`
is a set-based anti-join, so re-ingesting the same rows adds nothing. The ledger of
ingested files (path, size, sha256, rows, status) makes re-ingesting a known file a no-op
before any row is read.

Rows that cannot be versioned at all (no key, or a modified_at that is not a timestamp),
and rows with a control character (NUL and the like; tab and line breaks are kept) in any
field, go to `quarantine.<entity>_ingest_rejects` with the reason (naming the column), the
file and the row number.

Same-timestamp corrections: a row with the (key, modified_at) of a stored version but
different content is a correction; it is stored (a later batch wins at mastering) and
counted. A row identical to a stored version adds nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.model.columns import Entity
from fs_assets.model.keys import LEDGER, LEDGER_ACCEPTED, ingest_rejects_table, raw_table
from fs_assets.model.rules import is_blank_sql, q
from fs_assets.transforms.landing_files import (
    CONTROL_CHARACTERS,
    BatchFallback,
    FileBytes,
    LandingFileError,
    PendingFile,
    batch_key,
    file_layout,
    hash_and_scan,
    is_text_file,
)

VERSION_COLUMN = "modified_at"  # with the key, it identifies one version
AUDIT_COLUMNS = ("_modified_ts", "_source_file", "_source_row", "_ingested_at", "_batch_id")


def raw_counts_sql(ent: Entity) -> str:
    """Rows and distinct keys of raw.<entity>."""
    return f"select count(*), count(distinct {q(ent.key)}) from {raw_table(ent)}"


def ensure_ledger(conn: duckdb.DuckDBPyConnection) -> None:
    """The ledger of landing files and its id sequence (also the Spark engine's ledger)."""
    conn.execute("create sequence if not exists meta.ingest_id_seq")
    conn.execute(
        f"""create table if not exists {LEDGER} (
            ingest_id bigint primary key, entity varchar, path varchar, file_name varchar,
            size_bytes bigint, mtime timestamp, sha256 varchar, status varchar,
            rows_read bigint, rows_inserted bigint, rows_already_present bigint,
            rows_rejected bigint, error varchar, error_line bigint, run_id varchar,
            ingested_at timestamp, file_identity varchar)"""
    )
    # Ledgers written before file_identity existed gain it (NULL: such a file is hashed).
    conn.execute(f"alter table {LEDGER} add column if not exists file_identity varchar")


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
    # Inserted rows that correct a stored version with the same (key, modified_at).
    rows_corrected: int = 0

    @classmethod
    def ingested(
        cls, path: Path, read: int, rejected: int, inserted: int, corrected: int = 0
    ) -> IngestOutcome:
        """A merged file: the rows neither rejected nor inserted were already in history."""
        return cls(
            str(path),
            "ingested",
            rows_read=read,
            rows_inserted=inserted,
            rows_already_present=read - rejected - inserted,
            rows_rejected=rejected,
            rows_corrected=corrected,
        )


def file_identity(path: Path) -> str:
    """Device, inode, size, mtime and ctime (ns) of `path` itself (a link is not followed).

    Any write to the file, or another file put in its place, changes it: the ctime and
    inode cannot be set by a copy tool (`cp -p` and `rsync -t` keep the mtime, never the
    ctime), so a file with the identity the ledger recorded has the bytes it hashed then.
    """
    st = path.lstat()
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def identity_size_mtime(identity: str) -> tuple[int, dt.datetime]:
    """The size and mtime (UTC) a `file_identity` was taken with."""
    _, _, size, mtime_ns, _ = identity.split(":")
    return int(size), dt.datetime.fromtimestamp(int(mtime_ns) / 1e9, dt.UTC).replace(tzinfo=None)


# Why a file that was listed for this run is rejected without a row read: it was removed or
# renamed (an archiving job, a producer taking it back) before or while the run read it.
VANISHED = (
    "the file was removed or moved while this run read it: nothing of it was ingested; "
    "land it again (the same bytes are read again) if it was not meant to go"
)


def ingested_as(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, identity: str
) -> str | None:
    """The sha256 the ledger accepted `path` with while it had `identity`; None if none."""
    row = conn.execute(
        f"select sha256 from {LEDGER} where entity = ? and path = ? and file_identity = ? "
        "and list_contains(?, status) limit 1",
        [ent.name, str(path), identity, list(LEDGER_ACCEPTED)],
    ).fetchone()
    return None if row is None else str(row[0])


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
    sha: str | None,
    outcome: IngestOutcome,
    run_id: str | None,
    now: dt.datetime,
    ingest_id: int | None = None,
    identity: str | None = None,
) -> None:
    """One ledger row. `identity`: the file's identity taken before its bytes were hashed
    (None for a rejection): a later run skips the file unread only while it is unchanged
    since then, never on an identity taken after a write it did not read."""
    # The size and mtime the bytes were hashed with; else the file as it is (a refused
    # symlink itself, never followed), if it is still there.
    if identity is not None:
        size, mtime = identity_size_mtime(identity)
    else:
        try:
            stat = path.lstat()
            size = stat.st_size
            mtime = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None)
        except FileNotFoundError:
            size, mtime = None, None
    if ingest_id is None:
        ingest_id = next_ingest_id(conn)
    if outcome.status == "rejected":  # one row per rejected file, however often it is retried
        conn.execute(
            f"delete from {LEDGER} where entity = ? and path = ? and status = 'rejected' "
            "and sha256 is not distinct from ?",
            [ent.name, str(path), sha],
        )
    conn.execute(
        f"insert into {LEDGER} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ingest_id,
            ent.name,
            str(path),
            path.name,
            size,
            mtime,
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
            identity,
        ],
    )


def next_ingest_id(conn: duckdb.DuckDBPyConnection) -> int:
    return int(conn.execute("select nextval('meta.ingest_id_seq')").fetchone()[0])


# The ingest transformation (DuckDB SQL): `stage_sql` and the batch functions further
# down, run as they are by the DuckDB engine and transpiled by the Spark engine.


def stage_sql(ent: Entity, source: str, control: bool = True) -> str:
    """Each delivered row with its parsed version time and, if unusable, why.

    `source` yields the entity's columns as text plus `_source_row` (1-based file row).
    Its `?` parameters are `stage_params(ent, control)`, followed by those of `source`.
    `control=False` (the file's bytes hold no control character) skips the per-column
    control-character test.
    """
    key = q(ent.key)
    formatted = version_format(ent) is not None
    # A version time in a source's own layout is parsed (by a parameter) in a subquery.
    ts = "_ts" if formatted else "try_cast(modified_at as timestamp)"
    if formatted:
        source = f"(select *, try_strptime(trim(modified_at), ?) as _ts from {source})"
    control = "".join(
        f"""
               when regexp_matches({q(c)}, ?)
                 then 'control_character: {c} holds a control character (0x00-0x1f or 0x7f)'"""
        for c in (ent.column_names if control else ())
    )
    return f"""select *{"" if formatted else f", {ts} as _ts"},
          case when {key} is null or {is_blank_sql(key)}
                 then 'key_missing: {ent.key} is empty'
               when {ts} is null
                 then 'modified_at_invalid: '
                   || coalesce('"' || modified_at || '"', 'empty')
                   || ' is not a timestamp'{control}
          end as _reason
        from {source}"""


def version_format(ent: Entity) -> str | None:
    """The strptime layout of the entity's modified_at text; None: a timestamp cast."""
    return ent.column(VERSION_COLUMN).text_format


def stage_params(ent: Entity, control: bool = True) -> list[object]:
    """The parameters of `stage_sql`: the control-character pattern, once per column,
    then the version time's layout when it has one."""
    fmt = version_format(ent)
    return [CONTROL_CHARACTERS] * len(ent.column_names) * control + ([fmt] if fmt else [])


def refused_symlink(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, run_id: str | None
) -> IngestOutcome:
    """Record a symlink as rejected without following it: it may point anywhere."""
    path = path.absolute()
    target = os.readlink(path)
    outcome = IngestOutcome(
        str(path),
        "rejected",
        error=f"a symbolic link (to {target}) is not ingested: landing files must be "
        "regular files inside the landing folder; copy the file itself there",
    )
    sha = hashlib.sha256(f"symlink:{target}".encode()).hexdigest()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    record_outcome(conn, ent, path, sha, outcome, run_id, now)
    return outcome


def ledger_lookup(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, run_id: str | None
) -> tuple[Path, str, dt.datetime, IngestOutcome | None]:
    """Resolve the file, take its identity and look it up in the ledger (either engine's).

    Returns the resolved path, its identity (taken before its bytes are read), the
    ingestion time, and an outcome when there is nothing to read: a file the ledger
    accepted with its identity unchanged (`file_identity`) is skipped without reading it
    (a run reads the files that are new, not every file of the landing folder again), a
    file gone since it was listed is rejected.
    """
    path = path.parent.resolve() / path.name  # the folder may be a link; the file is not
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        identity = file_identity(path)
    except FileNotFoundError:  # listed for this run, gone before it was read
        return path, "", now, vanished(conn, ent, path, now, run_id)
    if ingested_as(conn, ent, path, identity) is not None:
        return path, identity, now, IngestOutcome(str(path), "skipped")
    return path, identity, now, None


def vanished(
    conn: duckdb.DuckDBPyConnection, ent: Entity, path: Path, now: dt.datetime, run_id: str | None
) -> IngestOutcome:
    """Record a file listed for this run and gone before its bytes were read."""
    return reject_file(conn, ent, path, None, now, LandingFileError(path, VANISHED), run_id)


def ledger_precheck(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    path: Path,
    sha: str,
    identity: str,
    now: dt.datetime,
    run_id: str | None,
) -> IngestOutcome | None:
    """Look the file's bytes (`sha`) up in the ledger: an outcome when there is nothing
    to read, the same file again (skipped) or its bytes under another name (a duplicate,
    recorded); None for bytes to read."""
    known = known_file(conn, ent, path, sha)
    if known == "skipped":
        # The same bytes with another identity (restored from a backup, copied again,
        # touched): remember this one, so the next run need not read the file.
        conn.execute(
            f"update {LEDGER} set file_identity = ? where entity = ? and path = ? "
            "and sha256 = ? and list_contains(?, status)",
            [identity, ent.name, str(path), sha, list(LEDGER_ACCEPTED)],
        )
        return IngestOutcome(str(path), "skipped")
    if known == "duplicate":
        outcome = IngestOutcome(
            str(path), "duplicate", error="same bytes as a file already ingested"
        )
        record_outcome(conn, ent, path, sha, outcome, run_id, now, identity=identity)
        return outcome
    return None


# Files whose bytes are read (hashed, and a CSV file scanned) at once while the ingest
# plans. hashlib releases the GIL while it hashes a block, so one reader hashes while the
# other scans: at 1M customers (1.4 GB of transaction CSV) the plan took 3.0-4.0 s with two
# passes per file one file after the other, 2.0-2.4 s so (both on a loaded machine). The
# database work of the plan stays on the caller's thread.
READERS = 2


@contextmanager
def read_ahead(paths: Sequence[Path]) -> Iterator[list[Future[FileBytes]]]:
    """Each file's `hash_and_scan`, started on READERS threads, in the order of `paths`.
    Leaving the block cancels the reads not started yet and waits for the others."""
    pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="landing-read")
    try:
        yield [pool.submit(hash_and_scan, p, is_text_file(p)) for p in paths]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def reject_file(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    path: Path,
    sha: str | None,
    now: dt.datetime,
    err: LandingFileError,
    run_id: str | None,
) -> IngestOutcome:
    """Record a landing file as rejected whole, with the reason and line of `err`."""
    outcome = IngestOutcome(str(path), "rejected", error=err.reason, error_line=err.line)
    record_outcome(conn, ent, path, sha, outcome, run_id, now)
    return outcome


@dataclass
class IngestPlan:
    """What `plan_ingest` settled and what is left to merge: outcomes by position in the
    caller's list, the new files grouped by layout (one merge each), and the positions of
    files with the same bytes as one before them in the call (ingested after it)."""

    outcomes: dict[int, IngestOutcome]
    groups: dict[tuple[object, ...], list[PendingFile]]
    twins: list[int]


def plan_ingest(
    conn: duckdb.DuckDBPyConnection, ent: Entity, paths: Sequence[Path], run_id: str | None
) -> IngestPlan:
    """Both engines' first step of a batch ingest: symlinks are refused without being
    followed, files already in the ledger skipped or recorded as duplicates, files whose
    header, bytes or types are wrong rejected (each recorded in the ledger), and the rest
    grouped by layout for one merge per group."""
    plan = IngestPlan({}, {}, [])
    listed: list[tuple[int, Path, str, dt.datetime]] = []
    for index, original in enumerate(paths):
        if original.is_symlink():
            plan.outcomes[index] = refused_symlink(conn, ent, original, run_id)
            continue
        path, identity, now, done = ledger_lookup(conn, ent, original, run_id)
        if done:
            plan.outcomes[index] = done
        else:
            listed.append((index, path, identity, now))
    shas: set[str] = set()
    with read_ahead([path for _, path, _, _ in listed]) as reads:
        for (index, path, identity, now), read in zip(listed, reads, strict=True):
            try:
                got = read.result()
            except FileNotFoundError:  # gone since it was listed, before it was read
                plan.outcomes[index] = vanished(conn, ent, path, now, run_id)
                continue
            sha = got.sha256
            done = ledger_precheck(conn, ent, path, sha, identity, now, run_id)
            if done:
                plan.outcomes[index] = done
            elif sha in shas:
                plan.twins.append(index)
            else:
                shas.add(sha)
                try:
                    layout = file_layout(conn, ent, path, got.text)
                except LandingFileError as err:
                    plan.outcomes[index] = reject_file(conn, ent, path, sha, now, err, run_id)
                    continue
                except FileNotFoundError:
                    err = LandingFileError(path, VANISHED)
                    plan.outcomes[index] = reject_file(conn, ent, path, sha, now, err, run_id)
                    continue
                plan.groups.setdefault(batch_key(layout), []).append(
                    PendingFile(index, path, sha, now, layout, identity)
                )
    return plan


def bounded_batches(files: list[PendingFile], max_bytes: int | None) -> list[list[PendingFile]]:
    """`files` (in landing order) cut into consecutive batches of at most `max_bytes` of
    landing files each (a larger file is a batch alone); None: one batch.

    Consecutive, so merging the batches one after the other gives each file the outcome
    it has in one batch: a later batch finds the earlier one's versions in raw.
    """
    if max_bytes is None:
        return [files]
    batches: list[list[PendingFile]] = []
    size = 0
    for f in files:
        # The size it was hashed with (the file may be gone by now: its read rejects it).
        file_size = identity_size_mtime(f.identity)[0] if f.identity else f.path.lstat().st_size
        if batches and size + file_size <= max_bytes:
            batches[-1].append(f)
            size += file_size
        else:
            batches.append([f])
            size = file_size
    return batches


def merge_planned(
    plan: IngestPlan,
    merge: Callable[[list[PendingFile]], dict[int, IngestOutcome]],
    reject: Callable[[PendingFile, LandingFileError], IngestOutcome],
    after_group: Callable[[], None] = lambda: None,
    max_bytes: int | None = None,
) -> dict[int, IngestOutcome]:
    """Both engines' merge of a plan's groups: each layout's files by one `merge` call per
    batch of at most `max_bytes` (`bounded_batches`); when it raises `BatchFallback` (a
    file with bad quoting, two files delivering one version with different contents), file
    by file, so a bad file is rejected alone (`reject`) and the good ones land.
    `after_group` runs after each batch (Spark lists its batches)."""

    def one(f: PendingFile) -> IngestOutcome:
        try:
            return merge([f])[f.index]
        except LandingFileError as err:
            # A read that failed because the file is gone says so, not the reader's error.
            return reject(f, err if os.path.lexists(f.path) else LandingFileError(f.path, VANISHED))

    outcomes = plan.outcomes
    batches = [b for group in plan.groups.values() for b in bounded_batches(group, max_bytes)]
    for files in batches:
        try:
            outcomes.update(merge(files) if len(files) > 1 else {files[0].index: one(files[0])})
        except BatchFallback:
            for f in files:
                outcomes[f.index] = one(f)
        after_group()
    return outcomes


def record_ingested(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    files: Sequence[PendingFile],
    ids: Sequence[int],
    read: Mapping[int, tuple[int, int]],
    added: Mapping[int, tuple[int, int]],
    run_id: str | None,
) -> dict[int, IngestOutcome]:
    """Both engines' ledger rows of a merged batch, in the merge's transaction: per file
    (by its order in the batch) the rows read and rejected (`read`) and inserted and
    corrected (`added`), under its ingest id; outcomes by the file's position in the call."""
    outcomes: dict[int, IngestOutcome] = {}
    for n, (f, ingest_id) in enumerate(zip(files, ids, strict=True)):
        rows, rejected = read.get(n, (0, 0))
        inserted, corrected = added.get(n, (0, 0))
        outcome = IngestOutcome.ingested(f.path, rows, rejected, inserted, corrected)
        record_outcome(conn, ent, f.path, f.sha, outcome, run_id, f.now, ingest_id, f.identity)
        outcomes[f.index] = outcome
    return outcomes


# The batch merge (every new file of an entity in one statement): its SQL, both engines.


def numbered_source_sql(ent: Entity, select_sql: str, files: int) -> str:
    """The files' rows (`relation_sql`: columns, file, row in the file) with each file's
    entry in the batch: path, order, ingestion time and ingest id, `files` rows of four
    `?` parameters, which follow those of `select_sql`."""
    cols = ", ".join(q(c) for c in ent.column_names)
    entries = ", ".join(
        ["(cast(? as varchar), cast(? as integer), cast(? as timestamp), cast(? as bigint))"]
        * files
    )
    return f"""(select n.* exclude (_file), b._ord, b._path, b._now, b._batch_id
        from ({select_sql}) as n({cols}, _file, _source_row)
        left join (values {entries}) as b(_path, _ord, _now, _batch_id) on b._path = n._file)"""


def batch_rejects_select_sql(ent: Entity) -> str:
    """Unversionable rows of `_stage` for the ingest quarantine, each with its own file."""
    cols = ", ".join(q(c) for c in ent.column_names)
    return (
        f"select {cols}, _path as _source_file, _source_row, _reason, _now as _rejected_at "
        "from _stage where _reason is not null"
    )


def held_versions_sql(ent: Entity) -> str:
    """The raw versions with a (key, modified_at) of the batch: all the merge compares.

    A semi-join on the batch's (key, time) pairs: DuckDB pushes them into the scan of raw
    (key range, Bloom filter, and none at all when every version in the batch is newer
    than raw's newest), so only the key and time columns are read in full and the other
    columns only for matching rows; the rest of the merge works on these few rows.
    """
    key = q(ent.key)
    cols = ", ".join(f"r.{q(c)}" for c in ent.column_names)
    return f"""select {cols}, r._modified_ts from {raw_table(ent)} r
        semi join (select {key}, _ts from _stage where _reason is null) s
          on r.{key} = s.{key} and r._modified_ts = s._ts"""


def candidates_sql(ent: Entity) -> str:
    """Usable rows of `_stage` whose content no held version with their (key, time) has."""
    key = q(ent.key)
    same = " and ".join(f"h.{q(c)} is not distinct from s.{q(c)}" for c in ent.column_names)
    return f"""select s.* from _stage s
        where s._reason is null
          and not exists (
            select 1 from _held h
            where h.{key} = s.{key} and h._modified_ts = s._ts and {same})"""


def cross_file_conflicts_sql(ent: Entity) -> str:
    """(key, time) pairs that two files of the batch deliver with different contents.

    Merged file by file, the later file's row would be a same-timestamp correction of the
    earlier file's; one statement cannot order that, so such a batch is merged file by file.
    """
    key = q(ent.key)
    content = ", ".join(q(c) for c in ent.column_names)
    return f"""select count(*) from (
          select 1 from ({candidates_sql(ent)}) c group by {key}, _ts
          having count(distinct _ord) > 1 and count(distinct ({content})) > 1)"""


def batch_fresh_sql(ent: Entity, first_only: bool) -> str:
    """New versions of the batch: per (key, time) the first candidate in landing order.

    The seed's merge, as a file-by-file merge would do it: a row repeated within the
    batch is inserted once, by the first file that has it; `_corrects` marks a new version
    whose (key, modified_at) raw already holds (a same-timestamp correction). The window
    that finds repeats only runs when the batch has any (`first_only`).
    """
    key = q(ent.key)
    cols = ", ".join(q(c) for c in ent.column_names)
    first = (
        f", row_number() over (partition by {key}, _ts order by _ord, _source_row) as _nth"
        if first_only
        else ""
    )
    return f"""select {cols}, _ts as _modified_ts, _path as _source_file, _source_row,
          _now as _ingested_at, _batch_id, _ord,
          exists (select 1 from _held h where h.{key} = c.{key} and h._modified_ts = c._ts)
            as _corrects
        from (select *{first} from ({candidates_sql(ent)}) s) c
        {"where _nth = 1" if first_only else ""}"""


def stage_fresh_sql(ent: Entity) -> str:
    """Usable rows of `_stage` as raw rows (the audit columns' order): the batch's new
    versions when none of them is held or repeated (see `batch_fresh_sql` otherwise)."""
    cols = ", ".join(q(c) for c in ent.column_names)
    return f"""select {cols}, _ts as _modified_ts, _path as _source_file, _source_row,
          _now as _ingested_at, _batch_id
        from _stage where _reason is null"""


BATCH_STATS_SQL = "select _ord, count(*), count(_reason) from _stage group by _ord"
# Per file of the batch: new versions, and how many of them correct a held version.
FRESH_STATS_SQL = (
    "select _ord, count(*), count(*) filter (where _corrects) from _fresh group by _ord"
)


def repeats_sql(ent: Entity) -> str:
    """Usable rows of `_stage` and their distinct (key, time) pairs: equal when no repeats."""
    return f"select count(*), count(distinct ({q(ent.key)}, _ts)) from _stage where _reason is null"
