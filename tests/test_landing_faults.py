"""Landing-zone faults on the DuckDB engine: hostile names, symlinks, sub-folders,
header-only files, bytes and control characters, typed Parquet, same-timestamp
corrections, a read-only landing folder and a `_rejected` folder on another mount.

Real DuckDB files and real Dagster runs throughout (tests/test_engines.py has the Spark
side of the names and corrections).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import errno
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from asset_checks.integrity_checks import LANDING_CHECKS
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import LEDGER
from fs_assets.model.paths import DataPaths
from fs_assets.transforms import landing_files
from fs_assets.transforms.landing_files import wait_until_settled
from fs_assets.transforms.mastering import build_mastered
from resources import default_resources

# Each hostile name lands beside a decoy its pattern would match.
HOSTILE_NAMES = [
    ("cust[1].csv", "cust1.csv"),
    ("g*.csv", "gz.csv"),
    ("h?.csv", "hx.csv"),
    ("b{x,y}.csv", "bx.csv"),
    ("[!a]b.csv", "cb.csv"),
    ('it\'s "quoted" name.csv', "its quoted name.csv"),
    ("spaced  name .csv", "spaced_name.csv"),
    ("ünïcødé 名前.csv", "unicode.csv"),
    ("back\\slash.csv", "backslash.csv"),
    ("**.csv", "zz.csv"),
]


def customer_rows(small_landing: Path) -> tuple[list[str], list[list[str]]]:
    path = sorted((small_landing / "customer").glob("*.csv"))[0]
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *rows])
    return path


def keys_from(conn: duckdb.DuckDBPyConnection, source: Path) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select cust_id from raw.customer where _source_file = ? order by 1", [str(source)]
        ).fetchall()
    ]


@pytest.mark.parametrize(("hostile", "decoy"), HOSTILE_NAMES)
def test_a_name_is_data_never_a_pattern(
    conn, small_landing: Path, tmp_path: Path, hostile: str, decoy: str
) -> None:
    header, rows = customer_rows(small_landing)
    key = header.index("Cust Id")
    decoy_path = write_csv(tmp_path / decoy, header, rows[:30])
    hostile_path = write_csv(tmp_path / hostile, header, rows[30:50])
    # The decoy first: a globbing reader would find its rows "already present".
    assert ingest_file(conn, CUSTOMER, decoy_path).rows_inserted == 30
    outcome = ingest_file(conn, CUSTOMER, hostile_path)
    assert (outcome.status, outcome.rows_read, outcome.rows_inserted) == ("ingested", 20, 20)
    assert keys_from(conn, hostile_path.resolve()) == sorted(r[key] for r in rows[30:50])
    assert keys_from(conn, decoy_path.resolve()) == sorted(r[key] for r in rows[:30])


def test_a_parquet_name_is_data_never_a_pattern(conn, small_landing: Path, tmp_path: Path) -> None:
    header, rows = customer_rows(small_landing)
    table = lambda part: pa.table({h: [r[i] for r in part] for i, h in enumerate(header)})  # noqa: E731
    pq.write_table(table(rows[:10]), tmp_path / "p1.parquet")
    pq.write_table(table(rows[10:15]), tmp_path / "p[1].parquet")
    ingest_file(conn, CUSTOMER, tmp_path / "p1.parquet")
    outcome = ingest_file(conn, CUSTOMER, tmp_path / "p[1].parquet")
    assert (outcome.rows_read, outcome.rows_inserted) == (5, 5)
    assert len(keys_from(conn, (tmp_path / "p[1].parquet").resolve())) == 5


def test_non_utf8_bytes_in_the_index_column_reject_the_file(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    path = write_csv(tmp_path / "latin.csv", header, rows[:5])
    lines = path.read_bytes().split(b"\n")
    lines[3] = b"\xe9" + lines[3]  # the dropped index column of file line 4
    path.write_bytes(b"\n".join(lines))
    outcome = ingest_file(conn, CUSTOMER, path)
    assert outcome.status == "rejected"
    assert outcome.error_line == 4
    assert "not UTF-8" in outcome.error and "0xe9" in outcome.error
    assert conn.execute("select count(*) from raw.customer").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("tail", "invalid_line"),
    [
        (b"\xa9 caf\xc3\xa9\n", None),  # a character split across blocks: valid
        # A sequence left open before an ASCII block, "closed" by the block after it.
        (b" cafe ok\xa9\n", 1),
        (b"\xa9 ok\nplain ascii\n\xe9\n", 3),  # a stray byte after an ASCII block
    ],
)
def test_the_utf8_scan_reads_across_blocks_with_ascii_ones_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tail: bytes, invalid_line: int | None
) -> None:
    """Blocks of ASCII are not decoded, but never when the block before left a multi-byte
    sequence open: blocks of 8 bytes, the first ending mid-character."""
    monkeypatch.setattr(landing_files, "_SCAN_CHUNK", 8)
    path = tmp_path / "blocks.csv"
    path.write_bytes(b"1234567\xc2" + tail)
    scan = landing_files.scan_text(path)
    assert (scan.invalid[0] if scan.invalid else None) == invalid_line


def test_control_characters_are_quarantined_naming_the_column(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    city, line2 = header.index("City"), header.index("Customer Addressline2")
    bad = [list(r) for r in rows[:4]]
    bad[0][city] = "Mum\x00bai"
    bad[1][header.index("Cust Last Name")] = "Smi\x1bth"
    bad[2][line2] = "Flat 4\tBlock B\nGround floor"  # tab and line break: kept
    outcome = ingest_file(conn, CUSTOMER, write_csv(tmp_path / "nul.csv", header, bad))
    assert (outcome.rows_read, outcome.rows_rejected, outcome.rows_inserted) == (4, 2, 2)
    reasons = conn.execute(
        "select _source_row, _reason from quarantine.customer_ingest_rejects order by 1"
    ).fetchall()
    assert [r[0] for r in reasons] == [1, 2]
    assert reasons[0][1].startswith("control_character: city ")
    assert reasons[1][1].startswith("control_character: cust_last_name ")
    assert conn.execute(
        "select count(*) from raw.customer where contains(city, chr(0))"
    ).fetchone() == (0,)
    kept = conn.execute("select customer_addressline2 from raw.customer where _source_row = 3")
    assert kept.fetchone() == ("Flat 4\tBlock B\nGround floor",)


def test_control_characters_in_parquet_are_quarantined(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    """A typed file is not scanned byte by byte: every row is checked in SQL."""
    header, rows = customer_rows(small_landing)
    city = header.index("City")
    part = [list(r) for r in rows[:3]]
    part[1][city] = "Pu\x7fne"
    pq.write_table(
        pa.table({h: [r[i] for r in part] for i, h in enumerate(header)}), tmp_path / "c.parquet"
    )
    outcome = ingest_file(conn, CUSTOMER, tmp_path / "c.parquet")
    assert (outcome.rows_rejected, outcome.rows_inserted) == (1, 2)
    reason = conn.execute("select _reason from quarantine.customer_ingest_rejects").fetchone()[0]
    assert reason.startswith("control_character: city ")


def _typed_customer(header: list[str], rows: list[list[str]]) -> pa.Table:
    """The customer rows as Parquet with the issue's wrong types."""
    typed = {
        "Cibil Score": (pa.float64(), float),
        "Mobile Number1": (pa.float64(), float),
        "Pin": (pa.int64(), int),
    }
    arrays = {}
    for i, h in enumerate(header):
        kind, convert = typed.get(h, (pa.string(), str))
        arrays[h] = pa.array([convert(r[i]) for r in rows], type=kind)
    return pa.table(arrays)


def test_wrong_typed_parquet_is_rejected_whole_naming_columns_and_types(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    rows = [r for r in rows if r[header.index("Pin")].isdigit()][:20]
    path = tmp_path / "typed.parquet"
    pq.write_table(_typed_customer(header, rows), path)
    outcome = ingest_file(conn, CUSTOMER, path)
    assert outcome.status == "rejected"
    for part in (
        "cibil_score is DOUBLE, the model's cibil_score is INTEGER",
        "mobile_number1 is DOUBLE, the model's mobile_number1 is VARCHAR",
        "pin is BIGINT, the model's pin is VARCHAR",
    ):
        assert part in outcome.error
    assert conn.execute("select count(*) from raw.customer").fetchone()[0] == 0


def test_an_integral_float_converts_only_where_the_model_allows_it(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    score = header.index("Cibil Score")
    rows = [list(r) for r in rows[:3]]
    table = pa.table(
        {
            h: pa.array([float(r[i]) for r in rows])
            if i == score
            else pa.array([r[i] for r in rows])
            for i, h in enumerate(header)
        }
    )
    pq.write_table(table, tmp_path / "scores.parquet")
    assert ingest_file(conn, CUSTOMER, tmp_path / "scores.parquet").status == "rejected"
    columns = tuple(
        dataclasses.replace(c, integral_float_ok=True) if c.name == "cibil_score" else c
        for c in CUSTOMER.columns
    )
    lenient = dataclasses.replace(CUSTOMER, columns=columns)
    outcome = ingest_file(conn, lenient, tmp_path / "scores.parquet")
    assert outcome.status == "ingested"
    stored = conn.execute("select cibil_score from raw.customer order by _source_row").fetchall()
    assert stored == [(r[score],) for r in rows]  # '839', not '839.0'


def test_same_timestamp_correction_is_stored_counted_and_wins(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    # An address line: a made-up city would break city__in_state and stay pending.
    line1 = header.index("Customer Addressline1")
    first = write_csv(tmp_path / "a.csv", header, rows[:10])
    ingest_file(conn, CUSTOMER, first)
    assert build_mastered(conn, CUSTOMER).mode == "full"
    fixed = [list(r) for r in rows[:10]]
    fixed[4][line1] = "12 Corrected Street"
    outcome = ingest_file(conn, CUSTOMER, write_csv(tmp_path / "b.csv", header, fixed))
    assert (outcome.rows_inserted, outcome.rows_corrected, outcome.rows_already_present) == (
        1,
        1,
        9,
    )
    # The same content again, in other bytes (rows reordered): nothing new.
    again = write_csv(tmp_path / "c.csv", header, list(reversed(fixed)))
    replay = ingest_file(conn, CUSTOMER, again)
    assert (replay.rows_inserted, replay.rows_corrected) == (0, 0)
    assert build_mastered(conn, CUSTOMER).mode == "incremental"  # the new batch is seen
    key = fixed[4][header.index("Cust Id")]
    got = conn.execute(
        "select customer_addressline1 from mastered.customer where cust_id = ?", [key]
    ).fetchone()
    assert got == ("12 Corrected Street",)


def test_a_rejected_file_left_in_place_has_one_ledger_row(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    for _ in range(3):
        assert ingest_file(conn, CUSTOMER, path).status == "rejected"
    assert conn.execute(f"select count(*) from {LEDGER}").fetchone() == (1,)


# --- through the raw asset ----------------------------------------------------------------


def run_raw(
    home: DataPaths, raise_on_error: bool = True, instance: dg.DagsterInstance | None = None
) -> dg.ExecuteInProcessResult:
    """raw.customer and its landing check, as one run (on a fresh instance by default)."""
    return dg.materialize(
        [RAW_ASSETS[0], LANDING_CHECKS[0]],
        instance=instance or dg.DagsterInstance.ephemeral(),
        resources=default_resources(str(home.home)),
        raise_on_error=raise_on_error,
    )


def messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The run's log lines (context.log) as the UI shows them."""
    return [e.user_message for e in instance.all_logs(run_id) if e.user_message]


def landing_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@pytest.fixture
def customer_landing(home: DataPaths, small_landing: Path) -> tuple[Path, list[str], list]:
    header, rows = customer_rows(small_landing)
    folder = home.landing / "customer"
    write_csv(folder / "good.csv", header, rows[:20])
    return folder, header, rows


def test_symlink_is_refused_with_a_report_and_not_followed(
    home: DataPaths, customer_landing, tmp_path: Path
) -> None:
    folder, header, rows = customer_landing
    outside = write_csv(tmp_path / "outside" / "secret.csv", header, rows[100:110])
    (folder / "link.csv").symlink_to(outside)
    result = run_raw(home)
    check = landing_check(result)
    assert not check.passed
    (refused,) = check.metadata["files_rejected"].value
    assert refused["file"] == "link.csv" and "symbolic link" in refused["reason"]
    assert outside.exists(), "the target is never moved or read"
    assert not os.path.lexists(folder / "link.csv")
    reports = list((home.rejected / "customer").glob("*link.csv.report.json"))
    assert len(reports) == 1 and "symbolic link" in json.loads(reports[0].read_text())["reason"]
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.customer").fetchone() == (20,)


def test_sub_folder_and_header_only_file_are_named_in_warnings(
    home: DataPaths, customer_landing
) -> None:
    folder, header, rows = customer_landing
    write_csv(folder / "nested" / "inner.csv", header, rows[50:60])
    write_csv(folder / "only header.csv", header, [])
    instance = dg.DagsterInstance.ephemeral()
    result = run_raw(home, instance=instance)
    (mat,) = result.asset_materializations_for_node(RAW_ASSETS[0].op.name)
    assert mat.metadata["folders_ignored"].value == [str(folder / "nested")]
    assert mat.metadata["files_without_rows"].value == [str(folder / "only header.csv")]
    logs = messages(instance, result.run_id)
    assert any("nested" in m and "sub-folder" in m for m in logs)
    assert any("only header.csv" in m and "header and no rows" in m for m in logs)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` read-only: a read-only tmpfs as root (chmod does not stop root)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    saved = {p.name: p.read_bytes() for p in folder.iterdir()}
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        for name, data in saved.items():
            (folder / name).write_bytes(data)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_read_only_landing_folder_is_a_clear_error_without_ledger_rows(
    home: DataPaths, customer_landing
) -> None:
    folder, _, _ = customer_landing
    (folder / "bad.csv").write_bytes(b"")
    with read_only(folder):
        for _ in range(2):
            result = run_raw(home, raise_on_error=False)
            assert not result.success
            (failure,) = [e for e in result.all_events if e.is_step_failure]
            text = failure.step_failure_data.error.message
            assert f"the landing folder {folder} is not writable" in text
            assert "make it writable" in text
    with duckdb.connect(str(home.warehouse)) as conn:
        tables = conn.execute(
            "select count(*) from information_schema.tables where table_name = 'ingest_ledger'"
        ).fetchone()[0]
        assert not tables or conn.execute(f"select count(*) from {LEDGER}").fetchone() == (0,)
    # Writable again: the next run succeeds and rejects the bad file once.
    result = run_raw(home, raise_on_error=False)
    assert result.success
    with duckdb.connect(str(home.warehouse)) as conn:
        assert conn.execute(
            f"select count(*) from {LEDGER} where status = 'rejected'"
        ).fetchone() == (1,)


def test_rejected_folder_on_another_mount_by_copy_then_delete(
    home: DataPaths, customer_landing, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _, _ = customer_landing
    (folder / "bad file.csv").write_bytes(b"")
    real_replace = os.replace
    moved: list[str] = []

    def cross_device(src, dst) -> None:
        if Path(src).parent == folder:  # landing -> _rejected: another mount
            moved.append(str(src))
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src))
        real_replace(src, dst)

    monkeypatch.setattr(landing_files.os, "replace", cross_device)
    result = run_raw(home)
    assert moved == [str(folder / "bad file.csv")]
    assert not (folder / "bad file.csv").exists()
    (target,) = (home.rejected / "customer").glob("*_bad file.csv")
    assert target.read_bytes() == b""
    assert (target.parent / (target.name + ".report.json")).exists()
    assert not list(target.parent.glob(".*.tmp")), "no temporary copy left behind"
    assert not landing_check(result).passed


def test_move_file_across_a_real_mount(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the EXDEV test above covers the path")
    mount = tmp_path / "other"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        src = tmp_path / "a [1].csv"
        src.write_bytes(b"x,y\n1,2\n")
        with pytest.raises(OSError) as info:
            os.rename(src, mount / "direct.csv")
        assert info.value.errno == errno.EXDEV
        dst = landing_files.move_file(src, mount / "a [1].csv")
        assert dst.read_bytes() == b"x,y\n1,2\n" and not src.exists()
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_sensor_listing_requests_symlinks_and_skips_sub_folders(
    home: DataPaths, customer_landing, tmp_path: Path
) -> None:
    """The sensor lists what the raw asset handles: files, and symlinks to refuse."""
    from sensors.landing_sensor import evaluate_landing

    folder, header, rows = customer_landing
    (folder / "link.csv").symlink_to(write_csv(tmp_path / "out.csv", header, rows[:2]))
    (folder / "dangling.csv").symlink_to(tmp_path / "missing.csv")
    write_csv(folder / "nested" / "inner.csv", header, rows[2:4])
    _, cursor, settling = evaluate_landing(home.landing, {})
    assert settling == {"customer": 3}
    ready, _, _ = evaluate_landing(home.landing, cursor)
    names = sorted(Path(p).name for p in ready["customer"])
    assert names == ["dangling.csv", "good.csv", "link.csv"]


def test_read_only_rejected_folder_is_named_before_anything_is_read(
    home: DataPaths, customer_landing
) -> None:
    folder, _, _ = customer_landing
    (folder / "bad.csv").write_bytes(b"")
    rejected = home.rejected / "customer"
    rejected.mkdir(parents=True)
    with read_only(rejected):
        result = run_raw(home, raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    text = failure.step_failure_data.error.message
    assert f"the folder for rejected files {rejected} is not writable" in text
    assert (folder / "bad.csv").exists() and (folder / "good.csv").exists()
    assert run_raw(home).success  # writable again: the next run succeeds
    assert not (folder / "bad.csv").exists()


# --- a file still being copied --------------------------------------------------------------


def _write_in_parts(path: Path, parts: int, pause_s: float) -> threading.Thread:
    """Append to `path` in `parts` pieces, `pause_s` apart, in a thread (a slow copy)."""

    def write() -> None:
        with path.open("ab") as handle:
            for i in range(parts):
                handle.write(f"part {i}\n".encode())
                handle.flush()
                time.sleep(pause_s)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    return writer


def test_a_file_still_being_copied_is_read_only_once_quiet(tmp_path: Path) -> None:
    """A run waits for a file written in parts until it has been quiet for the settle
    time, so it is never read cut mid-copy; an old file is ready at once."""
    old = tmp_path / "old.csv"
    old.write_text("a\n")
    os.utime(old, (time.time() - 60, time.time() - 60))
    copying = tmp_path / "copying.csv"
    copying.write_bytes(b"")
    started = time.monotonic()
    writer = _write_in_parts(copying, parts=4, pause_s=0.3)
    settled = wait_until_settled([copying, old], settle_s=0.6, max_wait_s=20)
    waited = time.monotonic() - started
    writer.join()
    assert settled.ready == [copying, old] and not settled.changing and not settled.gone
    assert waited >= 1.2 + 0.6 - 0.3  # the writer's parts, then (almost) a quiet settle time
    assert copying.read_text().count("part") == 4  # it was whole when it was ready


def test_a_file_still_changing_when_the_wait_ends_is_left_for_the_next_run(
    tmp_path: Path,
) -> None:
    """Still written to when the wait ends: not ready (left in place, not in the ledger);
    a file that goes away while waited for is named as gone."""
    busy = tmp_path / "busy.csv"
    busy.write_bytes(b"")
    vanishing = tmp_path / "vanishing.csv"
    vanishing.write_text("x\n")
    writer = _write_in_parts(busy, parts=10, pause_s=0.2)
    vanishing.unlink()
    settled = wait_until_settled([busy, vanishing], settle_s=1.0, max_wait_s=0.8)
    writer.join()
    assert settled.changing == [busy] and settled.gone == [vanishing] and not settled.ready


def test_a_file_removed_while_the_raw_run_reads_it_is_reported_and_the_run_goes_on(
    home: DataPaths, customer_landing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removed after it was hashed (an archiving job): rejected with the reason, nothing to
    move aside, the landing check fails naming it, and the other file lands."""
    from fs_assets.transforms import raw_history
    from tests.test_landing_vanished import remove_after

    folder, header, rows = customer_landing
    gone = write_csv(folder / "gone 'soon' [2].csv", header, rows[30:40])
    remove_after(monkeypatch, "hash_and_scan", gone.name)
    instance = dg.DagsterInstance.ephemeral()
    result = run_raw(home, raise_on_error=False, instance=instance)
    assert result.success  # the step ran to its end; the check says what went wrong
    check = landing_check(result)
    assert not check.passed
    (rejected,) = check.metadata["files_rejected"].value
    assert rejected["file"] == gone.name and rejected["reason"] == raw_history.VANISHED
    assert any("no longer in the landing folder" in m for m in messages(instance, result.run_id))
    assert not (home.rejected / "customer").exists() or not any(
        (home.rejected / "customer").iterdir()
    )
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.customer").fetchone() == (20,)
