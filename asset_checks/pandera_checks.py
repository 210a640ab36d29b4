"""A pandera schema per mastered table, from the entity model, run inside an asset check.

The schema is a second, independent implementation of the model (pandas + pandera rather
than DuckDB SQL), so a mistake in the SQL rule builder shows up here. The table is read in
chunks of `CHUNK_ROWS` so memory stays bounded; failure cases of all chunks are summed and
a small sample is kept. Tables above `MAX_ROWS` (the 10-million-row transaction table) are
validated on a reproducible reservoir sample of `MAX_ROWS` rows (drawn by row id), and
the check says so: row-by-row pandas validation of every transaction would cost minutes,
and every row is already covered by the SQL rule checks of the same step. On the Spark
engine the same validation runs on the same bounded chunks, streamed from Spark (see
`_chunks`).
"""

import itertools
from collections import Counter
from collections.abc import Callable, Iterator

import dagster as dg
import pandas as pd
import pandera.pandas as pa
import pyarrow

from asset_checks.check_scope import FULL_SCOPE, CheckScope
from fs_assets.defs.keys import mastered_key
from fs_assets.model.columns import Entity
from fs_assets.model.keys import mastered_table
from fs_assets.model.places import (
    COUNTRIES,
    COUNTRY_CODES,
    MOBILE_FORMAT_BY_COUNTRY,
    PIN_FORMAT_BY_COUNTRY,
    country_state_city_triples,
    country_state_pairs,
)
from fs_assets.model.rules import q
from fs_assets.model.value_sets import (
    CONTROL_CHARACTERS,
    CUSTOMER_TYPES,
    FREE_TEXT_CONTROL_CHARACTERS,
    GENDERS,
    MINOR_BELOW_AGE,
    SENIOR_FROM_AGE,
    TITLES_BY_GENDER,
)

CHUNK_ROWS = 500_000
MAX_ROWS = 200_000
# Text is coerced to Arrow-backed strings: pandera then checks the column's dtype once
# instead of testing every value with isinstance, and the string checks run in pyarrow
# (the customer's 200,000-row validation: 7.8 s of CPU with `str`, 3.8 s with this).
# Comparisons on these columns are null-aware (`_eq`), as they were on Python objects.
PANDAS_DTYPES = {
    "VARCHAR": "string[pyarrow]",
    "DATE": "datetime64[ns]",
    "TIMESTAMP": "datetime64[ns]",
    "INTEGER": "Int64",
    "BIGINT": "Int64",
    "DOUBLE": "float64",
    "DECIMAL(18,2)": "float64",
}


def _joined(df: pd.DataFrame, *columns: str) -> pd.Series:
    out = df[columns[0]].astype("string")
    for c in columns[1:]:
        out = out + "|" + df[c].astype("string").fillna("")
    return out


def _has_match(values: pd.Series, pattern: str) -> pd.Series:
    """Whether each value holds a match of `pattern` (False for null). Arrow-backed text:
    the search runs in pyarrow (RE2) instead of Python's re, value by value, several times
    faster on the sample's columns; the character classes mean the same in both."""
    return values.astype("string[pyarrow]").str.contains(pattern).fillna(False)


def _eq(values: pd.Series, other: object) -> pd.Series:
    """values == other, False where either is null (Arrow-backed text compares to NA)."""
    return (values == other).fillna(False).astype(bool)


def _in(values: pd.Series, allowed: object) -> pd.Series:
    return values.isin(list(allowed)).fillna(False).astype(bool)


def _country_format(df: pd.DataFrame, column: str, formats: dict[str, str]) -> pd.Series:
    ok = pd.Series(True, index=df.index)
    for country, pattern in formats.items():
        rows = _eq(df["country"], country) & df[column].notna()
        matched = df.loc[rows, column].astype(str).str.fullmatch(pattern)
        ok.loc[rows] = matched.fillna(False).astype(bool)
    return ok


def _age_flag(df: pd.DataFrame, flag: str, years: int, younger: bool) -> pd.Series:
    """The flag agrees with the age in whole years on the version's modified_at."""
    dob = pd.to_datetime(df["cust_dob"], errors="coerce")
    day = pd.to_datetime(df["modified_at"], errors="coerce").dt.normalize()
    shifted = day - pd.DateOffset(years=years)  # 29 February falls back to the 28th
    is_younger = dob > shifted
    expected = (is_younger if younger else ~is_younger).map({True: "Yes", False: "No"})
    applies = _eq(df["customer_type"], "Personal") & dob.notna() & day.notna()
    applies &= _in(df[flag], ("Yes", "No"))
    return ~applies | _eq(df[flag], expected)


def _all_null_rows(df: pd.DataFrame, key: str) -> pd.Series:
    """Rows whose every value is null: only rows without a key can be, so only those are
    looked at (a frame-wide isna per check cost a fifth of the customer validation)."""
    rows = df[key].isna()
    if rows.any():
        rows.loc[rows] = df.loc[rows].isna().all(axis="columns")
    return rows


def _frame_check(fn: Callable[[pd.DataFrame], pd.Series], name: str, key: str) -> pa.Check:
    """A check over whole rows with pandera's own null handling done once, here.

    pandera passes an all-null row of a frame-wide check itself (`ignore_na`, on by
    default) by testing every cell of the frame for null, once per check. The check
    passes such rows the same way from a test of the rows without a key; its failure
    cases lose their null cells in `validate_table`, as pandera's `ignore_na` drops them.
    """
    return pa.Check(lambda df: fn(df) | _all_null_rows(df, key), name=name, ignore_na=False)


def customer_cross_field_checks(key: str) -> list[pa.Check]:
    """The customer's cross-field rules (rules.py), written again in pandas, same names;
    `key` is the customer key column."""
    pairs = {f"{c}|{s}" for c, s in country_state_pairs()}
    triples = {f"{c}|{s}|{x}" for c, s, x in country_state_city_triples()}
    codes = {f"{c}|{k}" for c, k in COUNTRY_CODES.items()}
    titles = {f"{g}|{t}" for g, ts in TITLES_BY_GENDER.items() for t in ts} | {
        f"{g}|" for g, ts in TITLES_BY_GENDER.items() if not ts
    }

    def state_in_country(df: pd.DataFrame) -> pd.Series:
        applies = _in(df["country"], COUNTRIES) & df["state"].notna()
        return ~applies | _in(_joined(df, "country", "state"), pairs)

    def city_in_state(df: pd.DataFrame) -> pd.Series:
        applies = _in(_joined(df, "country", "state"), pairs) & df["city"].notna()
        return ~applies | _in(_joined(df, "country", "state", "city"), triples)

    def code_matches(df: pd.DataFrame) -> pd.Series:
        applies = _in(df["country"], COUNTRIES) & df["country_code"].notna()
        return ~applies | _in(_joined(df, "country", "country_code"), codes)

    def dob_not_future(df: pd.DataFrame) -> pd.Series:
        dob = pd.to_datetime(df["cust_dob"], errors="coerce")
        day = pd.to_datetime(df["modified_at"], errors="coerce").dt.normalize()
        return ~(dob > day).fillna(False).astype(bool)

    def title_matches(df: pd.DataFrame) -> pd.Series:
        applies = _eq(df["customer_type"], "Personal") & _in(df["gender"], GENDERS)
        joined = df["gender"].astype("string") + "|" + df["cust_title"].astype("string").fillna("")
        return ~applies | _in(joined, titles)

    checks = {
        "state__in_country": state_in_country,
        "city__in_state": city_in_state,
        "pin__country_format": lambda df: _country_format(df, "pin", PIN_FORMAT_BY_COUNTRY),
        "mobile_number1__country_format": lambda df: _country_format(
            df, "mobile_number1", MOBILE_FORMAT_BY_COUNTRY
        ),
        "country_code__matches_country": code_matches,
        "minor_flag__matches_dob": lambda df: _age_flag(df, "minor_flag", MINOR_BELOW_AGE, True),
        "senior_citizen_flag__matches_dob": lambda df: _age_flag(
            df, "senior_citizen_flag", SENIOR_FROM_AGE, False
        ),
        "cust_dob__not_future": dob_not_future,
        "cust_title__matches_gender": title_matches,
    }
    return [_frame_check(fn, name, key) for name, fn in checks.items()]


def _personal_only_check(column: str, key: str) -> pa.Check:
    others = [t for t in CUSTOMER_TYPES if t != "Personal"]

    def empty_unless_personal(df: pd.DataFrame) -> pd.Series:
        filled = df[column].notna() & (df[column].astype("string").str.strip() != "")
        return ~(_in(df["customer_type"], others) & filled.fillna(False).astype(bool))

    return _frame_check(empty_unless_personal, f"{column}__personal_only", key)


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
        if col.type == "VARCHAR":
            pattern = FREE_TEXT_CONTROL_CHARACTERS if col.free_text else CONTROL_CHARACTERS
            checks.append(
                pa.Check(
                    lambda s, p=pattern: ~_has_match(s, p),
                    name=f"{col.name}__control_characters",
                )
            )
        columns[col.name] = pa.Column(
            PANDAS_DTYPES[col.type],
            checks=checks,
            nullable=not col.required or col.personal_only,
            unique=col.name == ent.key,
            coerce=True,
        )
    wide = []
    if ent.name == "customer":
        wide = customer_cross_field_checks(ent.key)
        wide += [_personal_only_check(c.name, ent.key) for c in ent.columns if c.personal_only]
    return pa.DataFrameSchema(columns, checks=wide, name=f"mastered.{ent.name}", strict=False)


def _sample_sql(cols: str, table: str, max_rows: int) -> str:
    """A reproducible reservoir sample of `max_rows` rows of `table` (DuckDB).

    A table is sampled by its row ids, then those rows are read: the reservoir holds one
    narrow column instead of every column of every row (a third of the cost on the
    transaction table). A subquery (the changed keys' rows) has no row ids: sampled whole.
    """
    sample = f"using sample reservoir({int(max_rows)} rows) repeatable (42)"
    if table.startswith("("):
        return f"select {cols} from {table} {sample}"
    return (
        f"select {cols} from {table} semi join "
        f"(select rowid as _sampled from {table} {sample}) s on {table}.rowid = s._sampled"
    )


def _chunks(conn, cols: str, table: str, total: int, max_rows: int) -> Iterator[pd.DataFrame]:
    """`cols` of `table` in pandas chunks, sampled above `max_rows`, on either engine.

    DuckDB: a reproducible reservoir sample (`_sample_sql`), fetched as Arrow batches of
    `CHUNK_ROWS`, read with the schema's own dtypes (`_pandas_type`). Spark (a
    `SparkWarehouse`, recognised by its `pandas_chunks`): a seeded random sample of the
    same size, streamed to the driver a partition at a time. Memory is bounded by
    `CHUNK_ROWS` on both.
    """
    sampled = total > max_rows
    select_sql = f"select {cols} from {table}"
    if hasattr(conn, "pandas_chunks"):
        yield from conn.pandas_chunks(
            select_sql,
            CHUNK_ROWS,
            sample_rows=max_rows if sampled else None,
            table_rows=total,
        )
        return
    # A relation streams its batches (an execute() result would copy every row first).
    # DuckDB may hand out smaller batches than asked (a row group, a thread's share), so
    # they are gathered into chunks of CHUNK_ROWS: a chunk is what pandera's unique and
    # table-wide checks see, and two copies of a key in one chunk must meet there.
    relation = conn.sql(_sample_sql(cols, table, max_rows) if sampled else select_sql)
    gathered: list[pyarrow.RecordBatch] = []
    rows = 0
    for batch in itertools.chain(relation.to_arrow_reader(CHUNK_ROWS), [None]):
        if batch is not None and batch.num_rows:
            gathered.append(batch)
            rows += batch.num_rows
        if gathered and (batch is None or rows >= CHUNK_ROWS):
            chunk = pyarrow.Table.from_batches(gathered)
            gathered, rows = [], 0
            yield chunk.to_pandas(types_mapper=_pandas_type, date_as_object=False)


def _pandas_type(arrow_type: pyarrow.DataType) -> pd.api.extensions.ExtensionDtype | None:
    """The pandas type a chunk's Arrow column is read as: the schema's own (PANDAS_DTYPES)
    for text and integers, so coercion has nothing left to convert (the customer's 200,000
    rows: 1.7 s of CPU fetching Python strings and coercing them, 0.5 s this way); None
    leaves pandas' default (dates and times as datetime64, coerced to ns)."""
    if pyarrow.types.is_string(arrow_type) or pyarrow.types.is_large_string(arrow_type):
        target = PANDAS_DTYPES["VARCHAR"]
    elif pyarrow.types.is_integer(arrow_type):
        target = PANDAS_DTYPES["BIGINT"]
    else:
        return None
    dtype = pd.api.types.pandas_dtype(target)
    return dtype if isinstance(dtype, pd.api.extensions.ExtensionDtype) else None


def validate_table(
    conn, ent: Entity, max_rows: int = MAX_ROWS, scope: CheckScope = FULL_SCOPE
) -> tuple[int, int, Counter[str], list[dict[str, str]]]:
    """(rows in table, rows validated, failures per 'column: check', sample failure cases).

    `conn` is a DuckDB connection or the Spark engine's `SparkWarehouse`. Incremental, the
    rows are the changed keys' (the schema's checks are per row, as the rules are).
    """
    schema = pandera_schema(ent)
    cols = ", ".join(q(c) for c in (*ent.column_names, *(d.name for d in ent.derived_columns)))
    table = scope.rows(ent, mastered_table(ent))
    # Fetched whole: a fetchone leaves the result open, and the chunks need the connection.
    total = conn.execute(f"select count(*) from {table}").fetchall()[0][0]
    counts: Counter[str] = Counter()
    cases_sample: list[dict[str, str]] = []
    rows = 0
    for chunk in _chunks(conn, cols, table, total, max_rows):
        rows += len(chunk)
        try:
            schema.validate(chunk, lazy=True)
        except pa.errors.SchemaErrors as errors:
            cases = errors.failure_cases
            # What pandera's ignore_na drops from a frame-wide check's cases (_frame_check).
            frame_wide = {c.name for c in schema.checks}
            cases = cases[~(cases["check"].isin(frame_wide) & cases["failure_case"].isna())]
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


def evaluate_pandera_check(
    conn, ent: Entity, selected: set[str], scope: CheckScope = FULL_SCOPE
) -> Iterator[dg.AssetCheckResult]:
    if "pandera_schema" not in selected:
        return
    total, rows, counts, sample = validate_table(conn, ent, scope=scope)
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
