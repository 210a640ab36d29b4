"""The catalog scanner's pass over the Spark engine's tables.

On the Spark engine the warehouse tables are Parquet versions behind manifests
(`engines/spark_tables.py` lists them as the manifests name them now), not tables of the
DuckDB file. Each is profiled by one Spark aggregate job, the statistics of
`scanner.scan_table` (rows, and per column non-null count, approximate distinct count,
min and max as text; none for PII columns, none for a governed table's masked columns, as
the DuckDB scan leaves a view's masked columns out), so no row reaches this process.

Spark's types are named as DuckDB names them (`duckdb_type`), so a catalog reads the same
on either engine; every Spark table is a BASE TABLE (a governed table is written, not a
view) and every Parquet column is nullable. Content fingerprints: a table keeps its stored
profile while the folders its manifest names are the same (a version folder is written
once and never changed), the folders' hash being stored in `content_fingerprint`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fs_assets.catalog.scan_types import ColumnScan, StoredProfile, TableScan
from fs_assets.catalog.scanner import LastMaterialized, ScanResult
from fs_assets.catalog.tables import DeclaredTable
from fs_assets.engines.spark_tables import CurrentTable, current_tables, read_current
from fs_assets.engines.spark_types import duckdb_type
from fs_assets.model.entities import CUSTOMER
from fs_assets.transforms.governance import GOVERNED_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

    from fs_assets.engines.spark_warehouse import SparkWarehouse

BASE_TABLE = "BASE TABLE"
PARALLEL_JOBS = 4  # tables profiled at once (each one Spark job)


def _orderable(data_type: DataType) -> bool:
    """Whether min and max mean something (DuckDB also orders lists of plain values)."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(data_type, ArrayType):
        return _orderable(data_type.elementType) and not isinstance(
            data_type.elementType, ArrayType
        )
    return not isinstance(data_type, MapType | StructType)


def _col(name: str) -> Column:
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")  # a name is data, never a path


def profile_frame(
    frame: DataFrame, hidden: set[str] | frozenset[str], pii: set[str] | frozenset[str]
) -> tuple[int, dict[str, tuple]]:
    """Rows, and per profiled column (non-null, approximate distinct, min, max): one job."""
    from pyspark.sql import functions as F

    fields = [f for f in frame.schema.fields if f.name not in hidden]
    exprs = [F.count(F.lit(1))]
    for f in fields:
        c = _col(f.name)
        exprs += [F.count(c), F.approx_count_distinct(c)]
        if f.name in pii or not _orderable(f.dataType):
            exprs += [F.lit(None).cast("string"), F.lit(None).cast("string")]
        else:
            exprs += [F.min(c).cast("string"), F.max(c).cast("string")]
    row = frame.agg(*exprs).collect()[0]
    stats = {f.name: tuple(row[1 + 4 * i : 5 + 4 * i]) for i, f in enumerate(fields)}
    return int(row[0]), stats


def scan_current(wh: SparkWarehouse, table: CurrentTable, decl: DeclaredTable | None) -> TableScan:
    """Profile one current Spark table (see the module docstring)."""
    frame = read_current(wh, table)
    pii = set(decl.pii_columns) if decl else set()
    hidden = decl.masked_columns if decl and table.schema == GOVERNED_SCHEMA else set()
    total, stats = profile_frame(frame, hidden, pii)
    columns = []
    for position, f in enumerate(frame.schema.fields, start=1):
        non_null, distinct, lo, hi = stats.get(f.name, (None, None, None, None))
        columns.append(
            ColumnScan(
                name=f.name,
                position=position,
                data_type=duckdb_type(f.dataType),
                nullable=True,
                null_count=None if non_null is None else total - int(non_null),
                distinct_count=None if distinct is None else int(distinct),
                min_value=lo,
                max_value=hi,
            )
        )
    return TableScan(table.schema, table.name, BASE_TABLE, total, tuple(columns))


def _kept(stored: StoredProfile | None, table: CurrentTable) -> TableScan | None:
    """The stored profile when it still holds: the manifest names the same folders (a
    version folder is never rewritten, so the rows and columns are the same)."""
    if stored is None or stored.table_type != BASE_TABLE:
        return None
    if stored.fingerprint != table.fingerprint or not stored.columns:
        return None
    columns = sorted(
        (ColumnScan(n, int(c[0]), str(c[1]), True, *c[2:]) for n, c in stored.columns.items()),
        key=lambda c: c.position,
    )
    return TableScan(table.schema, table.name, BASE_TABLE, stored.row_count, tuple(columns))


@dataclass
class SparkScan:
    """The Spark tables' scans, their fingerprints, and which kept their profile."""

    tables: list[TableScan] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    reused: dict[str, dt.datetime] = field(default_factory=dict)
    # A kept profile's distinct counts: when counted over every row, and the rows then.
    distinct: dict[str, tuple[dt.datetime, int]] = field(default_factory=dict)


def scan_spark(
    wh: SparkWarehouse,
    declared: Mapping[str, DeclaredTable],
    stored: Mapping[str, StoredProfile],
    parallel: int = PARALLEL_JOBS,
) -> SparkScan:
    """Scan every current Spark table; one whose folders have not changed since the last
    scan (`stored`, empty to profile all) keeps its profile without a Spark job. The
    tables' jobs are submitted from `parallel` threads, so the cluster runs several at
    once instead of waiting on each one's scheduling."""
    out = SparkScan()
    todo = []
    for table in current_tables(wh):
        out.fingerprints[table.full_name] = table.fingerprint
        prev = stored.get(table.full_name)
        kept = _kept(prev, table)
        if kept is not None and prev is not None:
            out.tables.append(kept)
            out.reused[table.full_name] = prev.scanned_at
            out.distinct[table.full_name] = (
                prev.distinct_as_of or prev.scanned_at,
                prev.row_count if prev.distinct_rows is None else prev.distinct_rows,
            )
        else:
            todo.append(table)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        out.tables += pool.map(lambda t: scan_current(wh, t, declared.get(t.full_name)), todo)
    return out


def add_spark_tables(
    result: ScanResult,
    wh: SparkWarehouse,
    last_materialized: LastMaterialized,
    stored: Mapping[str, StoredProfile],
) -> None:
    """Add the Spark tables' scans to `result` (the DuckDB file's own tables: meta, the
    ingest ledger), with when their producers last materialized."""
    scan = scan_spark(wh, result.declared, stored)
    for table in scan.tables:
        decl = result.declared.get(table.name)
        times = [last_materialized(k) for k in decl.producers] if decl else []
        known = [t for t in times if t is not None]
        result.last_materialized[table.name] = max(known) if known else None
    result.tables = sorted([*result.tables, *scan.tables], key=lambda t: (t.schema, t.table))
    result.fingerprints.update(scan.fingerprints)
    result.reused.update(scan.reused)
    for table in scan.tables:  # a profile taken now counted every row now
        result.distinct[table.name] = scan.distinct.get(
            table.name, (result.scanned_at, table.row_count)
        )


def profile_customer_spark(wh: SparkWarehouse) -> list[dict[str, object]]:
    """The customer profile (profile.py) from mastered.customer's current Spark version:
    the same DuckDB SQL, transpiled, each query one Spark job."""
    from fs_assets.catalog.profile import profile_rows
    from fs_assets.engines.portable import view_name
    from fs_assets.engines.spark_warehouse import register_tables

    table = ("mastered", CUSTOMER.name)
    register_tables(wh, [table])
    schema = wh.spark.table(view_name(*table)).schema
    return profile_rows(wh, {f.name: duckdb_type(f.dataType) for f in schema.fields})
