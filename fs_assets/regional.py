"""`mastered.customer_by_region`: the seed's country/state layout as a partitioned asset.

The seed writes the mastered customer table with an Iceberg partition spec on (country,
state). Here each valid pair is one Dagster partition of a StaticPartitionsDefinition,
keyed 'Country|State' (e.g. 'India|Tamil Nadu'). Why static and not the alternatives:
- MultiPartitionsDefinition(country x state) is a cross product: 13 countries times 40-odd
  states, nearly all impossible pairs, each a partition to backfill and to show as missing.
- Dynamic partitions added by a sensor would let any pair that shows up in the data become
  a partition silently, including typos.
Static keys make the partitions exactly the pairs of the entity model. A pair that shows
up in mastered.customer but not in the model is not dropped: its rows belong to no
partition, and the `region_pairs_known` check fails naming the pair and its row count
(as does `union_matches_mastered`), until the model learns the pair or the data is fixed.

Partitions are written in one DuckDB transaction (delete the pairs, insert the pairs) and
also exported as Hive-style Parquet, `<warehouse>/customer_overview/country=<c>/state=<s>/`
(folder names are the values themselves, UTF-8, so 'Tromsø' and 'Île-de-France' round-trip
exactly), built in a staging folder and swapped in, so DuckDB
(`read_parquet(..., hive_partitioning=true)`), Spark and Trino read a complete partition or
the previous one, with partition pruning on both columns.

With the Spark engine the Hive folders are the only copy (there is no DuckDB table); the
checks then read them as `mastered.customer_by_region` and run the same SQL on Spark.

Governance: the layout is mastered data, PII in clear, so it is the pii-reader's layout
and stays inside the warehouse boundary: `<warehouse>/customer_overview/` and every
folder under it are 0700 and its files 0600 (set explicitly, whatever the umask). Other
roles read customers through their exports (governance/export.py), never these files.
`_source_file` is written relative to the landing folder (a file outside it by its name
only), so the files carry no absolute path of the machine that built them.
"""

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from fs_assets.automation import DOWNSTREAM
from fs_assets.catalog_metadata import column_schema, table_name
from fs_assets.entities import CUSTOMER, OWNER, country_state_pairs
from fs_assets.file_modes import make_owner_only
from fs_assets.mastered_assets import mastered_key
from fs_assets.mastering import mastered_table
from fs_assets.paths import data_paths
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

SEPARATOR = "|"
REGION_KEY = dg.AssetKey(["mastered", "customer_by_region"])
REGION_TABLE = "mastered.customer_by_region"
EXPORT_NAME = "customer_overview"
REGION_PARTITIONS = dg.StaticPartitionsDefinition(
    [f"{country}{SEPARATOR}{state}" for country, state in country_state_pairs()]
)


# The mastered customers of the pairs in `_pairs`: the one selection both engines run.
REGION_SELECT_SQL = (
    f"select m.* from {mastered_table(CUSTOMER)} m "
    "semi join _pairs p on p.country = m.country and p.state = m.state "
    "order by m.country, m.state, m.cust_id"
)


def partition_key(country: str, state: str) -> str:
    return f"{country}{SEPARATOR}{state}"


def split_key(key: str) -> tuple[str, str]:
    country, sep, state = key.partition(SEPARATOR)
    if not sep or not country or not state:
        raise ValueError(f"not a region partition key: {key!r} (expected 'Country|State')")
    return country, state


def partition_dir(export_root: Path, country: str, state: str) -> Path:
    return export_root / EXPORT_NAME / f"country={country}" / f"state={state}"


def ensure_region_table(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        f"create table if not exists {REGION_TABLE} as select * from {mastered_table(CUSTOMER)} "
        "limit 0"
    )


def landing_prefixes(landing: Path | None) -> list[str]:
    """The landing folder as `_source_file` may start with it (as given and resolved)."""
    if landing is None:
        return []
    return sorted({f"{landing}/", f"{landing.resolve()}/"}, key=len, reverse=True)


def relative_source_sql(prefixes: list[str]) -> tuple[str, list[str]]:
    """SQL for `_source_file` relative to the landing folder, and its parameters.

    The prefixes are parameters (data, never patterns); a path under none of them keeps
    only its file name.
    """
    sql = "regexp_extract(_source_file, '[^/]*$')"
    params: list[str] = []
    for prefix in reversed(prefixes):
        sql = (
            "case when starts_with(_source_file, ?) then substr(_source_file, length(?) + 1) "
            f"else {sql} end"
        )
        params = [prefix, prefix, *params]
    return sql, params


def _export_parquet(
    conn: duckdb.DuckDBPyConnection,
    export_root: Path,
    country: str,
    state: str,
    landing: Path | None = None,
) -> Path:
    """Write the pair's rows to a staging folder; returns it (swapped in after commit)."""
    staging = export_root / ".staging" / f"{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    source_sql, source_params = relative_source_sql(landing_prefixes(landing))
    table = conn.sql(
        f"select * exclude (country, state) replace ({source_sql} as _source_file) "
        f"from {REGION_TABLE} where country = ? and state = ? order by cust_id",
        params=[*source_params, country, state],
    ).to_arrow_table()
    pq.write_table(table, staging / "part-00000.parquet", compression="zstd")
    return staging


def _swap_in(staging: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    old = staging.parent / f"old-{uuid.uuid4().hex}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def restrict_layout(export_root: Path) -> None:
    """The pii-reader layout owner-only: 0700 folders, 0600 files, whatever the umask."""
    root = export_root / EXPORT_NAME
    for path in (export_root, root, *root.rglob("*")):
        make_owner_only(path)


def write_partitions(
    conn: duckdb.DuckDBPyConnection,
    export_root: Path,
    pairs: list[tuple[str, str]],
    landing: Path | None = None,
) -> dict[str, int]:
    """Replace exactly these (country, state) partitions, table and Parquet; rows per key.

    The table side is one transaction for all the pairs (set-based: one delete, one
    insert, however many partitions a backfill covers); the Parquet folders are staged
    inside it and swapped in after the commit. A failure leaves every partition as it was.
    """
    ensure_region_table(conn)
    staged: dict[tuple[str, str], Path] = {}
    conn.execute("begin transaction")
    try:
        conn.execute("create or replace temp table _pairs (country varchar, state varchar)")
        conn.executemany("insert into _pairs values (?, ?)", [list(p) for p in pairs])
        conn.execute(
            f"delete from {REGION_TABLE} r where exists "
            "(select 1 from _pairs p where p.country = r.country and p.state = r.state)"
        )
        conn.execute(f"insert into {REGION_TABLE} {REGION_SELECT_SQL}")
        rows = dict(
            conn.execute(
                f"select r.country || ? || r.state, count(*) from {REGION_TABLE} r "
                "semi join _pairs p on p.country = r.country and p.state = r.state group by 1",
                [SEPARATOR],
            ).fetchall()
        )
        for country, state in pairs:
            staged[(country, state)] = _export_parquet(conn, export_root, country, state, landing)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        for folder in staged.values():
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        conn.execute("drop table if exists _pairs")
    for (country, state), folder in staged.items():
        _swap_in(folder, partition_dir(export_root, country, state))
    restrict_layout(export_root)
    return {partition_key(c, s): rows.get(partition_key(c, s), 0) for c, s in pairs}


def write_partition(
    conn: duckdb.DuckDBPyConnection,
    export_root: Path,
    country: str,
    state: str,
    landing: Path | None = None,
) -> int:
    """Replace exactly one (country, state) partition, table and Parquet; returns its rows."""
    written = write_partitions(conn, export_root, [(country, state)], landing)
    return written[partition_key(country, state)]


@dg.asset(
    key=REGION_KEY,
    partitions_def=REGION_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=DOWNSTREAM,
    group_name="mastered",
    owners=[OWNER],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[mastered_key(CUSTOMER.name)],
    description=(
        "Mastered customers laid out by country and state, the seed's partition spec. Grain: one "
        "row per customer (cust_id); partition: one valid (country, state) pair of the entity "
        "model, key 'Country|State'. Also exported as Hive-style Parquet under "
        f"warehouse/{EXPORT_NAME}/country=<c>/state=<s>/ for Spark, Trino or DuckDB: PII in "
        "clear, so the pii-reader's layout, owner-only (0700 folders, 0600 files)."
    ),
    metadata={
        "dagster/table_name": table_name("mastered", "customer_by_region"),
        "dagster/column_schema": column_schema(CUSTOMER, typed=True),
        # Every column is mastered.customer's, copied: column lineage for the catalog.
        "dagster/column_lineage": dg.TableColumnLineage(
            {
                c.name: [
                    dg.TableColumnDep(asset_key=mastered_key(CUSTOMER.name), column_name=c.name)
                ]
                for c in column_schema(CUSTOMER, typed=True).columns
            }
        ),
        "hive_layout": f"warehouse/{EXPORT_NAME}/country=<country>/state=<state>/*.parquet",
    },
)
def customer_by_region(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Write the selected partitions (one, or all of a single-run backfill)."""
    pairs = [split_key(k) for k in context.partition_keys]
    landing = data_paths(warehouse.home).landing
    with warehouse.open_engine() as engine:
        by_pair = engine.write_partitions(pairs, landing)
    written = {partition_key(c, s): n for (c, s), n in by_pair.items()}
    context.log.info(f"wrote {len(written)} partitions, {sum(written.values())} rows")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(sum(written.values())),
            "partitions_written": len(written),
            "rows_by_partition": dg.MetadataValue.json(written),
        }
    )


@contextmanager
def _check_reader(warehouse: WarehouseResource) -> Iterator[tuple[Any, bool, bool]]:
    """(reader, whether customer_by_region exists, whether its Hive folders are the table)
    for the regional checks, from the engine (`Engine.for_region_checks`)."""
    with warehouse.open_engine() as engine, engine.for_region_checks() as region:
        yield region.conn, region.region_exists, region.hive_is_table


@dg.asset_check(
    asset=REGION_KEY,
    name="partition_matches_mastered",
    partitions_def=REGION_PARTITIONS,
    blocking=True,
    pool=WAREHOUSE_POOL,
    description=(
        "The partition being written holds exactly the mastered customers of its (country, "
        "state), in the table and in its Hive Parquet folder."
    ),
)
def partition_matches_mastered(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    problems: dict[str, dict[str, int]] = {}
    with _check_reader(warehouse) as (conn, _, hive_is_table):
        for key in context.partition_keys:
            country, state = split_key(key)
            expected, in_table, missing = conn.execute(
                f"""select
                  (select count(*) from {mastered_table(CUSTOMER)} where country = ? and state = ?),
                  (select count(*) from {REGION_TABLE} where country = ? and state = ?),
                  (select count(*) from {mastered_table(CUSTOMER)} m
                     where country = ? and state = ? and not exists (
                       select 1 from {REGION_TABLE} r where r.cust_id = m.cust_id
                         and r.country = m.country and r.state = m.state))""",
                [country, state] * 3,
            ).fetchone()
            if hive_is_table:
                # The Hive folder is the table on Spark (a pair without rows has none).
                in_parquet = in_table
            else:
                folder = partition_dir(warehouse.export_dir, country, state)
                in_parquet = (
                    sum(pq.ParquetFile(f).metadata.num_rows for f in folder.glob("*.parquet"))
                    if folder.exists()
                    else -1
                )
            if not (expected == in_table == in_parquet and missing == 0):
                problems[key] = {"mastered": expected, "table": in_table,
                                 "parquet": in_parquet, "missing_keys": missing}  # fmt: skip
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "partitions_checked": len(context.partition_keys),
            "mismatches": dg.MetadataValue.json(problems),
        },
    )


def unknown_pairs(conn: Any) -> list[tuple[str, str, int]]:
    """(country, state, rows) of mastered customers whose pair is not in the model.

    `conn`: a DuckDB connection or the Spark engine's `SparkWarehouse` (portable SQL).
    """
    pairs = [list(p) for p in country_state_pairs()]
    return conn.execute(
        f"select country, state, count(*) from {mastered_table(CUSTOMER)} "
        "where not list_contains(?, [country, state]) group by all order by 3 desc",
        [pairs],
    ).fetchall()


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "region_pairs_known",
            asset=REGION_KEY,
            description="Every (country, state) pair in mastered.customer is a partition of the "
            "model; names unknown pairs and their row counts.",
        ),
        dg.AssetCheckSpec(
            "union_matches_mastered",
            asset=REGION_KEY,
            description="The union of all partitions equals mastered.customer: same count, "
            "same keys, each in its customer's current (country, state).",
        ),
    ],
    name="customer_by_region_whole_table_checks",
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def whole_table_checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    selected = {k.name for k in context.selected_asset_check_keys}
    with _check_reader(warehouse) as (conn, ensure_exists, _):
        unknown = unknown_pairs(conn)
        if ensure_exists:
            mastered, regional, only_mastered, only_regional = conn.execute(
                f"""select (select count(*) from {mastered_table(CUSTOMER)}),
                  (select count(*) from {REGION_TABLE}),
                  (select count(*) from {mastered_table(CUSTOMER)} m anti join {REGION_TABLE} r
                     on r.cust_id = m.cust_id and r.country = m.country and r.state = m.state),
                  (select count(*) from {REGION_TABLE} r anti join {mastered_table(CUSTOMER)} m
                     on r.cust_id = m.cust_id and r.country = m.country and r.state = m.state)"""
            ).fetchone()
        else:
            mastered = conn.execute(f"select count(*) from {mastered_table(CUSTOMER)}").fetchone()[
                0
            ]
            regional, only_mastered, only_regional = 0, mastered, 0
    if "region_pairs_known" in selected:
        yield dg.AssetCheckResult(
            check_name="region_pairs_known",
            asset_key=REGION_KEY,
            passed=not unknown,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "unknown_pairs": dg.MetadataValue.json(
                    [{"country": c, "state": s, "rows": n} for c, s, n in unknown]
                ),
                "rows_in_unknown_pairs": sum(n for _, _, n in unknown),
            },
        )
    if "union_matches_mastered" in selected:
        yield dg.AssetCheckResult(
            check_name="union_matches_mastered",
            asset_key=REGION_KEY,
            passed=mastered == regional and only_mastered == 0 and only_regional == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "mastered_rows": mastered,
                "partitioned_rows": regional,
                "keys_missing_from_partitions": only_mastered,
                "keys_not_in_mastered": only_regional,
            },
        )


REGIONAL_ASSETS = [customer_by_region]
REGIONAL_CHECKS = [partition_matches_mastered, whole_table_checks]
