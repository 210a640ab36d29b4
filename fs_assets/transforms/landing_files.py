"""Reading landing files safely: header contract, column-name cleansing, clear errors.

The seed's raw step runs `cleanse_column_names`, `change_column_case: lower` and drops the
pandas index column `_c0`. We do the same, but strictly: a file whose columns do not match
the entity model (schema drift), that is empty, badly quoted, has a row with the wrong
number of fields, bytes that are not UTF-8 (in any column) or, for a typed file, column
types that do not carry the model's values exactly is rejected as a whole, with the file
and line in the message, and nothing from it is ingested. File names are data: paths are
escaped before DuckDB or Hadoop could read them as glob patterns.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import errno
import glob
import hashlib
import io
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fs_assets.model.columns import Column, Entity

LANDING_SUFFIXES = (".csv", ".parquet")
# A file written to within SETTLE_S seconds may still be being copied: a run waits until it
# has been quiet that long, at most SETTLE_WAIT_S, and leaves a file still changing then
# for the next run. (The sensor asks for the same size and mtime on two ticks.)
SETTLE_S = 2.5
SETTLE_WAIT_S = 60.0
# Names a writer gives the unnamed index column: pandas '' (DuckDB reads it as column0),
# Spark '_c0', pandas re-read 'Unnamed: 0'.
INDEX_COLUMN_NAMES = frozenset({"", "column0", "c0", "unnamed_0", "index"})
_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]+")
# Characters Hadoop's path globbing reads as a pattern (Spark's readers); escaped.
HADOOP_GLOB_CHARS = frozenset("\\{}[]*?")
# Control characters refused in any text field (C0 and DEL). Tab, line feed and carriage
# return are legitimate inside quoted free text (a multi-line address) and are kept.
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_SCAN_CHUNK = 4 * 1024 * 1024


class LandingFileError(ValueError):
    """A landing file that cannot be ingested; says which file, which line and why."""

    def __init__(self, path: Path, reason: str, line: int | None = None) -> None:
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}" + (f", line {line}" if line else "")
        super().__init__(f"{where}: {reason}")


def cleanse_column_name(name: str) -> str:
    """'Cust First Name' -> 'cust_first_name'; 'Mobile Number1' -> 'mobile_number1'."""
    return _NON_ALNUM.sub("_", name.strip()).strip("_").lower()


class LandingFolderError(RuntimeError):
    """The landing folder itself cannot be used (read-only, missing); says what to do."""


def is_landing_file(path: Path) -> bool:
    """Data files only: regular files (not symlinks), no hidden or temporary files."""
    return (
        not path.is_symlink()
        and path.is_file()
        and not path.name.startswith((".", "_"))
        and path.suffix.lower() in LANDING_SUFFIXES
    )


@dataclass(frozen=True)
class LandingListing:
    """One entity folder: data files to ingest, symlinks to refuse, sub-folders to name.

    Only regular files directly in `landing/<entity>/` are ingested. A symbolic link with
    a data suffix is refused with a report (it may point anywhere, outside the landing
    zone too); a sub-folder is not descended into and is named in a warning. Names that
    start with '.' or '_' (temporary files, markers) are not looked at.
    """

    files: list[Path] = field(default_factory=list)
    symlinks: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)


def list_landing(folder: Path) -> LandingListing:
    """Classify the entries of one landing folder, names sorted (landing order)."""
    listing = LandingListing()
    if not folder.is_dir():
        return listing
    for path in sorted(folder.iterdir()):
        if path.name.startswith((".", "_")):
            continue
        if path.is_symlink():
            if path.suffix.lower() in LANDING_SUFFIXES:
                listing.symlinks.append(path)
        elif path.is_dir():
            listing.folders.append(path)
        elif is_landing_file(path):
            listing.files.append(path)
    return listing


@dataclass(frozen=True)
class Settled:
    """`wait_until_settled`'s answer: files quiet for the settle time, files still being
    written when the wait ended, files that went away while waited for."""

    ready: list[Path]
    changing: list[Path]
    gone: list[Path]


def wait_until_settled(
    paths: Sequence[Path], settle_s: float = SETTLE_S, max_wait_s: float = SETTLE_WAIT_S
) -> Settled:
    """Wait until every file has not been written to for `settle_s` seconds (its mtime that
    old), at most `max_wait_s` in all; a file cut mid-copy is never read as if whole.
    Symbolic links are not followed: they are ready at once (they are refused anyway)."""
    deadline = time.monotonic() + max_wait_s
    pending = {p: -1 for p in paths if not p.is_symlink()}
    ready = [p for p in paths if p.is_symlink()]
    gone: list[Path] = []
    while pending:
        now = time.time()
        for path in list(pending):
            try:
                mtime = path.stat().st_mtime
            except FileNotFoundError:
                gone.append(path)
                del pending[path]
                continue
            if now - mtime >= settle_s:
                ready.append(path)
                del pending[path]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
    order = {p: i for i, p in enumerate(paths)}
    return Settled(sorted(ready, key=order.__getitem__), list(pending), gone)


def duckdb_literal_path(path: Path) -> str:
    """The path as DuckDB's file readers must see it to read exactly this one file.

    DuckDB globs the path of read_csv/read_parquet; each glob character is escaped as a
    one-character class ('[' -> '[[]', '*' -> '[*]'), so `cust[1].csv` cannot read
    `cust1.csv` and `g*.csv` cannot read `gz.csv` (tests/test_landing_faults.py).
    """
    return glob.escape(str(path))


def hadoop_literal_path(path: Path | str) -> str:
    """The path with Hadoop's glob characters backslash-escaped, for Spark's readers."""
    return "".join("\\" + ch if ch in HADOOP_GLOB_CHARS else ch for ch in str(path))


def check_writable(folder: Path, role: str = "landing folder") -> None:
    """Fail with what to do when files cannot be created in (or moved out of) `folder`."""
    probe = folder / f".fs-accelerator-probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise LandingFolderError(
            f"the {role} {folder} is not writable ({exc.strerror or exc}). "
            "The raw asset moves rejected files out of it and needs write access: make it "
            "writable (chmod u+w, or remount it read-write) and run again. Nothing was "
            "ingested and nothing was recorded."
        ) from exc


def move_file(src: Path, dst: Path) -> Path:
    """Move `src` to `dst`, also across mounts (copy, fsync, atomic rename, then delete).

    A rename is tried first; across file systems (EXDEV) the bytes are copied to a hidden
    temporary name beside `dst`, flushed, renamed into place and only then is `src`
    removed, so a crash leaves the file in one place or both, never in none.
    """
    try:
        os.replace(src, dst)
        return dst
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        if src.is_symlink():
            os.symlink(os.readlink(src), tmp)
        else:
            with src.open("rb") as reader, tmp.open("wb") as writer:
                shutil.copyfileobj(reader, writer, _SCAN_CHUNK)
                writer.flush()
                os.fsync(writer.fileno())
            shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(dst.parent)
    src.unlink()
    return dst


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class TextScan:
    """What one pass over a text file's bytes found."""

    invalid: tuple[int, str] | None  # (line, reason) of the first bytes that are not UTF-8
    has_control: bool  # a control byte somewhere: rows must be checked column by column


def scan_text(path: Path) -> TextScan:
    """Check every byte of the file for UTF-8 and look for control characters.

    Every byte is checked, also those of columns that are not ingested (an index column),
    so a file is rejected whole however its bad bytes are placed. Control bytes are only
    detected here (cheaply); the rows holding them are found per column in SQL, and only
    when there are any.
    """
    scan = hash_and_scan(path, text=True).text
    assert scan is not None
    return scan


@dataclass(frozen=True)
class FileBytes:
    """What one pass over a landing file's bytes found: its sha256 and, for a text file,
    the UTF-8 and control-character scan (`scan_text`); None for a typed file."""

    sha256: str
    text: TextScan | None


def hash_and_scan(path: Path, text: bool, chunk: int = _SCAN_CHUNK) -> FileBytes:
    """The file's sha256 and (`text`) its `scan_text`, from one read of its bytes.

    One pass, so the hash and the scan are of the same bytes. hashlib releases the GIL
    while it hashes a block, so two files read by two threads (`read_ahead`) hash and scan
    at once. A block of ASCII bytes with no sequence left open by the block before is
    valid UTF-8 as it is: it is not decoded (10x faster, most landing files).
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    has_control = invalid = False
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            if not text or invalid:
                continue
            try:
                if not (block.isascii() and not decoder.getstate()[0]):
                    decoder.decode(block)
            except UnicodeDecodeError:
                invalid = True  # the file is rejected: its line is found below
            has_control = has_control or len(block.translate(None, _CONTROL_BYTES)) < len(block)
    if not text:
        return FileBytes(digest.hexdigest(), None)
    if not invalid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            invalid = True
    found = first_invalid_utf8(path) if invalid else None
    return FileBytes(digest.hexdigest(), TextScan(found, has_control))


def first_invalid_utf8(path: Path) -> tuple[int, str] | None:
    """(line, reason) of the first bytes that are not UTF-8; None if all are.

    A line feed byte never occurs inside a multi-byte UTF-8 sequence, so the line is exact.
    """
    with path.open("rb") as handle:
        handle.seek(0)
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[exc.start : exc.end].hex(" ")
                return number, f"bytes that are not UTF-8 (0x{bad}) at byte {exc.start + 1}"
    return None  # pragma: no cover - the incremental decoder found an error above


def sha256_of(path: Path) -> str:
    return hash_and_scan(path, text=False).sha256


@dataclass(frozen=True)
class FileLayout:
    """How a landing file's columns map onto the entity's columns."""

    path: Path
    fmt: str
    # Position (0-based) in the file of each entity column, in entity column order.
    positions: tuple[int, ...]
    width: int
    # Per entity column: an integer-valued float is written as an integer ('839', not
    # '839.0'); only where the model allows it (Column.integral_float_ok).
    integral: tuple[bool, ...] = ()
    # Whether rows may hold control characters (a typed file is not scanned byte by byte).
    may_hold_control: bool = True
    # The file's column types as DuckDB reads them (all VARCHAR for CSV): files are read
    # in one statement only when their layouts, types included, are equal.
    types: tuple[str, ...] = ()


# Typed sources (Parquet): the physical types that carry a model type's values exactly.
# Text is always accepted: raw keeps text as delivered and mastering casts it.
INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)
FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE"})


@dataclass(frozen=True)
class PendingFile:
    """A new landing file of one ingest: hashed, looked up in the ledger, its header checked."""

    index: int  # position in the caller's list of files
    path: Path
    sha: str
    now: dt.datetime
    layout: FileLayout
    identity: str | None = None  # file_identity before it was hashed (raw_history)


class BatchFallback(Exception):
    """The files cannot be merged in one statement: merge them one by one."""


def accepted_source_type(col: Column, source_type: str) -> bool:
    """Whether a typed file's column type carries `col`'s values exactly, as text would."""
    if source_type == "VARCHAR":
        return True
    if col.type in ("INTEGER", "BIGINT"):
        return source_type in INTEGER_TYPES or (
            col.integral_float_ok and source_type in FLOAT_TYPES
        )
    if col.type == "DOUBLE" or col.type.startswith("DECIMAL"):
        return (
            source_type in INTEGER_TYPES
            or source_type in FLOAT_TYPES
            or source_type.startswith("DECIMAL")
        )
    return source_type == col.type  # DATE and TIMESTAMP as themselves; VARCHAR text only


def _read_csv_header(path: Path) -> list[str]:
    if path.stat().st_size == 0:
        raise LandingFileError(path, "the file is empty (0 bytes); expected a header line")
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(path, f"header is not UTF-8 ({exc.reason})", line=1) from None
    try:
        return next(csv.reader(io.StringIO(text), strict=True))
    except (csv.Error, StopIteration) as exc:
        raise LandingFileError(path, f"unreadable header: {exc}", line=1) from None


def _parquet_columns(conn: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    """(name, DuckDB type) of each column of a Parquet file."""
    try:
        rows = conn.execute(
            "select column_name, column_type from (describe select * from read_parquet(?))",
            [duckdb_literal_path(path)],
        ).fetchall()
    except duckdb.Error as exc:
        raise LandingFileError(path, f"not a readable Parquet file: {exc}") from None
    return [(str(name), str(kind)) for name, kind in rows]


def _check_types(path: Path, entity: Entity, types: dict[str, str]) -> None:
    """Reject a typed file whose column types do not carry the model's values exactly."""
    wrong = [
        f"{c.name} is {types[c.name]}, the model's {c.name} is {c.type}"
        for c in entity.columns
        if not accepted_source_type(c, types[c.name])
    ]
    if wrong:
        raise LandingFileError(
            path,
            f"column types do not match the {entity.name} model: {'; '.join(wrong)}. "
            "Deliver these columns as text (or as the model's type), or allow the exact "
            "conversion for the column in the entity model.",
        )


def _header_positions(
    path: Path, entity: Entity, header: list[str]
) -> tuple[dict[str, int], list[str]]:
    """(entity column -> its position in the file, the file's columns it does not declare).

    A column the entity declares `delivered_as` is found by that exact header (a source's
    mapping names its columns, any text); any other by the header cleansed to its name,
    after an index column the writer may have added.
    """
    delivered = {c.delivered_as: c.name for c in entity.columns if c.delivered_as is not None}
    if delivered:
        names, start, how = [h.strip() for h in header], 0, ""
    else:
        cleansed = [cleanse_column_name(h) for h in header]
        start = 1 if cleansed and cleansed[0] in INDEX_COLUMN_NAMES else 0
        names, how = cleansed[start:], " after cleansing"
    seen: dict[str, int] = {}
    unexpected: list[str] = []
    for offset, name in enumerate(names):
        column = delivered.get(name) if delivered else name
        if column is None or column not in entity.column_names:
            unexpected.append(name)
            continue
        if column in seen:
            raise LandingFileError(
                path, f"column {name!r} appears twice in the header{how}", line=1
            )
        seen[column] = start + offset
    return seen, unexpected


def landing_format(path: Path) -> str:
    """A landing file's format, from its name: "csv" (text) or "parquet" (typed)."""
    return path.suffix.lower().lstrip(".")


def is_text_file(path: Path) -> bool:
    """A CSV file: its bytes are checked for UTF-8 and control characters."""
    return landing_format(path) == "csv"


def file_layout(
    conn: duckdb.DuckDBPyConnection, entity: Entity, path: Path, scan: TextScan | None = None
) -> FileLayout:
    """Check the file's header (and a typed file's types) against the entity model.

    A CSV file is also checked byte by byte for UTF-8, every column included (`scan`: the
    caller's `scan_text` of the file, when it read its bytes already).
    """
    fmt = landing_format(path)
    if fmt == "csv":
        header = _read_csv_header(path)
        types: list[str] = ["VARCHAR"] * len(header)
    else:
        described = _parquet_columns(conn, path)
        header, types = [n for n, _ in described], [t for _, t in described]
    seen, extra = _header_positions(path, entity, header)
    expected = entity.column_names
    missing = [c.delivered_as or c.name for c in entity.columns if c.name not in seen]
    unexpected = [] if entity.extra_columns_ok else extra
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing columns {missing}")
        if unexpected:
            parts.append(f"unexpected columns {unexpected}")
        raise LandingFileError(
            path,
            f"schema drift against the {entity.name} model: {'; '.join(parts)}. "
            "Fix the file, or change the entity model and its rules together.",
            line=1 if fmt == "csv" else None,
        )
    may_hold_control = True
    if fmt == "csv":
        scan = scan_text(path) if scan is None else scan
        if scan.invalid:
            raise LandingFileError(path, scan.invalid[1], line=scan.invalid[0])
        may_hold_control = scan.has_control
    else:
        _check_types(path, entity, {c: types[seen[c]] for c in expected})
    integral = tuple(
        types[seen[c.name]] in FLOAT_TYPES and c.integral_float_ok for c in entity.columns
    )
    positions = tuple(seen[c] for c in expected)
    return FileLayout(path, fmt, positions, len(header), integral, may_hold_control, tuple(types))


def batch_key(layout: FileLayout) -> tuple[object, ...]:
    """Files with equal keys can be read by one read_csv/read_parquet over their list."""
    return (layout.fmt, layout.positions, layout.width, layout.integral, layout.types)


def relation_sql(
    layout: FileLayout, paths: Sequence[Path] | None = None
) -> tuple[str, list[object]]:
    """SQL (with `?` parameters) selecting the entity's columns as text, the file's path
    (`filename`) and its row number (`_row`, 1-based, in file order).

    Reads the file of `layout`, or every file of `paths` (all with that layout's
    `batch_key`) in one statement: one reader per file, put together with UNION ALL.
    (One read_csv over the list of files was tried: DuckDB 2.0 then silently drops an
    unterminated quote on a file's last line when it reads several files in parallel,
    where a single-file read fails with the line; tests/test_raw_batch.py.) Columns are
    addressed by position, so header text from the file never becomes SQL; each path is
    a parameter, escaped, so a name is never read as a glob pattern.
    """
    if layout.fmt == "csv":
        # auto_detect off: the dialect is fixed, so DuckDB reports the offending line
        # instead of guessing another delimiter for a broken file.
        source = (
            "read_csv(?, auto_detect=false, header=true, delim=',', quote='\"', escape='\"',"
            " strict_mode=true, encoding='utf-8', columns=?)"
        )
        options: list[object] = [{f"c{i}": "VARCHAR" for i in range(layout.width)}]
    else:
        source = "read_parquet(?)"
        options = []
    integral = layout.integral or (False,) * len(layout.positions)
    picks = ", ".join(
        (
            f"case when #{pos + 1} = trunc(#{pos + 1}) "
            f"then cast(cast(#{pos + 1} as bigint) as varchar) else cast(#{pos + 1} as varchar) end"
            if whole
            else f"cast(#{pos + 1} as varchar)"
        )
        for pos, whole in zip(layout.positions, integral, strict=True)
    )
    branch = (
        f"select {picks}, cast(? as varchar) as filename, row_number() over () as _row "
        f"from {source}"
    )
    files = list(paths or [layout.path])
    params = [v for f in files for v in (str(f), duckdb_literal_path(f), *options)]
    return "\nunion all\n".join([branch] * len(files)), params


_LINE = re.compile(r"Line: (\d+)")
_REASONS = (
    "Expected Number of Columns",
    "unterminated quote",
    "Invalid unicode",
    "not utf-8",
    "quote",
)


def explain_read_error(path: Path, exc: duckdb.Error) -> LandingFileError:
    """Turn DuckDB's CSV error into file + line + a one-line reason."""
    text = str(exc)
    match = _LINE.search(text)
    line = int(match.group(1)) if match else None
    reason = next(
        (ln.strip() for ln in text.splitlines() if any(k in ln for k in _REASONS)),
        text.splitlines()[0] if text else type(exc).__name__,
    )
    return LandingFileError(path, reason, line=line)
