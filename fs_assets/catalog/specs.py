"""Names and column schemas of the catalog's own assets and tables.

Kept apart from the assets so that the declared-tables model (`tables.py`) can describe
`catalog.columns` without importing the scanner.
"""

from fs_assets.catalog.graph_view import DeclaredColumn
from fs_assets.model.keys import KeyPath

CATALOG_SCHEMA = "catalog"
CATALOG_GROUP = "catalog"

SCANNER_KEY: KeyPath = (CATALOG_SCHEMA, "scanner")
PROFILE_KEY: KeyPath = (CATALOG_SCHEMA, "customer_profile")
DATA_PRODUCT_KEY: KeyPath = (CATALOG_SCHEMA, "data_product")

TABLES_NAME, COLUMNS_NAME = "tables", "columns"
TABLES_TABLE = f"{CATALOG_SCHEMA}.{TABLES_NAME}"
COLUMNS_TABLE = f"{CATALOG_SCHEMA}.{COLUMNS_NAME}"
PROFILE_TABLE = f"{CATALOG_SCHEMA}.customer_profile"


def _schema(*columns: tuple[str, str, str]) -> tuple[DeclaredColumn, ...]:
    return tuple(DeclaredColumn(name=n, type=t, description=d) for n, t, d in columns)


TABLES_SCHEMA = _schema(
    ("table_schema", "VARCHAR", "Warehouse schema (raw, mastered, quarantine, meta, ...)."),
    ("table_name", "VARCHAR", "Table or view name."),
    ("table_type", "VARCHAR", "BASE TABLE or VIEW."),
    ("description", "VARCHAR", "What one row is, from the producing asset's definition."),
    ("owner", "VARCHAR", "Owners of the producing asset(s), comma-separated."),
    ("producing_asset", "VARCHAR", "Dagster asset key(s) that write the table."),
    ("row_count", "BIGINT", "count(*) at scan time."),
    ("column_count", "INTEGER", "Number of columns."),
    ("pii_columns", "VARCHAR", "Columns tagged PII, comma-separated, with their tag."),
    ("last_materialized", "TIMESTAMP", "Latest materialization of the producing asset (UTC)."),
    ("scanned_at", "TIMESTAMP", "When the scanner last profiled the table (UTC)."),
    (
        "content_fingerprint",
        "VARCHAR",
        "Keyed hash of a small table's rows when profiled: the same rows keep the profile.",
    ),
    (
        "profile_mode",
        "VARCHAR",
        "full (every row read), derived (exact from the rows added), kept (a small change: "
        "the column statistics as of distinct_as_of, a table's row_count current) or "
        "reused (unchanged since scanned_at).",
    ),
    (
        "distinct_as_of",
        "TIMESTAMP",
        "When the table's distinct counts (and, profile_mode kept, its other column "
        "statistics) were last taken over every row (UTC).",
    ),
    ("distinct_row_count", "BIGINT", "row_count when the distinct counts were counted."),
)

COLUMNS_SCHEMA = _schema(
    ("table_schema", "VARCHAR", "Warehouse schema."),
    ("table_name", "VARCHAR", "Table or view name."),
    ("column_name", "VARCHAR", "Column name."),
    ("ordinal_position", "INTEGER", "Position in the table, from 1."),
    ("data_type", "VARCHAR", "DuckDB type."),
    ("nullable", "BOOLEAN", "May be null: the declared contract if any, else DuckDB's."),
    ("description", "VARCHAR", "Meaning of the column, from the definitions."),
    ("pii_tag", "VARCHAR", "PII tag (TW.mask, TW.dob) or null."),
    ("owner", "VARCHAR", "Owners of the producing asset(s)."),
    ("producing_asset", "VARCHAR", "Dagster asset key(s) that write the table."),
    ("row_count", "BIGINT", "Rows in the table."),
    (
        "null_count",
        "BIGINT",
        "Rows where the column is null; null for a masked column of a governed view (not "
        "profiled: the mastered column it masks is).",
    ),
    ("null_pct", "DOUBLE", "null_count / row_count * 100."),
    (
        "distinct_count",
        "BIGINT",
        "Approximate number of distinct values (HyperLogLog); null when not profiled. As of "
        "distinct_as_of: a large table changed by a small share since keeps its count.",
    ),
    ("min_value", "VARCHAR", "Smallest value as text; null for PII columns (not copied out)."),
    ("max_value", "VARCHAR", "Largest value as text; null for PII columns (not copied out)."),
    ("last_materialized", "TIMESTAMP", "Latest materialization of the producing asset (UTC)."),
    (
        "distinct_as_of",
        "TIMESTAMP",
        "When distinct_count (in a table profiled 'kept', every statistic of the column) "
        "was taken over every row (UTC); null when not profiled.",
    ),
)

PROFILE_SCHEMA = _schema(
    ("slice", "VARCHAR", "'all' (every mastered customer) or 'seed_filter' (the seed's slice)."),
    ("slice_filter", "VARCHAR", "The filter of the slice, as text."),
    ("column_name", "VARCHAR", "Column of mastered.customer."),
    ("data_type", "VARCHAR", "Type in mastered.customer."),
    ("pii_tag", "VARCHAR", "PII tag, if any: such columns get no min/max/top values."),
    ("row_count", "BIGINT", "Rows in the slice."),
    ("null_count", "BIGINT", "Rows where the column is null."),
    ("null_pct", "DOUBLE", "null_count / row_count * 100 (null when the slice is empty)."),
    ("distinct_count", "BIGINT", "Exact number of distinct non-null values."),
    ("min_value", "VARCHAR", "Smallest value as text."),
    ("max_value", "VARCHAR", "Largest value as text."),
    ("top_values", "VARCHAR", "JSON [{value, count}] of the five commonest values (categoricals)."),
    ("profiled_at", "TIMESTAMP", "When the profile ran (UTC)."),
)
