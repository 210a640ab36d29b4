"""The seed's customer profile ("Create workflow for Data Profiling"), on mastered.customer.

The seed's Flare job profiles the customer data product at `level: basic`, over the slice
`cust_segment = 'Semi' AND country = 'United States' AND occupation = 'Salaried' AND
city = 'Chicago'`. Here the same basic profile (rows, nulls, distinct, min, max, and the
commonest values of categoricals) is computed for the whole table and for that slice, the
filter values passed as query parameters. Categoricals are the columns with a value set in
the entity model. PII columns get counts only: no min, max or top values, so the profile
does not copy personal data out of the governed table.
"""

import datetime as dt
import json
from dataclasses import dataclass

import duckdb

from fs_assets.catalog.specs import CATALOG_SCHEMA, PROFILE_SCHEMA, PROFILE_TABLE
from fs_assets.catalog.store import create_table, insert_rows
from fs_assets.engines.base import CheckReader
from fs_assets.model.columns import Column
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import mastered_table
from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import transaction

# The seed's slice, column by column (values are bound as parameters, never formatted in).
SEED_SLICE: tuple[tuple[str, str], ...] = (
    ("cust_segment", "Semi"),
    ("country", "United States"),
    ("occupation", "Salaried"),
    ("city", "Chicago"),
)
TOP_N = 5


@dataclass(frozen=True)
class Slice:
    name: str
    filters: tuple[tuple[str, str], ...]

    @property
    def where(self) -> str:
        if not self.filters:
            return ""
        return "where " + " and ".join(f"{q(col)} = ?" for col, _ in self.filters)

    @property
    def params(self) -> list[str]:
        return [value for _, value in self.filters]

    @property
    def label(self) -> str:
        if not self.filters:
            return "all rows"
        return " and ".join(f"{col} = '{value}'" for col, value in self.filters)


SLICES = (Slice("all", ()), Slice("seed_filter", SEED_SLICE))


def _is_categorical(col: Column) -> bool:
    return col.values is not None and not col.pii


def profile_slice(
    conn: CheckReader, sl: Slice, now: dt.datetime, types: dict[str, str]
) -> list[dict[str, object]]:
    """One row per column of mastered.customer for the rows of `sl`: one aggregate query,
    and one per categorical column for its commonest values. `conn` runs DuckDB SQL (a
    DuckDB connection, or the Spark warehouse, which transpiles it); `types`: the
    table's column types by name, as DuckDB names them."""
    table = mastered_table(CUSTOMER)
    columns = [c for c in CUSTOMER.columns if c.name in types]
    exprs = ["count(*)"]
    for col in columns:
        c = q(col.name)
        exprs += [f"count({c})", f"count(distinct {c})"]
        exprs += (
            ["null::varchar", "null::varchar"]
            if col.pii
            else [f"min({c})::varchar", f"max({c})::varchar"]
        )
    row = conn.execute(f"select {', '.join(exprs)} from {table} {sl.where}", sl.params).fetchone()
    total = int(row[0])
    out = []
    for i, col in enumerate(columns):
        non_null, distinct, lo, hi = row[1 + 4 * i : 5 + 4 * i]
        top = None
        if _is_categorical(col):
            c = q(col.name)
            pairs = conn.execute(
                f"select {c}::varchar, count(*) from {table} {sl.where} "
                f"group by 1 order by 2 desc, 1 nulls last limit {TOP_N}",
                sl.params,
            ).fetchall()
            top = json.dumps([{"value": v, "count": n} for v, n in pairs], ensure_ascii=False)
        out.append(
            {
                "slice": sl.name,
                "slice_filter": sl.label,
                "column_name": col.name,
                "data_type": types[col.name],
                "pii_tag": col.pii,
                "row_count": total,
                "null_count": total - int(non_null),
                "null_pct": round(100.0 * (total - int(non_null)) / total, 4) if total else None,
                "distinct_count": int(distinct),
                "min_value": lo,
                "max_value": hi,
                "top_values": top,
                "profiled_at": now,
            }
        )
    return out


def profile_customer(conn: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    """The profile of mastered.customer in the DuckDB file."""
    types = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'mastered' and table_name = ?",
            [CUSTOMER.name],
        ).fetchall()
    )
    return profile_rows(conn, types)


def profile_rows(conn: CheckReader, types: dict[str, str]) -> list[dict[str, object]]:
    """Every slice's profile rows, read through `conn` (see `profile_slice`)."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return [row for sl in SLICES for row in profile_slice(conn, sl, now, types)]


def write_profile(conn: duckdb.DuckDBPyConnection, rows: list[dict[str, object]]) -> None:
    """Replace catalog.customer_profile in one transaction."""
    with transaction(conn):
        conn.execute(f"create schema if not exists {CATALOG_SCHEMA}")
        create_table(conn, PROFILE_TABLE, PROFILE_SCHEMA)
        insert_rows(conn, PROFILE_TABLE, PROFILE_SCHEMA, rows)


def profile_markdown(rows: list[dict[str, object]]) -> str:
    """One Markdown table per slice, as the seed's profile report shows them."""
    parts = []
    for sl in SLICES:
        mine = [r for r in rows if r["slice"] == sl.name]
        total = mine[0]["row_count"] if mine else 0
        parts += [
            f"### {sl.name}: {sl.label} ({total:,} rows)",
            "",
            "| column | type | nulls % | distinct | min | max | top values |",
            "|---|---|---:|---:|---|---|---|",
        ]
        for r in mine:
            top = (
                ", ".join(f"{t['value']} ({t['count']})" for t in json.loads(r["top_values"]))
                if r["top_values"]
                else ""
            )
            pct = "" if r["null_pct"] is None else f"{r['null_pct']:.1f}"
            lo = "PII" if r["pii_tag"] else (r["min_value"] or "")
            hi = "PII" if r["pii_tag"] else (r["max_value"] or "")
            parts.append(
                f"| {r['column_name']} | {r['data_type']} | {pct} | {r['distinct_count']:,} "
                f"| {lo} | {hi} | {top.replace('|', '/')} |"
            )
        parts.append("")
    return "\n".join(parts)
