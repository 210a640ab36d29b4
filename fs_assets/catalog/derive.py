"""Profiles of changed tables derived from what changed, not from a rescan of every row.

Exact where the statistic allows it, and only there:

- an append-only table (a raw history: `_ingested_at` on every row) that only gained rows
  since its last profile: row and null counts add, min and max widen with the new rows'
  (compared in the column's type, not as text);
- a history view (`UnionOf`: the current rows, `valid_from` their version column and
  `valid_to` NULL, then the stored past versions), from the profiles of its two parts
  taken in the same scan: counts add, min and max are the parts' least and greatest.

Approximate distinct counts are HyperLogLog sketches that DuckDB does not keep, so they are
not derived: they are recomputed over every row, or kept from the last count when the
caller says so (`kept`: the scanner's DistinctPolicy, a small change since). Whatever does
not qualify (a column type that does not round-trip through text, rows that are not where
they should be) returns None and the caller profiles the table in full.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from fs_assets.catalog.scan_types import ColumnScan, StoredProfile, TableScan
from fs_assets.model.rules import q

# The column every raw row carries: when it was ingested (UTC, the scanner's clock).
INGESTED_AT = "_ingested_at"
# Types whose min/max text does not cast back to the type (lists, structs, maps...).
_NOT_ORDERED = ("[", "STRUCT", "MAP", "UNION", "BLOB")


@dataclass(frozen=True)
class UnionOf:
    """A view that is `current` (with `version_column` as valid_from and a NULL valid_to)
    followed by `past` ("schema.table" each)."""

    current: str
    past: str
    version_column: str
    valid_from: str = "valid_from"
    valid_to: str = "valid_to"


def _ordered(data_type: str) -> bool:
    return not any(t in data_type.upper() for t in _NOT_ORDERED)


def merge_bounds(
    conn: duckdb.DuckDBPyConnection,
    columns: Sequence[tuple[str, str]],
    parts: Mapping[str, Sequence[tuple[str | None, str | None]]],
) -> dict[str, tuple[str | None, str | None]]:
    """Per (name, type) the least min and greatest max of its parts' (min, max) text, compared
    in the type; one query for all columns."""
    exprs: list[str] = []
    params: list[object] = []
    for name, data_type in columns:
        for pick, side in (("least", 0), ("greatest", 1)):
            values = [part[side] for part in parts[name]]
            exprs.append(f"{pick}({', '.join(f'cast(? as {data_type})' for _ in values)})::varchar")
            params += values
    if not exprs:
        return {}
    row = conn.execute(f"select {', '.join(exprs)}", params).fetchone()
    return {name: (row[2 * i], row[2 * i + 1]) for i, (name, _) in enumerate(columns)}


def _column(
    base: tuple, nulls: int | None, distinct, bounds: tuple, kept: ColumnScan | None = None
) -> ColumnScan:
    """A derived column's profile; `kept`: the stored profile whose distinct count stays."""
    name, position, data_type, nullable = base
    if kept is not None:
        distinct = kept.distinct_count
    return ColumnScan(
        name,
        int(position),
        str(data_type),
        bool(nullable),
        nulls,
        None if distinct is None else int(distinct),
        *bounds,
        distinct_as_of=None if kept is None else kept.distinct_as_of,
    )


def _distinct_counts(
    conn: duckdb.DuckDBPyConnection, relation: str, names: Sequence[str], counted: bool
) -> tuple:
    """count(*) and the approximate distinct count of each of `names` over every row of
    `relation`; only count(*) (and None per name) when not `counted`."""
    exprs = ["count(*)", *(f"approx_count_distinct({q(n)})" for n in names if counted)]
    row = conn.execute(f"select {', '.join(exprs)} from {relation}").fetchone()
    return row if counted else (row[0], *(None for _ in names))


def appended_scan(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    prev: StoredProfile,
    cols: list[tuple],
    pii: set[str] | frozenset[str],
    kept: Mapping[str, ColumnScan] | None = None,
) -> TableScan | None:
    """The profile of an append-only table from its stored profile and the rows ingested
    since (None: not append-only, nothing new, or the old rows are not all there); `kept`:
    columns whose stored distinct count stays (not counted again)."""
    names = [c[0] for c in cols]
    if INGESTED_AT not in names or not all(_ordered(str(c[2])) for c in cols):
        return None
    table_sql = f"{q(schema)}.{q(table)}"
    # The new rows alone (row groups of older ingestions are skipped by their zone maps),
    # then the distinct counts over every row.
    exprs = ["count(*)"]
    for name in names:
        c = q(name)
        exprs.append(f"count({c})")
        bounds_sql = (
            ("null::varchar",) * 2 if name in pii else (f"min({c})::varchar", f"max({c})::varchar")
        )
        exprs += bounds_sql
    row = conn.execute(
        f"select {', '.join(exprs)} from {table_sql} where {q(INGESTED_AT)} > ?", [prev.scanned_at]
    ).fetchone()
    added = int(row[0])
    stats = {name: row[1 + 3 * i : 4 + 3 * i] for i, name in enumerate(names)}
    if added == 0:
        return None
    # The row count first (DuckDB keeps it): a table whose rows were replaced (a mastered
    # table) is profiled in full by the caller, without a distinct pass wasted here.
    (total,) = conn.execute(f"select count(*) from {table_sql}").fetchone()
    if total - added != prev.row_count:
        return None  # rows removed or changed
    counts = _distinct_counts(conn, table_sql, names, kept is None)[1:]
    bounds = merge_bounds(
        conn,
        [(c[0], str(c[2])) for c in cols if c[0] not in pii],
        {n: [tuple(prev.columns[n][4:6]), tuple(stats[n][1:3])] for n in names if n not in pii},
    )
    columns = tuple(
        _column(
            c,
            prev.columns[c[0]][2] + added - int(stats[c[0]][0]),
            counts[i],
            bounds.get(c[0], (None, None)),
            None if kept is None else kept.get(c[0]),
        )
        for i, c in enumerate(cols)
    )
    return TableScan(schema, table, "BASE TABLE", total, columns)


def union_scan(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    union: UnionOf,
    scans: Mapping[str, TableScan],
    cols: list[tuple],
    pii: set[str] | frozenset[str],
) -> TableScan | None:
    """The profile of a history view from its parts' profiles of this scan; distinct
    counts recomputed over the view (None: a part not scanned, or rows that do not add up)."""
    current, past = scans.get(union.current), scans.get(union.past)
    if current is None or past is None or not all(_ordered(str(c[2])) for c in cols):
        return None
    cur = {c.name: c for c in current.columns}
    old = {c.name: c for c in past.columns}
    # valid_from is the current rows' version column; valid_to is NULL on every one of them.
    cur[union.valid_from] = cur.get(union.version_column)  # type: ignore[assignment]
    rows = current.row_count + past.row_count
    parts: dict[str, list[tuple]] = {}
    nulls: dict[str, int] = {}
    for name, _, data_type, _ in cols:
        here, there = cur.get(name), old.get(name)
        if there is None or there.null_count is None or str(there.data_type) != str(data_type):
            return None
        if name == union.valid_to:
            nulls[name] = current.row_count + there.null_count
            parts[name] = [(there.min_value, there.max_value)]
            continue
        if here is None or here.null_count is None or str(here.data_type) != str(data_type):
            return None
        nulls[name] = here.null_count + there.null_count
        parts[name] = [(here.min_value, here.max_value), (there.min_value, there.max_value)]
    relation = f"{q(schema)}.{q(table)}"
    row = _distinct_counts(conn, relation, [c[0] for c in cols], True)
    if int(row[0]) != rows:
        return None
    bounds = merge_bounds(conn, [(c[0], str(c[2])) for c in cols if c[0] not in pii], parts)
    columns = tuple(
        _column(c, nulls[c[0]], row[1 + i], bounds.get(c[0], (None, None)))
        for i, c in enumerate(cols)
    )
    return TableScan(schema, table, "VIEW", rows, columns)
