"""A run reads the landing files that are new, not every file again: a file the ledger
accepted is skipped unread while its identity (inode, size, mtime, ctime) is the one taken
before it was hashed. Any write in place, even one that keeps the size and puts the old
mtime back, makes the next run read and hash it again, so a late correction is never lost."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from fs_assets.engines.duckdb_engine import ingest_files
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import LEDGER
from fs_assets.transforms import raw_history
from tests.test_raw_batch import customer_rows, fresh_db, write_csv


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the ingest reads to hash (two readers: in any order)."""
    names: list[str] = []
    real = raw_history.hash_and_scan

    def counting(path: Path, *args: object) -> object:
        names.append(path.name)
        return real(path, *args)

    monkeypatch.setattr(raw_history, "hash_and_scan", counting)
    return names


def two_files(tmp_path: Path, small_landing: Path) -> tuple[list[str], list[list[str]], Path, Path]:
    header, rows = customer_rows(small_landing)
    folder = tmp_path / "landing" / "customer"
    return (
        header,
        rows,
        write_csv(folder / "a.csv", header, rows[:20]),
        write_csv(folder / "b b [1].csv", header, rows[20:40]),
    )


def statuses(conn: duckdb.DuckDBPyConnection, paths: list[Path]) -> list[str]:
    return [o.status for o in ingest_files(conn, CUSTOMER, paths)]


def test_unchanged_files_are_skipped_without_reading_them(
    tmp_path: Path, small_landing: Path, hashed: list[str]
) -> None:
    _, _, a, b = two_files(tmp_path, small_landing)
    conn = fresh_db(tmp_path / "w.duckdb")
    assert statuses(conn, [a, b]) == ["ingested", "ingested"]
    assert sorted(hashed) == ["a.csv", "b b [1].csv"]
    hashed.clear()
    assert statuses(conn, [a, b]) == ["skipped", "skipped"]
    assert hashed == []


def test_a_correction_in_place_with_the_old_size_and_mtime_is_read_again(
    tmp_path: Path, small_landing: Path, hashed: list[str]
) -> None:
    header, rows, a, b = two_files(tmp_path, small_landing)
    conn = fresh_db(tmp_path / "w.duckdb")
    assert statuses(conn, [a, b]) == ["ingested", "ingested"]
    before = a.stat()
    # The same key and version time, one city spelled otherwise in as many bytes: what a
    # copy tool that keeps the mtime (cp -p, rsync -t) delivers as a late correction.
    city = header.index("City")
    corrected = [list(r) for r in rows[:20]]
    old_city = corrected[3][city]
    corrected[3][city] = "Z" * len(old_city) if old_city != "Z" * len(old_city) else "Y"
    write_csv(a, header, corrected)
    os.utime(a, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (a.stat().st_size, a.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    hashed.clear()
    outcomes = ingest_files(conn, CUSTOMER, [a, b])
    assert [o.status for o in outcomes] == ["ingested", "skipped"]
    assert hashed == ["a.csv"]  # b unchanged: not read
    assert outcomes[0].rows_corrected == 1
    key = corrected[3][header.index("Cust Id")]
    cities = conn.execute(
        "select city from raw.customer where cust_id = ? order by _batch_id", [key]
    ).fetchall()
    assert cities == [(old_city,), (corrected[3][city],)]


def test_same_bytes_touched_or_an_old_ledger_are_hashed_once_then_skipped_unread(
    tmp_path: Path, small_landing: Path, hashed: list[str]
) -> None:
    _, _, a, b = two_files(tmp_path, small_landing)
    conn = fresh_db(tmp_path / "w.duckdb")
    assert statuses(conn, [a, b]) == ["ingested", "ingested"]
    os.utime(a)  # touched: new mtime and ctime, the same bytes
    # A ledger written before identities were kept: the column is gained, empty.
    conn.execute(f"alter table {LEDGER} drop column file_identity")
    hashed.clear()
    assert statuses(conn, [a, b]) == ["skipped", "skipped"]
    assert sorted(hashed) == ["a.csv", "b b [1].csv"]
    hashed.clear()
    assert statuses(conn, [a, b]) == ["skipped", "skipped"]
    assert hashed == []
    (rows,) = conn.execute(f"select count(*) from {LEDGER}").fetchone()
    assert rows == 2  # a skip records nothing but the identity


def test_a_duplicate_under_another_name_is_recorded_once(
    tmp_path: Path, small_landing: Path, hashed: list[str]
) -> None:
    _, _, a, _ = two_files(tmp_path, small_landing)
    conn = fresh_db(tmp_path / "w.duckdb")
    twin = a.with_name("twin.csv")
    twin.write_bytes(a.read_bytes())
    assert statuses(conn, [a]) == ["ingested"]
    assert statuses(conn, [twin]) == ["duplicate"]
    hashed.clear()
    assert statuses(conn, [a, twin]) == ["skipped", "skipped"]
    assert hashed == []
    statuses_in_ledger = conn.execute(
        f"select file_name, status from {LEDGER} order by ingest_id"
    ).fetchall()
    assert statuses_in_ledger == [("a.csv", "ingested"), ("twin.csv", "duplicate")]
