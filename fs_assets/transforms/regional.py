"""The country/state layout of mastered customers: a table and Hive-style Parquet.

Partitions are written in one DuckDB transaction (delete the pairs, insert the pairs) and
also exported as Hive-style Parquet, `<warehouse>/customer_overview/country=<c>/state=<s>/`
(folder names are the values themselves, UTF-8, so 'Tromsø' and 'Île-de-France' round-trip
exactly), built in a staging folder and swapped in, so DuckDB
(`read_parquet(..., hive_partitioning=true)`), Spark and Trino read a complete partition or
the previous one, with partition pruning on both columns.

The layout is mastered data, PII in clear: the pii-reader's, so every folder under it is
0700 and its files 0600 (set explicitly, whatever the umask); other roles read customers
through their exports. `_source_file` is written relative to the landing folder (a file
outside it by its name only), so the files carry no absolute path of the machine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from fs_assets.model.entities import CUSTOMER
from fs_assets.model.file_modes import make_owner_only
from fs_assets.model.keys import mastered_table
from fs_assets.model.places import country_state_pairs
from fs_assets.transforms.duckdb_file import transaction

SEPARATOR = "|"
REGION_TABLE = "mastered.customer_by_region"
EXPORT_NAME = "customer_overview"


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
    try:
        with transaction(conn):
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
                staged[(country, state)] = _export_parquet(
                    conn, export_root, country, state, landing
                )
    except BaseException:
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
