"""The observed side of the catalog: scan every table and view of the warehouse.

The seed registers its Iceberg tables in Metis with a scanner workflow. Here one pass over
DuckDB's information schema finds every table and view (all schemas but `catalog` itself),
profiles each in one aggregate query (count, nulls, approximate distinct, min, max per
column) and joins what it found with what the definitions declare (`tables.py`): the
description, PII tag, owner and producing asset of every column. Tables nobody declares
are orphans, declared tables the warehouse lacks are missing; the scanner's checks report
both by name.

Min and max of PII-tagged columns are not copied into the catalog: the catalog is read
by people who may not read the data (a min e-mail address is an e-mail address).

Only tables whose data changed since the last scan are profiled again: a table keeps its
stored profile when its producing asset has not materialized since and its row count and
columns are the same; a small table (written outside materializations too) when its
columns and its content fingerprint are the same (fingerprint.py); a view keeps its
profile when its definition is the same (its hash), its producer has not materialized
since and no table or view its SQL names changed (a small table profiled again counts only
when its data may have changed or its profile differs). A changed raw history or history
view is profiled from the change where that is exact (derive.py). A large table whose rows
say when they were written (`_ingested_at`) and that changed by a small share keeps what it
cannot derive (DISTINCT_CHANGE_SHARE); a view keeps its profile only while its definition is
the same and every relation it reads was reused or kept so. `scanned_at` says when each
profile was taken, `profile_mode` and `distinct_as_of` how; the scanner's metadata lists
what it rescanned, reused, derived and kept.

A view that holds every row of one source relation and passes some of its columns through
unchanged (a governed view without a row filter: `SameRows`, told by the caller) takes those
columns' profile from the source's, scanned or reused in the same pass: a second scan of
the same values would learn nothing. Its row count is still counted, and when it differs
from the source's (the view was built under another policy) the view is profiled in full.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise

import duckdb

from fs_assets.catalog.derive import INGESTED_AT, UnionOf, appended_scan, union_scan
from fs_assets.catalog.fingerprint import estimated_rows, fingerprints
from fs_assets.catalog.scan_types import ColumnScan, StoredProfile, TableScan
from fs_assets.catalog.specs import (
    CATALOG_SCHEMA,
    COLUMNS_NAME,
    COLUMNS_SCHEMA,
    COLUMNS_TABLE,
    TABLES_NAME,
    TABLES_SCHEMA,
    TABLES_TABLE,
)
from fs_assets.catalog.store import create_table, insert_rows
from fs_assets.catalog.tables import DeclaredTable
from fs_assets.model.keys import BUILDING_PREFIX, KeyPath
from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import transaction
from fs_assets.transforms.marts.features import WRITTEN_AT

# A dotted name in SQL text (lower case, quotes removed).
_DOTTED = re.compile(r"(?<![\w.])\w+(?:\.\w+)+")
# Schemas the scanner never reads: its own output, and DuckDB's system schemas.
SKIPPED_SCHEMAS = (CATALOG_SCHEMA, "information_schema", "pg_catalog")

LastMaterialized = Callable[[KeyPath], dt.datetime | None]
# Tables with fewer rows (the meta and quarantine tables, some written outside any
# materialization) keep their profile only while their content fingerprint is the same;
# larger ones while their producer has not materialized and their row count is the same.
SMALL_TABLE_ROWS = 10_000
# A base table of at least this many rows (DuckDB's estimate) has each column's min and max
# taken by a query of its own: DuckDB answers a lone min or max of a column from what its
# storage keeps about the column's segments where it can (most columns of the 10M warehouse,
# in 10 ms) and scans only the others, while one query of every column's min and max
# scans every column. At 10M customers: raw.transaction 17.1 s in one query, 8.1 s apart;
# mastered.transaction 12.0 s and 2.1 s; six 10M-row tables 2.2-3.4 s and 0.6-1.0 s each.
SPLIT_MIN_ROWS = 100_000
# A larger table changed by a small share keeps what it cannot derive from the change: an
# append-only history its distinct counts (the rest derived exactly), a table whose rows
# were replaced its column statistics (its row count taken now), a history view (the union
# of a table's current and past versions) the same, a view reading only such relations its
# profile. They are taken over every row again when the rows changed since pass
# this share of the table, when they are older than DISTINCT_MAX_AGE, or with
# `refresh_distinct`; `distinct_as_of` says since when. A changed row moves a count, a
# distinct count or a null count by at most one.
DISTINCT_CHANGE_SHARE = 0.05
# Columns saying when a row was written: a raw or mastered version's ingestion, a mart
# row's write (marts.customer_features). A table without one keeps nothing after a change.
WRITE_TIMES = (INGESTED_AT, WRITTEN_AT)
DISTINCT_MAX_AGE = dt.timedelta(hours=24)


@dataclass(frozen=True)
class SameRows:
    """A view with exactly the rows of `source` ("schema.table"), whose `columns` are the
    source's columns passed through unchanged (same name, same values); `every_column`:
    all of them (`select *`)."""

    source: str
    columns: frozenset[str] = frozenset()
    every_column: bool = False
    # Columns computed by the same SQL in `sibling`, another view with the same rows (the
    # pending-correction flag of every role's view): profiled once, there.
    shared: frozenset[str] = frozenset()
    sibling: str | None = None

    def passes(self, column: str) -> bool:
        return self.every_column or column in self.columns


@dataclass
class ScanResult:
    tables: list[TableScan]
    scanned_at: dt.datetime
    declared: Mapping[str, DeclaredTable]
    last_materialized: dict[str, dt.datetime | None] = field(default_factory=dict)
    # Tables whose stored profile was kept, with when it was taken.
    reused: dict[str, dt.datetime] = field(default_factory=dict)
    # Tables profiled again from what changed (derive.py), not from every row.
    derived: set[str] = field(default_factory=set)
    # Small tables' content fingerprints, taken before they were profiled (or reused), and
    # views' definition hashes (definition_hash): what says a relation is the same.
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    # Per table: when its distinct counts were counted over every row, and its rows then.
    distinct: dict[str, tuple[dt.datetime | None, int | None]] = field(default_factory=dict)
    # Tables changed by a small share whose column statistics were all kept (see above).
    kept: set[str] = field(default_factory=set)

    def profile_mode(self, name: str) -> str:
        """How the table's profile was taken: reused (unchanged), kept (a small change: its
        column statistics as of distinct_as_of), derived (exact from the change, distinct
        counts as of distinct_as_of) or full."""
        if name in self.reused:
            return "reused"
        if name in self.kept:
            return "kept"
        return "derived" if name in self.derived else "full"

    @property
    def distinct_kept(self) -> list[str]:
        """Tables profiled again whose distinct counts were kept from an earlier count."""
        return sorted(
            n
            for n, (when, _) in self.distinct.items()
            if n not in self.reused and when is not None and when < self.scanned_at
        )

    @property
    def rescanned(self) -> list[str]:
        return sorted(self.names - set(self.reused))

    @property
    def names(self) -> set[str]:
        return {t.name for t in self.tables}

    def orphans(self) -> list[str]:
        """Warehouse tables no asset declares or writes."""
        return sorted(self.names - set(self.declared))

    def table_rows(self) -> list[dict[str, object]]:
        rows = []
        for t in self.tables:
            decl = self.declared.get(t.name)
            pii = decl.pii_columns if decl else {}
            present = {c.name for c in t.columns}
            rows.append(
                {
                    "table_schema": t.schema,
                    "table_name": t.table,
                    "table_type": t.table_type,
                    "description": decl.description if decl else None,
                    "owner": decl.owner_label if decl else None,
                    "producing_asset": decl.producer_label if decl else None,
                    "row_count": t.row_count,
                    "column_count": len(t.columns),
                    "pii_columns": ", ".join(f"{c} ({p})" for c, p in pii.items() if c in present)
                    or None,
                    "last_materialized": self.last_materialized.get(t.name),
                    "scanned_at": self.reused.get(t.name, self.scanned_at),
                    "content_fingerprint": self.fingerprints.get(t.name),
                    "profile_mode": self.profile_mode(t.name),
                    "distinct_as_of": self.distinct.get(t.name, (None, None))[0],
                    "distinct_row_count": self.distinct.get(t.name, (None, None))[1],
                }
            )
        return rows

    def column_rows(self) -> list[dict[str, object]]:
        rows = []
        for t in self.tables:
            decl = self.declared.get(t.name)
            for c in t.columns:
                dc = decl.column(c.name) if decl else None
                rows.append(
                    {
                        "table_schema": t.schema,
                        "table_name": t.table,
                        "column_name": c.name,
                        "ordinal_position": c.position,
                        "data_type": c.data_type,
                        "nullable": dc.nullable
                        if dc is not None and dc.nullable is not None
                        else c.nullable,
                        "description": (dc.description or None) if dc else None,
                        "pii_tag": dc.pii if dc else None,
                        "owner": decl.owner_label if decl else None,
                        "producing_asset": decl.producer_label if decl else None,
                        "row_count": t.row_count,
                        "null_count": c.null_count,
                        "null_pct": round(100.0 * c.null_count / t.row_count, 4)
                        if t.row_count and c.null_count is not None
                        else None,
                        "distinct_count": c.distinct_count,
                        "min_value": c.min_value,
                        "max_value": c.max_value,
                        "last_materialized": self.last_materialized.get(t.name),
                        "distinct_as_of": None
                        if c.distinct_count is None
                        else c.distinct_as_of or self.reused.get(t.name, self.scanned_at),
                    }
                )
        return rows


def list_tables(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(schema, table, type) of every table and view of the open database, sorted (not a
    killed mastering build's leftovers, BUILDING_PREFIX)."""
    placeholders = ", ".join("?" for _ in SKIPPED_SCHEMAS)
    return conn.execute(
        "select table_schema, table_name, table_type from information_schema.tables "
        f"where table_catalog = current_database() and table_schema not in ({placeholders}) "
        "and not starts_with(table_name, ?) order by 1, 2",
        [*SKIPPED_SCHEMAS, BUILDING_PREFIX],
    ).fetchall()


def _columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    return conn.execute(
        "select column_name, ordinal_position, data_type, is_nullable = 'YES' "
        "from information_schema.columns "
        "where table_catalog = current_database() and table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()


def all_columns(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """`_columns` of every table and view ("schema.table"), in one query: one query per
    table cost more than profiling the small ones."""
    out: dict[str, list[tuple]] = {}
    for schema, table, *col in conn.execute(
        "select table_schema, table_name, column_name, ordinal_position, data_type, "
        "is_nullable = 'YES' from information_schema.columns "
        "where table_catalog = current_database() order by 1, 2, ordinal_position"
    ).fetchall():
        out.setdefault(f"{schema}.{table}", []).append(tuple(col))
    return out


def scan_table(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    table_type: str,
    pii: set[str] | frozenset[str] = frozenset(),
    masked: set[str] | frozenset[str] = frozenset(),
    copied: Mapping[str, ColumnScan] | None = None,
    cols: list[tuple] | None = None,
    rows: int | None = None,
    estimated: int = 0,
) -> TableScan:
    """Profile one table: counts, nulls, min and max in one aggregate query, the distinct
    counts in another (names come from the catalog, quoted): apart, the first is answered
    from DuckDB's compressed segments in a fraction of the time the two take together.
    A base table of `estimated` rows (DuckDB's estimate) past SPLIT_MIN_ROWS has each
    column's min and max taken by a query of its own (`_ranges`); a view, which has no
    segments, is read once for all of them.

    `masked` columns of a view are left out of the query (so DuckDB never computes them)
    and recorded without statistics; `copied` columns (a view's pass-through columns, see
    SameRows) are left out and take the given profile. `cols`: the table's columns when the
    caller has them (`all_columns`); `rows`: its row count when the caller just counted it
    (then a view whose columns are all copied or masked is not read again).
    """
    hidden = masked if table_type == "VIEW" else frozenset()
    copied = {n: c for n, c in (copied or {}).items() if n not in hidden}  # masked wins
    cols = _columns(conn, schema, table) if cols is None else cols
    profiled = [c for c in cols if c[0] not in hidden and c[0] not in copied]
    relation = f"{q(schema)}.{q(table)}"
    split = table_type != "VIEW" and estimated >= SPLIT_MIN_ROWS
    exprs = ["count(*)"]
    for name, _, _, _ in profiled:
        c = q(name)
        exprs.append(f"count({c})")
        if name in pii or split:
            exprs += ["null::varchar", "null::varchar"]
        else:
            exprs += [f"min({c})::varchar", f"max({c})::varchar"]
    counted = [name for name, _, _, _ in profiled]
    distinct_exprs = [f"approx_count_distinct({q(n)})" for n in counted]
    # A view has no storage to answer from: it runs once for both (governed.sales_leads at
    # 10M customers: 4.3 s and 4.1 s apart, 4.5 s in one query).
    together = table_type == "VIEW"
    if profiled or rows is None:
        exprs += distinct_exprs if together else []
        row = conn.execute(f"select {', '.join(exprs)} from {relation}").fetchone()
    else:
        row = (rows,)
    total = int(row[0])
    stats = {name: row[1 + 3 * i : 4 + 3 * i] for i, (name, _, _, _) in enumerate(profiled)}
    if split:
        ranged = [name for name, _, _, _ in profiled if name not in pii]
        for name, (lo, hi) in _ranges(conn, relation, ranged).items():
            stats[name] = (stats[name][0], lo, hi)
    distinct: dict[str, object] = {}
    if counted:
        found = (
            row[1 + 3 * len(profiled) :]
            if together
            else conn.execute(f"select {', '.join(distinct_exprs)} from {relation}").fetchone()
        )
        distinct = dict(zip(counted, found, strict=True))
    scans = []
    for name, position, data_type, nullable in cols:
        non_null, lo, hi = stats.get(name, (None, None, None))
        count, as_of = distinct.get(name), None
        if name in copied:
            src = copied[name]
            non_null = None if src.null_count is None else total - src.null_count
            count, lo, hi = src.distinct_count, src.min_value, src.max_value
            as_of = src.distinct_as_of
            if name in pii:  # never copy a value of a column PII here
                lo = hi = None
        scans.append(
            ColumnScan(
                name=name,
                position=int(position),
                data_type=str(data_type),
                nullable=bool(nullable),
                null_count=None if non_null is None else total - int(non_null),
                distinct_count=None if count is None else int(count),
                min_value=lo,
                max_value=hi,
                distinct_as_of=as_of,
            )
        )
    return TableScan(schema, table, table_type, total, tuple(scans))


def _ranges(
    conn: duckdb.DuckDBPyConnection, relation: str, names: list[str]
) -> dict[str, tuple[str | None, str | None]]:
    """Each column's (min, max) as text, one query per column (see SPLIT_MIN_ROWS)."""
    return {
        n: conn.execute(
            f"select min({q(n)})::varchar, max({q(n)})::varchar from {relation}"
        ).fetchone()
        for n in names
    }


def _present_columns(conn: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {
        name
        for (name,) in conn.execute(
            "select column_name from information_schema.columns where table_catalog = "
            "current_database() and table_schema = ? and table_name = ?",
            [CATALOG_SCHEMA, table],
        ).fetchall()
    }


def stored_profiles(conn: duckdb.DuckDBPyConnection) -> dict[str, StoredProfile]:
    """The last scan's catalog.tables and catalog.columns, per table (none before one)."""
    found = conn.execute(
        "select count(*) from information_schema.tables where table_catalog = "
        "current_database() and table_schema = ? and table_name in (?, ?)",
        [CATALOG_SCHEMA, TABLES_NAME, COLUMNS_NAME],
    ).fetchone()[0]
    if found < 2:
        return {}
    # A catalog written before fingerprints (or distinct times) were kept has none: its
    # small tables are profiled once more, its distinct counts counted again.
    have = _present_columns(conn, TABLES_NAME)
    extra = ", ".join(
        c if c in have else "null"
        for c in ("content_fingerprint", "distinct_as_of", "distinct_row_count")
    )
    col_as_of = (
        "distinct_as_of" if "distinct_as_of" in _present_columns(conn, COLUMNS_NAME) else "null"
    )
    profiles: dict[str, StoredProfile] = {}
    for schema, table, kind, rows, last, scanned, fingerprint, as_of, then in conn.execute(
        "select table_schema, table_name, table_type, row_count, last_materialized, "
        f"scanned_at, {extra} from {TABLES_TABLE}"
    ).fetchall():
        profiles[f"{schema}.{table}"] = StoredProfile(
            kind, rows, last, scanned, {}, fingerprint, as_of, then
        )
    for schema, table, name, *stats in conn.execute(
        "select table_schema, table_name, column_name, ordinal_position, data_type, "
        f"null_count, distinct_count, min_value, max_value, {col_as_of} from {COLUMNS_TABLE}"
    ).fetchall():
        if (stored := profiles.get(f"{schema}.{table}")) is not None:
            stats[-1] = stats[-1] or stored.scanned_at  # counted when profiled, before
            stored.columns[name] = tuple(stats)
    return profiles


def _reuse(
    schema: str, table: str, table_type: str, stored: StoredProfile, cols: list[tuple]
) -> TableScan:
    """The stored profile on today's columns (their nullability as DuckDB says now)."""
    columns = tuple(
        ColumnScan(name, int(pos), str(dtype), bool(nullable), *stored.columns[name][2:])
        for name, pos, dtype, nullable in cols
    )
    return TableScan(schema, table, table_type, stored.row_count, columns)


def _same_columns(cols: list[tuple], stored: StoredProfile) -> bool:
    now = {name: (int(pos), str(dtype)) for name, pos, dtype, _ in cols}
    return now == {name: (int(c[0]), str(c[1])) for name, c in stored.columns.items()}


def _appendable(prev: StoredProfile | None, table_type: str, cols: list[tuple]) -> bool:
    """A stored profile of the same table, columns and types: one to add new rows to."""
    return prev is not None and prev.table_type == table_type and _same_columns(cols, prev)


def _same_profile(scan: TableScan, stored: StoredProfile) -> bool:
    """Whether a fresh profile says what the stored one said (rows and every statistic)."""
    return scan.row_count == stored.row_count and {
        c.name: (c.null_count, c.distinct_count, c.min_value, c.max_value) for c in scan.columns
    } == {name: tuple(c[2:6]) for name, c in stored.columns.items()}


def definition_hash(sql: str) -> str:
    """A view's definition as the catalog compares it between scans (no data in it)."""
    return "view:" + hashlib.sha256(sql.encode()).hexdigest()[:32]


def _governed(scan: TableScan, pii: set[str], masked: set[str] | frozenset[str]) -> TableScan:
    """A kept profile under today's declarations, as `scan_table` would record it: a masked
    column of a view without statistics, a PII column without min and max."""
    hidden = masked if scan.table_type == "VIEW" else frozenset()
    columns = tuple(
        replace(c, null_count=None, distinct_count=None, min_value=None, max_value=None)
        if c.name in hidden
        else replace(c, min_value=None, max_value=None)
        if c.name in pii
        else c
        for c in scan.columns
    )
    return replace(scan, columns=columns)


def _kept_columns(prev: StoredProfile, cols: list[tuple]) -> dict[str, ColumnScan]:
    """The stored distinct counts of `cols`, as column scans to take them from."""
    return {
        name: ColumnScan(name, int(pos), str(dtype), bool(nullable), *prev.columns[name][2:])
        for name, pos, dtype, nullable in cols
    }


@dataclass(frozen=True)
class DistinctPolicy:
    """When a changed table's distinct counts are counted again (see DISTINCT_CHANGE_SHARE)."""

    now: dt.datetime
    refresh: bool = False  # count every changed table's again (`refresh_distinct`)
    share: float = DISTINCT_CHANGE_SHARE
    max_age: dt.timedelta = DISTINCT_MAX_AGE

    def may_keep(self, prev: StoredProfile | None, table_type: str, cols: list[tuple]) -> bool:
        """A stored profile of the same columns whose distinct counts are recent enough, of
        a view or of a table whose rows say when they were written (`_ingested_at`): without
        it a rewrite of every row with the same row count would look like no change."""
        return (
            not self.refresh
            and (table_type == "VIEW" or _write_time(cols) is not None)
            and prev is not None
            and prev.table_type == table_type
            and prev.distinct_as_of is not None
            and prev.distinct_rows is not None
            and prev.row_count >= SMALL_TABLE_ROWS
            and self.now - prev.distinct_as_of <= self.max_age
            and _same_columns(cols, prev)
        )

    def small_change(self, changed: int, rows: int, rows_then: int) -> bool:
        return rows >= SMALL_TABLE_ROWS and changed <= self.share * min(rows, rows_then)


def _write_time(cols: list[tuple]) -> str | None:
    """The column saying when each row was written, if the table has one (WRITE_TIMES)."""
    names = {c[0] for c in cols}
    return next((c for c in WRITE_TIMES if c in names), None)


def _rows_changed(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    cols: list[tuple],
    prev: StoredProfile,
    history: bool = False,
) -> tuple[int, int]:
    """(rows now, rows changed since the stored distinct counts): the rows written since
    (`_ingested_at`: raw and mastered rows carry their version's) plus however far the row
    count moved otherwise (rows gone, or rows added with older stamps: past versions).

    A `history` view's new version also closes the version it supersedes (its valid_to is
    set, its write time kept): each row written since counts twice."""
    relation = f"{q(schema)}.{q(table)}"
    stamp = _write_time(cols)
    if stamp is not None:
        rows, added = conn.execute(
            f"select count(*), count(*) filter (where {q(stamp)} > ?) from {relation}",
            [prev.distinct_as_of],
        ).fetchone()
    else:
        (rows,), added = conn.execute(f"select count(*) from {relation}").fetchone(), 0
    then = int(prev.distinct_rows or 0)
    written = int(added) * (2 if history else 1)
    return int(rows), written + abs(int(rows) - then - int(added))


def _names_in(sql: str, names: set[str]) -> set[str]:
    """The relations (schema.table) a view's SQL names, quoted or not: each as a whole name,
    never as the start of a longer one (`governed.analyst_customer` is not read by
    `governed.analyst_customer_history`, whose own name starts with it)."""
    text = sql.lower().replace('"', "")
    # Every dotted name in the text, and each pair of neighbours in a longer one
    # (catalog.schema.table): one pass over the text, not one per relation.
    found: set[str] = set()
    for chain in _DOTTED.findall(text):
        parts = chain.split(".")
        found.update(f"{a}.{b}" for a, b in pairwise(parts))
    plain = {n for n in names if n.count(".") == 1 and _DOTTED.fullmatch(n.lower())}
    odd = names - plain  # a name of other characters: looked for whole, on its own
    return {n for n in plain if n.lower() in found} | {
        n for n in odd if re.search(rf"(?<![\w]){re.escape(n.lower())}(?![\w])", text)
    }


def _view_sql(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {
        f"{schema}.{name}": sql or ""
        for schema, name, sql in conn.execute(
            "select schema_name, view_name, sql from duckdb_views() where not internal "
            "and database_name = current_database()"
        ).fetchall()
    }


def _data_order(kinds: dict[str, str], reads: dict[str, set[str]]) -> list[str]:
    """Base tables, then each view after the views it reads (a cycle: in name order)."""
    order = sorted(n for n, k in kinds.items() if k != "VIEW")
    left = sorted(n for n, k in kinds.items() if k == "VIEW")
    while left:
        ready = [v for v in left if not (reads.get(v, set()) & set(left))] or left[:1]
        order += ready
        left = [v for v in left if v not in ready]
    return order


def _copied_profile(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    same: SameRows | None,
    scans: Mapping[str, TableScan],
    cols: list[tuple],
) -> tuple[dict[str, ColumnScan], int | None]:
    """The profile of `name`'s pass-through columns from its source's scan, when the view
    has the source's row count (otherwise none: the view is profiled in full), and the
    view's row count when it was counted."""
    source = scans.get(same.source) if same else None
    if same is None or source is None:
        return {}, None
    schema, table = name.split(".", 1)
    (rows,) = conn.execute(f"select count(*) from {q(schema)}.{q(table)}").fetchall()[0]
    if rows != source.row_count:
        return {}, rows
    types = {c[0]: str(c[2]) for c in cols}
    copied = {
        c.name: c
        for c in source.columns
        if same.passes(c.name) and types.get(c.name) == c.data_type
    }
    sibling = scans.get(same.sibling) if same.sibling else None
    if sibling is not None and sibling.row_count == rows:
        copied |= {
            c.name: c
            for c in sibling.columns
            if c.name in same.shared and types.get(c.name) == c.data_type
        }
    return copied, rows


def scan_warehouse(
    conn: duckdb.DuckDBPyConnection,
    declared: Mapping[str, DeclaredTable],
    last_materialized: LastMaterialized,
    reuse: bool = True,
    same_rows: Mapping[str, SameRows] | None = None,
    unions: Mapping[str, UnionOf] | None = None,
    refresh_distinct: bool = False,
) -> ScanResult:
    """Scan every table and view whose data changed (every one with `reuse=False`); join
    what is declared about it and when it was written. `same_rows` names the views whose
    pass-through columns take their source's profile (see SameRows); `unions` the history
    views whose profile derives from their parts' (derive.py, not with `reuse=False`).
    A large changed table keeps its column statistics while DistinctPolicy allows (a view
    while its definition is the same and every relation it reads was reused or kept);
    `refresh_distinct` counts them for every changed table."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    policy = DistinctPolicy(now, refresh=refresh_distinct or not reuse)
    listed = list_tables(conn)
    result = ScanResult([], now, declared)
    for schema, table, _ in listed:
        decl = declared.get(f"{schema}.{table}")
        times = [last_materialized(k) for k in decl.producers] if decl else []
        known = [x for x in times if x is not None]
        result.last_materialized[f"{schema}.{table}"] = max(known) if known else None
    stored = stored_profiles(conn) if reuse else {}
    views = _view_sql(conn)
    columns = all_columns(conn)
    names = {f"{s}.{t}" for s, t, _ in listed}
    # Tables and views whose data changed since the last scan (or may have): the views
    # reading them are profiled again. A table profiled again only because it is small
    # counts when its data may have changed or its profile differs from the stored one.
    changed: set[str] = set()
    scans: dict[str, TableScan] = {}
    kinds = {f"{s}.{t}": k for s, t, k in listed}
    reads = {v: _names_in(sql, names - {v}) for v, sql in views.items() if v in names}
    # Fingerprints before any profile (a write in between makes the next scan profile
    # again, never keep a stale profile), and with `reuse=False` too, for the next scan.
    estimated = estimated_rows(conn)
    small = {n for n, rows in estimated.items() if rows < SMALL_TABLE_ROWS}
    result.fingerprints = fingerprints(conn, small & names)
    # A view's "fingerprint" is its definition's: a redefined view (another filter or
    # masking over the same columns) is profiled again, never reused or kept.
    result.fingerprints |= {v: definition_hash(sql) for v, sql in views.items() if v in names}
    # Relations whose profile this scan reused or kept after a small change: a view that
    # reads only these may keep its own (any other read changed: profile it again).
    settled: set[str] = set()
    for name in _data_order(kinds, reads):
        schema, table = name.split(".", 1)
        table_type, cols = kinds[name], columns.get(name, [])
        last, prev = result.last_materialized[name], stored.get(name)
        unchanged = (
            prev is not None
            and prev.table_type == table_type
            and last is not None
            and prev.last_materialized == last
            and _same_columns(cols, prev)
        )
        same_content = (
            prev is not None
            and prev.table_type == table_type
            and prev.fingerprint is not None
            and result.fingerprints.get(name) == prev.fingerprint
            and _same_columns(cols, prev)
        )
        same_definition = prev is not None and result.fingerprints.get(name) == prev.fingerprint
        if table_type == "VIEW":
            unchanged = (
                unchanged
                and same_definition
                and bool(reads.get(name))
                and not (reads[name] & changed)
            )
            keep = unchanged
        elif same_content:
            unchanged = keep = True
        else:
            if unchanged:
                rows = conn.execute(f"select count(*) from {q(schema)}.{q(table)}").fetchone()[0]
                unchanged = rows == prev.row_count
            keep = unchanged and prev.row_count >= SMALL_TABLE_ROWS
        if keep:
            scans[name] = _reuse(schema, table, table_type, prev, cols)
            result.reused[name] = prev.scanned_at
            settled.add(name)
            result.distinct[name] = (
                prev.distinct_as_of or prev.scanned_at,
                prev.row_count if prev.distinct_rows is None else prev.distinct_rows,
            )
            continue
        decl = declared.get(name)
        pii = set(decl.pii_columns) if decl else set()
        masked = decl.masked_columns if decl else set()
        kept: dict[str, ColumnScan] | None = None  # None: count the distinct values
        rows_now: int | None = None
        # A history view is the union of its parts' rows, so its rows' write times say what
        # changed, as a table's do (the parts need not be settled: a small past-versions
        # table grows by more than the share at every update, yet the view by little).
        union = name in (unions or {}) and _write_time(cols) is not None
        if policy.may_keep(prev, table_type, cols):
            if table_type == "VIEW" and not union:
                read = reads.get(name, set())
                quiet = same_definition and bool(read) and read <= settled
            else:
                rows_now, moved = _rows_changed(conn, schema, table, cols, prev, union)
                quiet = (table_type != "VIEW" or same_definition) and policy.small_change(
                    moved, rows_now, prev.distinct_rows or 0
                )
            kept = _kept_columns(prev, cols) if quiet else None
        derived = None
        if table_type == "VIEW" and reuse and name in (unions or {}) and kept is None:
            derived = union_scan(conn, schema, table, unions[name], scans, cols, pii)
        elif table_type != "VIEW" and not unchanged and _appendable(prev, table_type, cols):
            derived = appended_scan(conn, schema, table, prev, cols, pii, kept)
        if derived is not None:
            scans[name] = derived
            result.derived.add(name)
        elif kept is not None:
            # A small change to rows replaced in place (or to what a view reads): the
            # column statistics are kept as of their last full profile; a table's row count
            # is today's (DuckDB keeps it), a view's is kept with the rest (counting it
            # means running the view).
            scans[name] = _governed(_reuse(schema, table, table_type, prev, cols), pii, masked)
            if rows_now is not None:
                scans[name] = replace(scans[name], row_count=rows_now)
            result.kept.add(name)
        else:
            copied, rows = _copied_profile(conn, name, (same_rows or {}).get(name), scans, cols)
            scans[name] = scan_table(
                conn,
                schema,
                table,
                table_type,
                pii,
                masked,
                copied,
                cols=cols,
                rows=rows,
                estimated=estimated.get(name, 0),
            )
        if kept is not None:
            settled.add(name)
            result.distinct[name] = (prev.distinct_as_of, prev.distinct_rows)
        else:
            result.distinct[name] = (now, scans[name].row_count)
        if not (unchanged and _same_profile(scans[name], prev)):
            changed.add(name)
    result.tables = [scans[f"{s}.{t}"] for s, t, _ in listed]
    return result


def write_catalog(conn: duckdb.DuckDBPyConnection, result: ScanResult) -> None:
    """Replace catalog.tables and catalog.columns together, in one transaction."""
    with transaction(conn):
        conn.execute(f"create schema if not exists {CATALOG_SCHEMA}")
        create_table(conn, TABLES_TABLE, TABLES_SCHEMA)
        create_table(conn, COLUMNS_TABLE, COLUMNS_SCHEMA)
        insert_rows(conn, TABLES_TABLE, TABLES_SCHEMA, result.table_rows())
        insert_rows(conn, COLUMNS_TABLE, COLUMNS_SCHEMA, result.column_rows())


@dataclass(frozen=True)
class MissingTables:
    missing: list[str]  # materialized before, table gone: a failure
    never_materialized: list[str]  # no table yet because the asset never ran: not a failure


def missing_tables(
    declared: Mapping[str, DeclaredTable],
    existing: set[str],
    last_materialized: LastMaterialized,
) -> MissingTables:
    """Tables the definitions declare (`dagster/table_name`) that the warehouse lacks.

    A declared table whose asset never materialized is reported apart: on a fresh build
    the scanner may run before a partitioned asset's own run, and that is not data loss.
    """
    missing, never = [], []
    for name, table in sorted(declared.items()):
        if table.side or name in existing:
            continue
        ran = any(last_materialized(k) is not None for k in table.producers)
        (missing if ran else never).append(name)
    return MissingTables(missing, never)


def tables_markdown(result: ScanResult) -> str:
    lines = [
        "| table | type | rows | columns | PII columns | producing asset | owner "
        "| last materialized |",
        "|---|---|---:|---:|---|---|---|---|",
    ]
    for row in result.table_rows():
        when = row["last_materialized"]
        lines.append(
            f"| {row['table_schema']}.{row['table_name']} | {row['table_type']} "
            f"| {row['row_count']:,} | {row['column_count']} | {row['pii_columns'] or ''} "
            f"| {row['producing_asset'] or '**none (orphan)**'} | {row['owner'] or ''} "
            f"| {f'{when:%Y-%m-%d %H:%M:%S}' if when else ''} |"
        )
    return "\n".join(lines)
