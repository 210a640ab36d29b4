"""The warehouse's DuckDB file, opened briefly and politely (no Dagster here).

DuckDB lets one process hold the file at a time (readers included). `connect_with_retry`
waits with backoff while someone else holds it, saying every few seconds who holds it and
for how long, then fails with a clear message instead of a bare IO error. A write that
fails (a full disk, a read-only folder, memory) is reported with its cause first and what
to do, not DuckDB's follow-up "cannot rollback" error. The warehouse resource and the
DuckDB engine open the file through `open_file`; core modules use `table_exists` from here
rather than from the resource.
"""

from __future__ import annotations

import errno
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.model.file_modes import make_owner_only, owner_only_umask

WAIT_TIMEOUT_S = 600.0  # default for every wait: the warehouse lock, the pool slot
LOCK_REPORT_EVERY_S = 10.0
LAYER_SCHEMAS = ("raw", "mastered", "quarantine", "meta")
# DuckDB's memory limit as an environment variable (named in the out-of-memory advice).
ENV_MEMORY_LIMIT = "FS_ACCELERATOR_DUCKDB_MEMORY_LIMIT"
# Every connection's buffers come from DuckDB's block allocator, sized to its memory limit:
# the pages a step touched stay with the connection (until it closes) instead of going
# back to the system after each task and faulting in again (README, Warehouse settings:
# the 1M full build 143-145 s with it, 157-162 s without). The reserve is virtual until
# used. The limit as DuckDB resolved it, so a share of RAM ('50%', the default) works too.
BLOCK_ALLOCATOR_SQL = "set block_allocator_memory = current_setting('memory_limit')"


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The block's statements committed together, or rolled back when it raises (a kill
    needs no handler: DuckDB never commits a transaction it did not finish)."""
    conn.execute("begin transaction")
    try:
        yield
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


def table_exists(conn: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether schema.name is a table or view of the connection's own database (not of a
    database attached to it)."""
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


class WarehouseLockTimeout(RuntimeError):
    """Another process kept the warehouse file locked for longer than we agreed to wait."""


class WarehouseWriteError(RuntimeError):
    """A write to the warehouse failed; the message names the cause and what to do."""


# DuckDB refuses a second connection to a file that this process already has open in
# the other mode (read-only against read-write). Another thread's unit of work holds it
# (the build's main thread reads the ingest ledger for a recovered run's lineage while
# the run's step opens the file to write): it is waited for like another process's lock.
_OPEN_IN_OTHER_MODE = "different configuration than existing connections"


def _is_lock_error(exc: BaseException) -> bool:
    if isinstance(exc, duckdb.ConnectionException) and _OPEN_IN_OTHER_MODE in str(exc):
        return True
    return isinstance(exc, duckdb.IOException) and "lock" in str(exc).lower()


def lock_holder(exc: BaseException) -> str:
    """Who holds the lock, from DuckDB's message ('... held in python3 (PID 123) ...')."""
    if _OPEN_IN_OTHER_MODE in str(exc):
        return f"another connection of this process (PID {os.getpid()}) in the other mode"
    found = re.search(r"held in (.+?) \(PID (\d+)\)", str(exc))
    return f"{found.group(1)} (PID {found.group(2)})" if found else "another process"


_ROLLBACK_AFTER_FAILURE = "no transaction is active"
_DISK_FULL = ("no space left on device", "disk is full", "database or disk is full")
_READ_ONLY = ("read-only file system", "permission denied")


def _root_cause(exc: BaseException) -> BaseException:
    """The error a failed rollback hid: DuckDB already aborted the transaction on the
    first error, so the writer's own `rollback` fails and Python chains it last."""
    while (
        isinstance(exc, duckdb.Error)
        and _ROLLBACK_AFTER_FAILURE in str(exc).lower()
        and exc.__context__ is not None
    ):
        exc = exc.__context__
    return exc


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during, first raised last."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _kind(exc: BaseException) -> str | None:
    text, code = str(exc).lower(), getattr(exc, "errno", None)
    if code == errno.ENOSPC or any(s in text for s in _DISK_FULL):
        return "disk full"
    if code in (errno.EROFS, errno.EACCES) or any(s in text for s in _READ_ONLY):
        return "read-only"
    return None


def explain_write_error(exc: BaseException, path: Path) -> BaseException | None:
    """A WarehouseWriteError saying cause first and what to do, or None to let `exc` be.

    The cause is the first-raised error of the chain that names a full disk or a
    read-only file, else the error a failed rollback hid."""
    found = [(e, k) for e in reversed(_chain(exc)) if (k := _kind(e)) is not None]
    cause, kind = found[0] if found else (_root_cause(exc), None)
    if kind == "disk full":
        advice = (
            f"the disk holding {path.parent} is full: free space there (or point "
            "FS_ACCELERATOR_HOME at a larger disk) and run the build again; the write was "
            "rolled back and the previous tables are intact"
        )
    elif kind == "read-only":
        advice = (
            f"the warehouse {path} cannot be written (read-only folder or no permission): "
            "make the data folder writable or point FS_ACCELERATOR_HOME elsewhere"
        )
    elif cause is not exc:
        advice = "the write was rolled back and the previous tables are intact"
    else:
        return None
    error = WarehouseWriteError(f"{advice}. Cause: {type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error


def explain_memory_error(
    exc: BaseException, memory_limit: str | None, spill_dir: Path
) -> BaseException | None:
    """A WarehouseWriteError naming the setting to raise when DuckDB ran out of memory.

    DuckDB spills joins, aggregates and sorts to `spill_dir`; what cannot spill (or a full
    spill disk) ends in an OutOfMemoryException, whose text alone does not say what to do.
    """
    cause = next(
        (e for e in reversed(_chain(exc)) if isinstance(e, duckdb.OutOfMemoryException)), None
    )
    if cause is None:
        return None
    error = WarehouseWriteError(
        f"DuckDB needed more memory than the warehouse's memory_limit "
        f"({memory_limit or 'DuckDB default'}) allows and could not spill the rest to "
        f"{spill_dir}: raise the warehouse resource's memory_limit (or set "
        f"{ENV_MEMORY_LIMIT}, e.g. 4GB), lower its threads, or give temp_directory more "
        "disk; the write was rolled back and the previous tables are intact. "
        f"Cause: {type(cause).__name__}: {cause}"
    )
    error.__cause__ = cause
    return error


def connect_with_retry(
    path: Path,
    *,
    read_only: bool = False,
    timeout_s: float = WAIT_TIMEOUT_S,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (with jittered backoff) while another process holds it.

    `threads`, `memory_limit` and `temp_directory` (where DuckDB spills what does not fit
    under the limit; created owner-only) are DuckDB settings; None keeps DuckDB's default.
    `on_wait` hears what is awaited and for how long: at once, then every few seconds.
    A file opened for writing is made owner-only (0600), with its write-ahead log.
    """
    owner_only_umask()
    path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"the warehouse {path} does not exist yet: build it first "
            "(`fs-accelerator build` or the README's main command)"
        )
    config: dict[str, str | int] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    if temp_directory is not None:
        temp_directory.mkdir(parents=True, exist_ok=True)
        config["temp_directory"] = str(temp_directory)
    started = time.monotonic()
    delay = 0.05
    reported_at: float | None = None
    while True:
        try:
            conn = duckdb.connect(str(path), read_only=read_only, config=config)
            try:
                conn.execute(BLOCK_ALLOCATOR_SQL)
                if not read_only:
                    make_owner_only(path)
                    make_owner_only(path.with_name(path.name + ".wal"))
            except BaseException:  # no half-set connection keeps the file's lock
                conn.close()
                raise
            return conn
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            now = time.monotonic()
            waited = now - started
            if waited >= timeout_s:
                raise WarehouseLockTimeout(
                    f"gave up after {timeout_s:.0f} s waiting for the warehouse lock on {path} "
                    f"held by {lock_holder(exc)}: close that program (a DuckDB shell, a "
                    "notebook, another build) and run again, or raise the wait "
                    "(the warehouse resource's lock_timeout_s)"
                ) from exc
            if on_wait is not None and (
                reported_at is None or now - reported_at >= LOCK_REPORT_EVERY_S
            ):
                on_wait(
                    f"waiting for the warehouse lock on {path} held by {lock_holder(exc)} "
                    f"({waited:.0f} s of {timeout_s:.0f} s)"
                )
                reported_at = now
            # Never sleep past the next promised report or past the deadline.
            next_report = (
                LOCK_REPORT_EVERY_S - (now - reported_at) if reported_at is not None else delay * 2
            )
            pause = min(delay + random.uniform(0, delay), next_report, timeout_s - waited)
            time.sleep(max(pause, 0.0))
            delay = min(delay * 2, 2.0)


@dataclass(frozen=True)
class DuckDBFile:
    """Where the warehouse file is and how every connection to it is set up."""

    path: Path
    lock_timeout_s: float = WAIT_TIMEOUT_S
    threads: int | None = None
    memory_limit: str | None = None
    spill_dir: Path | None = None
    on_wait: Callable[[str], None] | None = None


@contextmanager
def open_file(file: DuckDBFile, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection for one unit of work; closed (and the lock released) afterwards.

    A writable connection has the layer schemas; an error is re-raised explained (memory,
    disk, permissions) where DuckDB's own message does not say what to do.
    """
    conn = connect_with_retry(
        file.path,
        read_only=read_only,
        timeout_s=file.lock_timeout_s,
        threads=file.threads,
        memory_limit=file.memory_limit,
        temp_directory=file.spill_dir,
        on_wait=file.on_wait,
    )
    try:
        if not read_only:
            for schema in LAYER_SCHEMAS:
                conn.execute(f"create schema if not exists {schema}")
        yield conn
    except Exception as exc:
        spill = file.spill_dir or file.path.with_name(file.path.name + ".tmp")
        explained = explain_memory_error(exc, file.memory_limit, spill)
        explained = explained or explain_write_error(exc, file.path)
        if explained is None:
            raise
        raise explained from explained.__cause__
    finally:
        conn.close()
