"""A role's governed data as a DuckDB file of its own: the boundary its queries stay in.

A view in the warehouse is only a policy if nobody can read around it, and anyone who can
open `warehouse.duckdb` can read `mastered.customer`. So a role's queries never open the
warehouse: `export_role` copies that role's governed views, as materialized tables (a
view would point back into the warehouse), into `<data folder>/exports/<role>.duckdb`,
and `query_role` opens only that file, read-only and with file access switched off, so
a query cannot ATTACH the warehouse or read a landing file either; its default schema is
`governed`, so `show tables` lists the role's tables and unqualified names resolve.

The export is written to a temporary file beside the target and renamed over it, so a
reader sees the previous export or the new one, never half of one. Keyed columns are
computed with the masking key while copying; `governed._export_info` records the key's
id (never the key), so tokens of two exports join only when their key ids match, and a
rotated key shows as a new id. Files and the folder are owner-only (0600, 0700).
"""

import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from fs_assets.model.file_modes import DIR_MODE, FILE_MODE
from fs_assets.model.paths import DataPaths
from fs_assets.model.rules import q
from fs_assets.transforms.duckdb_file import connect_with_retry, table_exists
from fs_assets.transforms.governance import (
    GOLDEN,
    GOLDEN_SCHEMA,
    GOVERNED_SCHEMA,
    governed_sources,
    source_name,
    view_name,
)
from fs_assets.transforms.governance.lead_list import LEADS
from fs_assets.transforms.governance.masking_key import MaskingKey, key_from_env
from fs_assets.transforms.governance.policies import LEAD_LIST_ROLES, check_role

# Query limits: a statement is interrupted after QUERY_TIMEOUT_S and may use at most
# QUERY_MEMORY_LIMIT (no spilling to disk); the CLI's --timeout / --memory-limit raise them.
QUERY_TIMEOUT_S = 30.0
QUERY_MEMORY_LIMIT = "1GB"
EXPORT_INFO = "_export_info"  # one row: role, masking key id, time of export
_ALIAS = "role_export"


# The Parquet files of a governed view's current version on the Spark engine; None when
# it was never built (`engines.spark_tables.governed_parquet`).
ParquetSource = Callable[[str], list[str] | None]


class ExportError(RuntimeError):
    """The warehouse has nothing to export for the role (yet)."""


class ExportMissingError(FileNotFoundError):
    """The role has no export file to query."""


class QueryLimitError(RuntimeError):
    """A query hit its time or memory limit; the message says which and what to do."""


def export_path(paths: DataPaths, role: str) -> Path:
    return paths.exports / f"{check_role(role)}.duckdb"


def _literal(text: str) -> str:
    # ATTACH takes no parameters; the path is ours (data folder + role id), quoted anyway.
    return "'" + text.replace("'", "''") + "'"


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


def export_role(
    paths: DataPaths,
    role: str,
    *,
    key: MaskingKey | None = None,
    timeout_s: float = 600.0,
    parquet: ParquetSource | None = None,
) -> Path:
    """Write `<data folder>/exports/<role>.duckdb` with only the role's governed tables.

    `key` defaults to the one configured in the environment (MaskingKeyError without one).
    `parquet`: on the Spark engine, where each governed table is a Parquet version behind
    its manifest, the files of a view's current version (None: not built); the tables
    are then copied from those files (already masked when Spark wrote them), not from
    the DuckDB file's views.
    """
    final = export_path(paths, role)
    key = key or key_from_env()
    views = [view_name(role, source_name(e, h)) for e, h in governed_sources()]
    if role in LEAD_LIST_ROLES:
        views.append(view_name(role, LEADS))
    final.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    final.parent.chmod(DIR_MODE)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=timeout_s)
    try:
        key.apply(conn)
        # The golden customer's view once identity resolution has made its table (every
        # full build does, empty without multi-source data).
        if table_exists(conn, GOLDEN_SCHEMA, GOLDEN):
            views.append(view_name(role, GOLDEN))
        files = {v: parquet(v) for v in views} if parquet is not None else {}
        present = (
            {v for v, found in files.items() if found}
            if parquet is not None
            else {
                name
                for (name,) in conn.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = current_database() and table_schema = ?",
                    [GOVERNED_SCHEMA],
                ).fetchall()
            }
        )
        missing = [f"{GOVERNED_SCHEMA}.{v}" for v in views if v not in present]
        if missing:
            raise ExportError(
                f"{paths.warehouse} has no {', '.join(missing)}: build the governed assets "
                "first (fs-accelerator build --select 'group:governed')"
            )
        # The warehouse is open read-only; the export is attached read-write explicitly.
        conn.execute(f"attach {_literal(str(tmp))} as {_ALIAS} (read_write)")
        try:
            conn.execute(f"create schema {_ALIAS}.{GOVERNED_SCHEMA}")
            for v in views:
                target = f"{_ALIAS}.{GOVERNED_SCHEMA}.{q(v)}"
                if parquet is None:
                    conn.execute(f"create table {target} as select * from {GOVERNED_SCHEMA}.{q(v)}")
                else:
                    conn.execute(
                        f"create table {target} as select * from read_parquet(?)", [files[v]]
                    )
            conn.execute(
                f"create table {_ALIAS}.{GOVERNED_SCHEMA}.{EXPORT_INFO} as select "
                "?::varchar as role, ?::varchar as masking_key_id, ?::timestamptz as exported_at",
                [role, key.key_id, dt.datetime.now(dt.UTC)],
            )
        finally:
            conn.execute(f"detach {_ALIAS}")
        tmp.chmod(FILE_MODE)
    except BaseException:
        _remove(tmp)
        raise
    finally:
        conn.close()
    # A write-ahead log left by an older file of this name would be replayed onto the new one.
    final.with_name(final.name + ".wal").unlink(missing_ok=True)
    os.replace(tmp, final)
    return final


def _open(
    paths: DataPaths, role: str, memory_limit: str = QUERY_MEMORY_LIMIT
) -> duckdb.DuckDBPyConnection:
    path = export_path(paths, role)
    if not path.exists():
        raise ExportMissingError(
            f"no export for role {role!r} at {path}: run `fs-accelerator export --role {role}`"
        )
    # No file system access: the query cannot attach the warehouse, read landing files or
    # write anywhere. A hard memory cap (no temp folder to spill to), and the configuration
    # locked, so SQL cannot switch either back.
    config: dict[str, str | bool] = {
        "enable_external_access": False,
        "memory_limit": memory_limit,
        "temp_directory": "",
        "lock_configuration": True,
    }
    conn = duckdb.connect(str(path), read_only=True, config=config)
    # The role's tables are the export's only tables: `show tables` lists them and
    # unqualified names find them (a session setting; the file stays read-only).
    conn.execute(f"set schema = {_literal(GOVERNED_SCHEMA)}")
    return conn


def query_role(
    paths: DataPaths,
    role: str,
    sql: str,
    *,
    limit: int | None = None,
    timeout_s: float = QUERY_TIMEOUT_S,
    memory_limit: str = QUERY_MEMORY_LIMIT,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `sql` against the role's export only; at most `limit` rows when given.

    QueryLimitError when it runs (and fetches) longer than `timeout_s` or needs more than
    `memory_limit`.
    """
    conn = _open(paths, role, memory_limit)
    timer = threading.Timer(timeout_s, conn.interrupt)
    timer.daemon = True
    timer.start()
    try:
        cur = conn.execute(sql)
        if cur.description is None:
            return [], []
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall() if limit is None else cur.fetchmany(limit)
        return columns, rows
    except duckdb.InterruptException:
        raise QueryLimitError(
            f"query stopped after {timeout_s:g} s: narrow it or raise --timeout"
        ) from None
    except duckdb.OutOfMemoryException:
        raise QueryLimitError(
            f"query stopped: it needs more than {memory_limit} of memory; "
            "narrow it or raise --memory-limit"
        ) from None
    finally:
        timer.cancel()
        conn.close()


def export_key_id(paths: DataPaths, role: str) -> str:
    """The id of the masking key the role's export was made with."""
    conn = _open(paths, role)
    try:
        return conn.execute(f"select masking_key_id from {EXPORT_INFO}").fetchone()[0]
    finally:
        conn.close()


def exported_tables(paths: DataPaths, role: str) -> list[tuple[str, int]]:
    """(schema.table, rows) of every table in the role's export."""
    conn = _open(paths, role)
    try:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by 1, 2"
        ).fetchall()
        return [
            (f"{s}.{t}", conn.execute(f"select count(*) from {q(s)}.{q(t)}").fetchone()[0])
            for s, t in tables
        ]
    finally:
        conn.close()
