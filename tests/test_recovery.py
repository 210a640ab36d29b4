"""Recovery and clear errors: killed builds, interrupted builds, waits, read-only, disk full.

The slow tests start `fs-accelerator build` as a real process on a real data folder and
Dagster instance, kill or signal it at chosen steps (watched in the run's event log), and
require the next build to succeed with the same tables as a clean build.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance
from dagster._core.storage.dagster_run import DagsterRunStatus

from fs_assets.app.build import build
from fs_assets.app.preflight import DataFolderNotWritable, check_writable
from fs_assets.app.run_guard import WAIT_TIMEOUT_ENV, BuildStopped
from fs_assets.lineage.emitter import EVENTS_FILE
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.transforms import duckdb_file as wh_module
from fs_assets.transforms.duckdb_file import (
    WarehouseLockTimeout,
    WarehouseWriteError,
    connect_with_retry,
    explain_write_error,
)
from fs_assets.transforms.marts.features import WRITTEN_AT
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource
from sensors.recovery import PID_TAG, find_dead_runs, pid_alive, recover
from tests.engine_rows import Close
from tests.pool_runs import add_run, dead_pid, hold_slot, holders

CLI = str(PROJECT_ROOT / ".venv" / "bin" / "fs-accelerator")
COMPARED_SCHEMAS = ("raw", "mastered", "quarantine", "marts")
# Columns that legitimately differ between two builds of the same files.
VOLATILE = {"_ingested_at", "_batch_id", "_rejected_at", WRITTEN_AT}


# -- helpers ------------------------------------------------------------------------------


def _fingerprint_expr(column: str) -> str:
    """The column as compared: file names without folders."""
    if column == "_source_file":
        return f"regexp_replace(\"{column}\", '^.*/', '')"
    return f'"{column}"'


def table_fingerprints(warehouse: Path) -> dict[str, tuple]:
    """Per table: its rows, the sum of its rows' hashes without columns that differ between
    builds (`_source_file` compared by file name: the data folders differ), and per double
    column its non-NULL count and its sum weighted by each row's hash (mod 1000, plus 1),
    as `Close`. Doubles are not hashed: a parallel sum's last bits follow thread order, and
    rounding does not hide that on a rounding boundary (tests/engine_rows.py). The weights
    tie each double to its row, so values moved between rows still change the sum."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE' and table_schema in (?, ?, ?, ?) order by 1, 2",
            list(COMPARED_SCHEMAS),
        ).fetchall()
        out: dict[str, tuple] = {}
        for schema, name in tables:
            cols = [
                (c, t)
                for (c, t) in conn.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, name],
                ).fetchall()
                if c not in VOLATILE
            ]
            doubles = [c for c, t in cols if t in ("DOUBLE", "FLOAT", "REAL")]
            exprs = [_fingerprint_expr(c) for c, _ in cols if c not in doubles]
            row_hash = f"hash({', '.join(exprs)})" if exprs else "0"
            weighted = [f'count("{d}"), sum("{d}" * ({row_hash} % 1000 + 1))' for d in doubles]
            found = conn.execute(
                f"select count(*), coalesce(sum({row_hash}), 0)"
                + "".join(f", {w}" for w in weighted)
                + f' from "{schema}"."{name}"'
            ).fetchone()
            sums = tuple(
                (int(found[2 + 2 * i]), None if v is None else Close(v))
                for i, v in enumerate(found[3::2])
            )
            out[f"{schema}.{name}"] = (int(found[0]), int(found[1]), sums)
        return out
    finally:
        conn.close()


def _env(paths: DataPaths, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "FS_ACCELERATOR_HOME": str(paths.home),
        "DAGSTER_HOME": str(paths.dagster_home),
        **extra,
    }


def _start_build(
    paths: DataPaths, log: Path, select: str | None = None, **env: str
) -> subprocess.Popen:
    """`fs-accelerator build` (of `select`, default everything) in its own process group."""
    return subprocess.Popen(
        [CLI, "build", *(["--select", select] if select else [])],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=_env(paths, **env),
        start_new_session=True,  # its own process group, killed as a whole
    )


def _wait_for_step(proc: subprocess.Popen, step_key: str, timeout_s: float = 300) -> bool:
    """Poll the instance until the newest run starts `step_key`; False if the build ended."""
    deadline = time.monotonic() + timeout_s
    with DagsterInstance.get() as instance:
        while proc.poll() is None and time.monotonic() < deadline:
            for run in instance.get_runs(limit=1):
                records = instance.get_records_for_run(
                    run.run_id, of_type=DagsterEventType.STEP_START
                ).records
                if any(r.event_log_entry.dagster_event.step_key == step_key for r in records):
                    return True
            time.sleep(0.2)
    return False


def _wait_for_text(proc: subprocess.Popen, log: Path, text: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not printed within {timeout_s}s:\n{log.read_text()}")


def _lineage_events(paths: DataPaths) -> list[dict]:
    path = paths.lineage / EVENTS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- recovery of dead runs -----------------------------------------------------------------


def test_pid_alive_tells_dead_zombie_and_reused_pids() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while pid_alive(zombie.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(zombie.pid), "an exited, unreaped child (zombie) is not alive"
    zombie.wait()
    # This process started long after 1970: a run from then with our pid had another process.
    assert not pid_alive(os.getpid(), since=0.0)
    assert pid_alive(os.getpid(), since=time.time())


def test_recover_fails_dead_runs_and_frees_their_slots(home: DataPaths) -> None:
    with DagsterInstance.get() as instance:
        dead = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(dead_pid())})
        alive = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid())})
        finished = add_run(instance, DagsterRunStatus.CANCELED, {})
        hold_slot(instance, dead, "raw__transaction")
        emitted: list[str] = []

        report = recover(instance, quiet_s=0.0, emit_lineage=emitted.append)

        assert [d.run_id for d in report.failed] == [dead]
        assert instance.get_run_by_id(dead).status == DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == DagsterRunStatus.STARTED
        assert emitted == [dead]
        assert holders(instance) == set()
        assert "its process" in report.lines()[0] and dead in report.lines()[0]

        # A finished run that still holds the slot (the daemon was not running) is freed.
        hold_slot(instance, finished, "mastered__customer")
        assert recover(instance).slots_freed == [finished]
        assert holders(instance) == set()


def test_a_dead_run_that_still_writes_events_is_left_alone(home: DataPaths) -> None:
    """No heartbeat AND no process: a step process that outlived its parent still logs."""
    with DagsterInstance.get() as instance:
        run_id = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(dead_pid())})
        instance.report_engine_event("step worker still busy", instance.get_run_by_id(run_id))
        assert find_dead_runs(instance, quiet_s=60.0) == []
        assert [d.run_id for d in find_dead_runs(instance, quiet_s=0.0)] == [run_id]


# -- waits say what they wait for, and give up -------------------------------------------


LOCK_HOLDER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def locked_warehouse(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen]]:
    """A DuckDB file held open by another process for 60 s."""
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path), "60"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    yield path, holder
    holder.kill()
    holder.wait()


def test_lock_wait_says_who_and_how_long_then_gives_up(
    locked_warehouse: tuple[Path, subprocess.Popen], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, holder = locked_warehouse
    monkeypatch.setattr(wh_module, "LOCK_REPORT_EVERY_S", 0.5)
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(WarehouseLockTimeout) as err:
        connect_with_retry(path, timeout_s=3.0, on_wait=said.append)
    assert 3.0 <= time.monotonic() - started < 6.0
    assert f"(PID {holder.pid})" in str(err.value)
    assert "gave up after 3 s waiting for the warehouse lock" in str(err.value)
    assert "close that program" in str(err.value)
    assert said[0].startswith(f"waiting for the warehouse lock on {path} held by ")
    assert f"(PID {holder.pid}) (0 s of 3 s)" in said[0]
    assert len(said) >= 3 and said[-1].endswith("of 3 s)") and said[-1] != said[0]


def test_lock_wait_ends_when_the_holder_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(path), "1.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    said: list[str] = []
    conn = connect_with_retry(path, timeout_s=30.0, on_wait=said.append)
    conn.execute("create table t as select 1 as x")
    conn.close()
    holder.wait()
    assert said and "waiting for the warehouse lock" in said[0]


def test_a_connection_of_this_process_in_the_other_mode_is_waited_for(tmp_path: Path) -> None:
    """A build's main thread reads the ledger read-only (a recovered run's lineage) while
    its run's step opens the file to write: DuckDB refuses the second mode in one process,
    so the writer waits for the reader's unit of work instead of failing the step."""
    import threading

    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    reader = connect_with_retry(path, read_only=True)
    with pytest.raises(duckdb.ConnectionException, match="different configuration"):
        duckdb.connect(str(path))  # what the step hit
    threading.Timer(1.0, reader.close).start()
    said: list[str] = []
    started = time.monotonic()
    writer = connect_with_retry(path, timeout_s=30.0, on_wait=said.append)
    writer.execute("create table t as select 1 as x")
    writer.close()
    assert 0.9 <= time.monotonic() - started < 10.0
    assert said and f"another connection of this process (PID {os.getpid()})" in said[0]


def test_build_waiting_for_the_slot_reports_and_times_out(
    landed: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live run holds the warehouse slot: the build says so, then gives up and cancels."""
    monkeypatch.setenv(WAIT_TIMEOUT_ENV, "3")
    with DagsterInstance.get() as instance:
        holder = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid())})
        hold_slot(instance, holder, "raw__transaction")
    out = StringIO()
    started = time.monotonic()
    with pytest.raises(BuildStopped) as err:
        build(landed, select="raw/customer", out=out)
    assert time.monotonic() - started < 60
    message = str(err.value)
    assert message.startswith("gave up after 3 s waiting for the duckdb_warehouse slot held by")
    assert f"run {holder} (step raw__transaction)" in message
    assert err.value.exit_code == 1
    assert f"slot held by run {holder} (step raw__transaction) (0 s of 3 s)" in out.getvalue()
    with DagsterInstance.get() as instance:
        ours = [r for r in instance.get_runs() if r.run_id != holder]
        assert [r.status for r in ours] == [DagsterRunStatus.CANCELED]
        assert holders(instance) == {holder}
        pending = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).pending_steps
        assert {p.run_id for p in pending} == {holder}


# -- clear errors --------------------------------------------------------------------------


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def read_only_home(home: DataPaths) -> Iterator[DataPaths]:
    """The data folder bind-mounted read-only over itself (needs root; skipped otherwise)."""
    folder = str(home.home)
    if not _mount("--bind", folder, folder):
        pytest.skip("bind mounts need root")
    try:
        assert _mount("-o", "remount,ro,bind", folder)
        yield home
    finally:
        subprocess.run(["umount", folder], check=True)


def test_read_only_data_folder_is_a_clear_error_before_anything_starts(
    read_only_home: DataPaths,
) -> None:
    with pytest.raises(BuildStopped) as err:
        build(read_only_home, out=StringIO())
    message = str(err.value)
    assert message.startswith(f"cannot write to {read_only_home.home} (Read-only file system)")
    assert "FS_ACCELERATOR_HOME" in message and "Nothing was started" in message
    assert err.value.exit_code == 2
    assert not (read_only_home.dagster_home / "history").exists()


def test_read_only_warehouse_file_is_named(home: DataPaths) -> None:
    """The folder is writable but the warehouse file is not (a read-only bind mount of the
    file, which binds root too; without root, its permission bits)."""
    home.warehouse.write_bytes(b"")
    os.chmod(home.warehouse, 0o444)
    file = str(home.warehouse)
    mounted = os.access(file, os.W_OK) and _mount("--bind", file, file)
    if os.access(file, os.W_OK) and not mounted:
        pytest.skip("cannot make the file read-only for this user")
    try:
        if mounted:
            assert _mount("-o", "remount,ro,bind", file)
        with pytest.raises(DataFolderNotWritable) as err:
            check_writable(home)
        assert str(err.value).startswith(f"cannot write to {home.warehouse} (")
    finally:
        if mounted:
            subprocess.run(["umount", file], check=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs (needs root; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)):
        pytest.skip("tmpfs mounts need root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(path: Path) -> None:
    """Write `path` until the disk is full."""
    with path.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass


def _write_in_transaction(wh: WarehouseResource, before_commit=lambda: None) -> None:
    """The writers' pattern (mastering, regional, raw): one transaction, rollback on error."""
    with wh.connect() as conn:
        conn.execute("begin transaction")
        try:
            conn.execute(
                "create or replace table mastered.big as "
                "select range as id, md5(range::varchar) as v from range(20000)"
            )
            before_commit()
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise


def test_disk_full_shows_the_cause_first_and_keeps_the_data(tiny_disk: Path) -> None:
    """The disk fills before the commit: DuckDB aborts the transaction, so the writer's
    rollback fails with 'no transaction is active'; the error must name the full disk."""
    wh = WarehouseResource(database=str(tiny_disk / "warehouse.duckdb"), memory_limit=None)
    with wh.connect() as conn:
        conn.execute("create table mastered.kept as select 42 as answer")
    filler = tiny_disk / "filler"  # what the user deletes to free space
    with pytest.raises(WarehouseWriteError) as err:
        _write_in_transaction(wh, before_commit=lambda: _fill(filler))
    message = str(err.value)
    assert message.startswith(f"the disk holding {tiny_disk} is full: free space there")
    assert "Failed to commit" in message and "No space left on device" in message
    assert "no transaction is active" not in message
    assert "no transaction is active" not in str(err.value.__cause__)
    assert err.value.__cause__.__context__ is None  # the rollback error is not in the chain
    # The previous table is intact and, with space again, the next write succeeds.
    filler.unlink()
    with wh.connect(read_only=True) as conn:
        assert conn.execute("select answer from mastered.kept").fetchall() == [(42,)]
        assert conn.execute(
            "select count(*) from information_schema.tables where table_name = 'big'"
        ).fetchone() == (0,)
    _write_in_transaction(wh)
    with wh.connect(read_only=True) as conn:
        assert conn.execute("select count(*) from mastered.big").fetchone() == (20_000,)


def _raise_chain(errors: list[BaseException]) -> None:
    if len(errors) == 1:
        raise errors[0]
    try:
        _raise_chain(errors[:-1])
    except BaseException:
        raise errors[-1]  # noqa: B904 - the implicit context is the point


def _raised(*errors: BaseException) -> BaseException:
    """The last of `errors`, raised while handling the one before it (a real chain)."""
    try:
        _raise_chain(list(errors))
    except BaseException as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("chain", "starts", "cause_text"),
    [
        (
            [
                OSError(errno.ENOSPC, "No space left on device"),
                duckdb.TransactionException("cannot rollback - no transaction is active"),
                duckdb.CatalogException("drop of _stage failed"),
            ],
            "the disk holding",
            "No space left on device",
        ),
        (
            [OSError(errno.EROFS, "Read-only file system")],
            "the warehouse",
            "Read-only file system",
        ),
        (
            [
                duckdb.ConversionException("bad cast"),
                duckdb.TransactionException("cannot rollback - no transaction is active"),
            ],
            "the write was rolled back",
            "bad cast",
        ),
    ],
)
def test_write_errors_name_the_first_cause(
    tmp_path: Path, chain: list[BaseException], starts: str, cause_text: str
) -> None:
    explained = explain_write_error(_raised(*chain), tmp_path / "warehouse.duckdb")
    assert explained is not None
    assert str(explained).startswith(starts)
    assert cause_text in str(explained) and "no transaction is active" not in str(explained)
    assert cause_text in str(explained.__cause__)


def test_other_errors_pass_through_unchanged(tmp_path: Path) -> None:
    wh = WarehouseResource(database=str(tmp_path / "warehouse.duckdb"))
    with pytest.raises(duckdb.CatalogException), wh.connect() as conn:
        conn.execute("select * from mastered.nowhere")


# -- real processes: SIGKILL, SIGINT, SIGTERM -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_a_build_waiting_for_the_slot(
    landed: DataPaths, tmp_path: Path, sig: signal.Signals
) -> None:
    """The reported hang: a build waiting for the slot ignored Ctrl-C and SIGTERM."""
    with DagsterInstance.get() as instance:
        holder = add_run(instance, DagsterRunStatus.STARTED, {PID_TAG: str(os.getpid())})
        hold_slot(instance, holder, "raw__transaction")
    log = tmp_path / "build.log"
    proc = _start_build(landed, log)
    try:
        _wait_for_text(proc, log, "waiting for the duckdb_warehouse slot held by")
        proc.send_signal(sig)
        assert proc.wait(timeout=45) == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert f"error: build stopped by {sig.name}: run " in log.read_text()
    with DagsterInstance.get() as instance:
        ours = [r for r in instance.get_runs() if r.run_id != holder]
        assert [r.status for r in ours] == [DagsterRunStatus.CANCELED]
        assert holders(instance) == {holder}


@pytest.mark.slow
def test_sigint_during_a_step_cancels_the_run_and_the_next_build_succeeds(
    landed: DataPaths, tmp_path: Path
) -> None:
    log = tmp_path / "interrupted.log"
    proc = _start_build(landed, log)
    try:
        assert _wait_for_step(proc, "raw__transaction"), log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    with DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.CANCELED
        assert holders(instance) == set()
    report = build(landed, out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)


# Where each killed build is SIGKILLed, and what it builds: the regional partitions run after
# every unpartitioned asset of a full build (marts, identity, governed views, catalog), so
# the build killed there selects only mastered.customer and its partitions, which reaches
# the same step without building the rest first (the build after the kills builds all).
KILL_POINTS: tuple[tuple[str, str | None], ...] = (
    ("raw__transaction", None),
    ("mastered__customer", None),
    ("mastered__customer_by_region", "key:mastered/customer or key:mastered/customer_by_region"),
)


@pytest.mark.slow
def test_builds_killed_at_several_points_then_one_build_matches_a_clean_build(
    landed: DataPaths, built_template: Path, tmp_path: Path
) -> None:
    killed_runs: list[str] = []
    for step, select in KILL_POINTS:
        log = tmp_path / f"killed_{step}.log"
        proc = _start_build(landed, log, select=select)
        try:
            assert _wait_for_step(proc, step), log.read_text()
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with DagsterInstance.get() as instance:
            killed_runs.append(instance.get_runs(limit=1)[0].run_id)

    log = tmp_path / "after.log"
    started = time.monotonic()
    proc = _start_build(landed, log)
    try:
        assert proc.wait(timeout=600) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    seconds = time.monotonic() - started
    output = log.read_text()
    sys.stderr.write(f"build after {len(KILL_POINTS)} kills: {seconds:.1f}s\n")
    assert seconds < 600

    with DagsterInstance.get() as instance:
        for run_id in killed_runs:
            status = instance.get_run_by_id(run_id).status
            assert status == DagsterRunStatus.FAILURE, (run_id, status)
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[DagsterRunStatus.STARTED]))
        assert holders(instance) == set()
    assert f"recovered run {killed_runs[-1]}" in output
    fails = {
        e["run"]["runId"]
        for e in _lineage_events(landed)
        if e["eventType"] == "FAIL" and e["job"]["name"] == "__ASSET_JOB"
    }
    assert killed_runs[-1] in fails

    clean = table_fingerprints(built_template / "warehouse.duckdb")
    after = table_fingerprints(landed.warehouse)
    assert after == clean


def test_table_fingerprints_see_a_changed_value(tmp_path: Path) -> None:
    """The comparison above can fail: one changed value changes the table's hash."""
    db = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute("create schema raw")
    conn.execute(
        "create table raw.t as select i as a, 'x' || i as b, i / 3 as d, now() as _ingested_at "
        "from range(4) r(i)"
    )
    conn.close()
    before = table_fingerprints(db)

    def changed(update: str) -> bool:
        """Whether `update`, made to a copy of the table, changes its fingerprint."""
        copy = tmp_path / f"copy{len(list(tmp_path.glob('copy*')))}.duckdb"
        shutil.copy(db, copy)
        conn = duckdb.connect(str(copy))
        conn.execute(update)
        conn.close()
        return table_fingerprints(copy) != before

    assert not changed("update raw.t set _ingested_at = now() + interval 1 day")
    assert not changed("update raw.t set d = d * (1 + 1e-15)")  # a sum's last bits
    assert changed("update raw.t set d = d * (1 + 1e-6) where a = 1")
    assert changed("update raw.t set d = case a when 1 then 2 / 3 else 1 / 3 end where a in (1, 2)")
    assert changed("update raw.t set d = null where a = 3")
    assert changed("update raw.t set b = 'y' where a = 0")


def test_copy_of_a_data_folder_keeps_fingerprints(tmp_path: Path) -> None:
    db = tmp_path / "a" / "w.duckdb"
    db.parent.mkdir()
    conn = duckdb.connect(str(db))
    conn.execute("create schema mastered")
    conn.execute(f"create table mastered.t as select '{db.parent}/landing/f.csv' as _source_file")
    conn.close()
    shutil.copytree(db.parent, tmp_path / "b")
    conn = duckdb.connect(str(tmp_path / "b" / "w.duckdb"))
    conn.execute("update mastered.t set _source_file = replace(_source_file, '/a/', '/b/')")
    conn.close()
    assert table_fingerprints(db) == table_fingerprints(tmp_path / "b" / "w.duckdb")


FLOCK_HOLDER = """
import fcntl, sys, time
handle = open(sys.argv[1], "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_lineage_lock_wait_is_reported_and_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A process holding the lineage folder's lock cannot stall a build forever."""
    from fs_assets.lineage import emitter

    monkeypatch.setattr(emitter, "LOCK_TIMEOUT_S", 1.5)
    holder = subprocess.Popen(
        [sys.executable, "-c", FLOCK_HOLDER, str(tmp_path / ".lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with caplog.at_level("WARNING"):
            report = emitter.emit_run_lineage(None, "some-run", tmp_path)
        assert 1.5 <= time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    assert any("gave up after 2 s waiting for the lineage lock" in f for f in report.failures)
    assert f"waiting for the lineage lock {tmp_path / '.lock'} held by" in caplog.text
    assert "(0 s of 2 s)" in caplog.text
    assert "gave up after" in (tmp_path / emitter.FAILURES_FILE).read_text()


def test_instance_template_turns_on_run_monitoring(home: DataPaths) -> None:
    with DagsterInstance.get() as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30
        assert instance.run_monitoring_cancel_timeout_seconds == 180
