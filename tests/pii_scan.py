"""Find raw PII values of the generated customers in every file of a data folder.

Used by tests/test_pii_scan.py. The values come from the warehouse (every raw version of
every customer). Every file is read the way a reader would see its content: DuckDB files
opened and every text column read, Parquet files' text columns and column statistics,
SQLite (Dagster's storage) tables, everything else as UTF-8 text. A value counts as
found when it stands as a whole token (not inside a longer number or word).
"""

import re
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

# Columns whose values are PII by themselves, and the shorter ones (dates, PINs, names)
# that also occur as ordinary data elsewhere (a month start, a row count, a city).
STRONG = ("email_addr", "mobile_number1", "customer_addressline1", "customer_addressline2",
          "customer_addressline3", "cust_dob")  # fmt: skip
WEAK = ("cust_first_name", "cust_last_name", "cust_middle_name", "pin")
MIN_CHARS = 4
# A PIN of fewer digits is a number like any other (a year, a coordinate, a count).
MIN_NUMERIC_PIN_CHARS = 6


@dataclass(frozen=True)
class Finding:
    path: Path
    where: str  # table.column, statistics, or the file itself
    column: str  # the PII column whose value was found
    value: str


def vocabulary(roots: Iterable[Path]) -> set[str]:
    """Lower-cased words of the project's own code and policies (not the generator's name
    lists): a surname that is also a word there ('Merchant', 'Date') is not evidence."""
    words: set[str] = set()
    for root in roots:
        for path in root.rglob("*"):
            if path.suffix in (".py", ".yaml") and "generator" not in path.parts:
                words |= {w.lower() for w in re.findall(r"[A-Za-z]+", path.read_text("utf-8"))}
    return words


# The golden customer's PII columns (identity resolution), as the customer's they match.
GOLDEN_COLUMNS = {"email": "email_addr", "mobile": "mobile_number1", "national_id": "national_id",
                  "address_line1": "customer_addressline1",
                  "address_line2": "customer_addressline2",
                  "address_line3": "customer_addressline3", "date_of_birth": "cust_dob",
                  "first_name": "cust_first_name", "last_name": "cust_last_name",
                  "middle_name": "cust_middle_name", "pin": "pin"}  # fmt: skip


def _golden_sql(col: str) -> str:
    """The golden customer's values of `col` (customer naming), when it has that column."""
    golden = [g for g, c in GOLDEN_COLUMNS.items() if c == col]
    return "".join(
        f' union select trim(cast("{g}" as varchar)) from mastered.golden_customer '
        f'where "{g}" is not null'
        for g in golden
    )


def pii_values(warehouse: Path, common_words: set[str]) -> dict[str, set[str]]:
    """Every value of the PII columns across raw.customer (all versions) and the golden
    customer (when identity resolution made it), as text; weak values that are common words
    or short numbers left out (see MIN_NUMERIC_PIN_CHARS)."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        golden = (
            conn.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'mastered' and table_name = 'golden_customer'"
            ).fetchone()[0]
            and conn.execute("select count(*) from mastered.golden_customer").fetchone()[0]
        )
        out: dict[str, set[str]] = {}
        for col in (*STRONG, *(("national_id",) if golden else ()), *WEAK):
            customer = (
                f'select distinct trim(cast("{col}" as varchar)) from raw.customer '
                f'where "{col}" is not null'
                if col != "national_id"
                else "select null where false"
            )
            rows = conn.execute(customer + (_golden_sql(col) if golden else "")).fetchall()
            values = {r[0] for r in rows if r[0] and len(r[0]) >= MIN_CHARS}
            if col in WEAK:
                values = {
                    v
                    for v in values
                    if v.lower() not in common_words
                    and not (v.isdigit() and len(v) < MIN_NUMERIC_PIN_CHARS)
                }
            out[col] = values
        return out
    finally:
        conn.close()


_TOKEN = re.compile(r"[\w@+-]+(?:\.[\w@+-]+)*")


class Matcher:
    """Whole-token search of many values at once: the text's tokens go into a set, a
    value is looked up by its first token and then confirmed in the text itself."""

    def __init__(self, values: dict[str, set[str]]) -> None:
        self.by_first: dict[str, list[tuple[str, str]]] = {}
        for col, vals in values.items():
            for v in vals:
                tokens = _TOKEN.findall(v)
                if tokens:
                    self.by_first.setdefault(tokens[0], []).append((col, v))

    def find(self, text: str) -> Iterator[tuple[str, str]]:
        tokens = set(_TOKEN.findall(text))
        for first in tokens & self.by_first.keys():
            for col, v in self.by_first[first]:
                if v == first or _whole(v, text):
                    yield col, v


def _whole(value: str, text: str) -> bool:
    """`value` (several tokens) occurs in `text` not inside a longer token."""
    start = text.find(value)
    while start != -1:
        before = text[start - 1 : start]
        after = text[start + len(value) : start + len(value) + 1]
        if not _TOKEN.match(before) and not _TOKEN.match(after):
            return True
        start = text.find(value, start + 1)
    return False


def _duckdb_texts(path: Path) -> Iterator[tuple[str, str]]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        cols = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = current_database() and data_type in ('VARCHAR', 'JSON')"
        ).fetchall()
        for schema, table, column in cols:
            rows = conn.execute(
                f'select distinct "{column}" from "{schema}"."{table}" where "{column}" is not null'
            ).fetchall()
            yield f"{schema}.{table}.{column}", "\n".join(r[0] for r in rows)
    finally:
        conn.close()


def _parquet_texts(path: Path) -> Iterator[tuple[str, str]]:
    f = pq.ParquetFile(path)
    meta = f.metadata
    stats = []
    for rg in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            s = meta.row_group(rg).column(c).statistics
            if s is not None and s.has_min_max:
                stats += [str(s.min), str(s.max)]
    yield "statistics", "\n".join(stats)
    table = f.read()
    for name in table.column_names:
        col = table.column(name)
        if str(col.type) in ("string", "large_string"):
            yield name, "\n".join(v for v in col.to_pylist() if v is not None)


def _sqlite_texts(path: Path) -> Iterator[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        for t in tables:
            texts = []
            for row in conn.execute(f'select * from "{t}"'):
                texts += [v for v in row if isinstance(v, str)]
            yield t, "\n".join(texts)
    finally:
        conn.close()


def file_texts(path: Path) -> Iterator[tuple[str, str]]:
    head = path.read_bytes()[:16]
    if path.suffix == ".parquet":
        yield from _parquet_texts(path)
    elif path.suffix == ".duckdb" or head[8:12] == b"DUCK":
        yield from _duckdb_texts(path)
    elif head.startswith(b"SQLite format 3"):
        yield from _sqlite_texts(path)
    else:
        yield "", path.read_bytes().decode("utf-8", errors="replace")


def scan(files: Iterable[Path], values: dict[str, set[str]]) -> list[Finding]:
    matcher = Matcher(values)
    found = []
    for path in files:
        for where, text in file_texts(path):
            found += [Finding(path, where, col, v) for col, v in matcher.find(text)]
    return found
