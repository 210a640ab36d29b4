"""Reading landing files safely: header contract, column-name cleansing, clear errors.

The seed's raw step runs `cleanse_column_names`, `change_column_case: lower` and drops the
pandas index column `_c0`. We do the same, but strictly: a file whose columns do not match
the entity model (schema drift), that is empty, badly quoted, has a row with the wrong
number of fields or bytes that are not UTF-8 is rejected as a whole, with the file and
line in the message, and nothing from it is ingested.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.entities import Entity

LANDING_SUFFIXES = (".csv", ".parquet")
# Names a writer gives the unnamed index column: pandas '' (DuckDB reads it as column0),
# Spark '_c0', pandas re-read 'Unnamed: 0'.
INDEX_COLUMN_NAMES = frozenset({"", "column0", "c0", "unnamed_0", "index"})
_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]+")


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


def is_landing_file(path: Path) -> bool:
    """Data files only: no hidden or temporary files, no markers or reports."""
    return (
        path.is_file()
        and not path.name.startswith((".", "_"))
        and path.suffix.lower() in LANDING_SUFFIXES
    )


def sha256_of(path: Path, chunk: int = 4 * 1024 * 1024) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileLayout:
    """How a landing file's columns map onto the entity's columns."""

    path: Path
    fmt: str
    # Position (0-based) in the file of each entity column, in entity column order.
    positions: tuple[int, ...]
    width: int


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


def _parquet_columns(conn: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        cursor = conn.execute("select * from read_parquet(?) limit 0", [str(path)])
    except duckdb.Error as exc:
        raise LandingFileError(path, f"not a readable Parquet file: {exc}") from None
    return [d[0] for d in cursor.description]


def file_layout(conn: duckdb.DuckDBPyConnection, entity: Entity, path: Path) -> FileLayout:
    """Check the file's header against the entity model; explain any drift precisely."""
    fmt = path.suffix.lower().lstrip(".")
    header = _read_csv_header(path) if fmt == "csv" else _parquet_columns(conn, path)
    cleansed = [cleanse_column_name(h) for h in header]
    start = 1 if cleansed and cleansed[0] in INDEX_COLUMN_NAMES else 0
    names = cleansed[start:]
    seen: dict[str, int] = {}
    for offset, name in enumerate(names):
        if name in seen:
            raise LandingFileError(
                path, f"column {name!r} appears twice in the header after cleansing", line=1
            )
        seen[name] = start + offset
    expected = entity.column_names
    missing = [c for c in expected if c not in seen]
    unexpected = [c for c in names if c not in expected]
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
    return FileLayout(path, fmt, tuple(seen[c] for c in expected), len(header))


def relation_sql(layout: FileLayout) -> tuple[str, list[object]]:
    """SQL (with `?` parameters) selecting the entity's columns, as text, from the file.

    Columns are addressed by position, so header text from the file never becomes SQL.
    """
    if layout.fmt == "csv":
        # auto_detect off: the dialect is fixed, so DuckDB reports the offending line
        # instead of guessing another delimiter for a broken file.
        source = (
            "read_csv(?, auto_detect=false, header=true, delim=',', quote='\"', escape='\"',"
            " strict_mode=true, encoding='utf-8', columns=?)"
        )
        params: list[object] = [
            str(layout.path),
            {f"c{i}": "VARCHAR" for i in range(layout.width)},
        ]
    else:
        source = "read_parquet(?)"
        params = [str(layout.path)]
    picks = ", ".join(f"cast(#{pos + 1} as varchar)" for pos in layout.positions)
    return f"select {picks} from {source}", params


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
