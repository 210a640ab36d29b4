"""A pandera schema per mastered table, from the entity model, run inside an asset check.

The schema is a second, independent implementation of the model (pandas + pandera rather
than DuckDB SQL), so a mistake in the SQL rule builder shows up here. The table is read in
chunks of `CHUNK_ROWS` so memory stays bounded; failure cases of all chunks are summed and
a small sample is kept. Tables above `MAX_ROWS` (the 10-million-row transaction table) are
validated on a reproducible reservoir sample of `MAX_ROWS` rows, and the check says so:
row-by-row pandas validation of every transaction would cost minutes, and every row is
already covered by the SQL rule checks of the same step. On the Spark engine the same
validation runs on the same bounded chunks, streamed from Spark (see `_chunks`).
"""

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import pandas as pd
import pandera.pandas as pa

from fs_assets.entities import Entity
from fs_assets.mastered_assets import mastered_key
from fs_assets.mastering import mastered_table
from fs_assets.rules import q

CHUNK_ROWS = 500_000
MAX_ROWS = 200_000
PANDAS_DTYPES = {
    "VARCHAR": str,
    "DATE": "datetime64[ns]",
    "TIMESTAMP": "datetime64[ns]",
    "INTEGER": "Int64",
    "BIGINT": "Int64",
    "DOUBLE": "float64",
    "DECIMAL(18,2)": "float64",
}


def pandera_schema(ent: Entity) -> pa.DataFrameSchema:
    """The entity's mastered contract: dtypes, nullability, value sets, lengths, ranges;
    derived columns (amount_reporting) included."""
    columns = {}
    for col in (*ent.columns, *ent.derived_columns):
        checks = []
        if col.values is not None:
            checks.append(pa.Check.isin(list(col.values)))
        if col.max_length is not None:
            checks.append(pa.Check.str_length(max_value=col.max_length))
        if col.exact_length is not None and col.type == "VARCHAR":
            checks.append(pa.Check.str_length(col.exact_length, col.exact_length))
        if col.pattern is not None and col.type == "VARCHAR":
            checks.append(pa.Check.str_matches(col.pattern))
        if col.value_range is not None:
            checks.append(pa.Check.in_range(*col.value_range))
        columns[col.name] = pa.Column(
            PANDAS_DTYPES[col.type],
            checks=checks,
            nullable=not col.required or col.personal_only,
            unique=col.name == ent.key,
            coerce=True,
        )
    return pa.DataFrameSchema(columns, name=f"mastered.{ent.name}", strict=False)


def _chunks(conn, select_sql: str, total: int, max_rows: int) -> Iterator[pd.DataFrame]:
    """The selection in pandas chunks, sampled above `max_rows`, on either engine.

    DuckDB: a reproducible reservoir sample, fetched in vectors. Spark (a `SparkWarehouse`,
    recognised by its `pandas_chunks`): a seeded random sample of the same size, streamed
    to the driver a partition at a time. Memory is bounded by `CHUNK_ROWS` on both.
    """
    sampled = total > max_rows
    if hasattr(conn, "pandas_chunks"):
        yield from conn.pandas_chunks(
            select_sql,
            CHUNK_ROWS,
            sample_rows=max_rows if sampled else None,
            table_rows=total,
        )
        return
    sample = f" using sample reservoir({int(max_rows)} rows) repeatable (42)"
    result = conn.execute(f"{select_sql}{sample if sampled else ''}")
    while True:
        chunk = result.fetch_df_chunk(CHUNK_ROWS // 2048)
        if chunk.empty:
            return
        yield chunk


def validate_table(
    conn, ent: Entity, max_rows: int = MAX_ROWS
) -> tuple[int, int, Counter[str], list[dict[str, str]]]:
    """(rows in table, rows validated, failures per 'column: check', sample failure cases).

    `conn` is a DuckDB connection or the Spark engine's `SparkWarehouse`.
    """
    schema = pandera_schema(ent)
    cols = ", ".join(q(c) for c in (*ent.column_names, *(d.name for d in ent.derived_columns)))
    total = conn.execute(f"select count(*) from {mastered_table(ent)}").fetchone()[0]
    counts: Counter[str] = Counter()
    cases_sample: list[dict[str, str]] = []
    rows = 0
    for chunk in _chunks(conn, f"select {cols} from {mastered_table(ent)}", total, max_rows):
        rows += len(chunk)
        try:
            schema.validate(chunk, lazy=True)
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            for (column, check), n in cases.groupby(["column", "check"]).size().items():
                counts[f"{column}: {check}"] += int(n)
            for rec in cases.head(max(5 - len(cases_sample), 0)).to_dict("records"):
                cases_sample.append(
                    {k: str(rec.get(k)) for k in ("column", "check", "failure_case")}
                )
    return total, rows, counts, cases_sample


def pandera_check_tables(ent: Entity) -> list[tuple[str, str]]:
    """The table this check reads."""
    return [("mastered", ent.name)]


def pandera_check_specs(ent: Entity) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "pandera_schema",
            asset=mastered_key(ent.name),
            blocking=True,
            description=f"mastered.{ent.name} validates against its pandera schema (entity model).",
        )
    ]


def evaluate_pandera_check(conn, ent: Entity, selected: set[str]) -> Iterator[dg.AssetCheckResult]:
    if "pandera_schema" not in selected:
        return
    total, rows, counts, sample = validate_table(conn, ent)
    yield dg.AssetCheckResult(
        check_name="pandera_schema",
        asset_key=mastered_key(ent.name),
        passed=not counts,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_in_table": total,
            "rows_validated": rows,
            "sampled": rows < total,
            "failed_cases": sum(counts.values()),
            "failures_by_check": dg.MetadataValue.json(dict(counts)),
            "sample": dg.MetadataValue.json(sample),
        },
    )
