"""Batch ingest on real DuckDB files: many files in one statement, the same result as
file by file, the per-file fallback for a bad file or conflicting files, hostile names in
one batch, and all-or-nothing under SIGKILL."""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fs_assets.engines import duckdb_engine
from fs_assets.engines.duckdb_engine import ingest_file, ingest_files
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import LEDGER
from fs_assets.transforms import raw_history
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS

# Hostile names (tests/test_landing_faults.py) and their decoys, all in one batch.
NAMES = [
    "cust[1].csv",
    "cust1.csv",
    "g*.csv",
    "gz.csv",
    "[!a]b.csv",
    "cb.csv",
    'it\'s "quoted" name.csv',
    "ünïcødé 名前.csv",
    "back\\slash.csv",
]
RAW_COMPARED = "* exclude (_ingested_at, _batch_id)"
LEDGER_COMPARED = (
    "entity, path, file_name, size_bytes, sha256, status, rows_read, rows_inserted, "
    "rows_already_present, rows_rejected, error, error_line"
)


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


def fresh_db(path: Path) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(str(path))
    for schema in LAYER_SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    return conn


def snapshot(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Everything ingestion writes, but the ingestion times and ids."""
    return {
        "raw": conn.execute(f"select {RAW_COMPARED} from raw.customer order by all").fetchall(),
        "rejects": conn.execute(
            "select * exclude (_rejected_at) from quarantine.customer_ingest_rejects order by all"
        ).fetchall(),
        "ledger": conn.execute(f"select {LEDGER_COMPARED} from {LEDGER} order by all").fetchall(),
    }


def mixed_files(folder: Path, small_landing: Path) -> list[Path]:
    """Overlapping versions, a same-timestamp correction, repeats, quarantined rows, a
    header-only file and the same bytes under two names: what a landing folder holds."""
    header, rows = customer_rows(small_landing)
    key, modified, city = (header.index(h) for h in ("Cust Id", "Modified At", "City"))
    newer = [list(r) for r in rows[40:60]]
    for r in newer[:5]:
        r[modified] = "2024-01-01 00:00:00"
    corrected = [list(r) for r in rows[0:10]]
    corrected[3][city] = "Corrected City"  # same (key, modified_at), other content
    bad = [list(r) for r in rows[60:64]]
    bad[0][key] = ""
    bad[1][modified] = "yesterday"
    bad[2][city] = "Mum\x00bai"
    files = [
        write_csv(folder / "a.csv", header, rows[0:50]),
        write_csv(folder / "b.csv", header, newer + rows[45:48] + rows[45:46]),  # repeats
        write_csv(folder / "c.csv", header, corrected),
        write_csv(folder / "d.csv", header, bad),
        write_csv(folder / "e.csv", header, []),
    ]
    files.append(Path(shutil.copy(files[0], folder / "a copy.csv")))
    return files


def test_a_batch_lands_what_file_by_file_lands(
    small_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = mixed_files(tmp_path / "landing", small_landing)
    one_by_one = fresh_db(tmp_path / "files.duckdb")
    expected = [ingest_file(one_by_one, CUSTOMER, p) for p in files]
    reads: list[int] = []
    relation_sql = duckdb_engine.relation_sql
    monkeypatch.setattr(
        duckdb_engine,
        "relation_sql",
        lambda layout, paths: reads.append(len(paths)) or relation_sql(layout, paths),
    )
    batched = fresh_db(tmp_path / "batch.duckdb")
    got = ingest_files(batched, CUSTOMER, files)
    # "c.csv" corrects a version "a.csv" delivers in the same batch: one statement cannot
    # order that, so this batch falls back to file by file after one attempt.
    assert reads[0] == 5
    assert got == expected
    assert snapshot(batched) == snapshot(one_by_one)
    assert [o.status for o in got] == ["ingested"] * 5 + ["duplicate"]
    assert got[2].rows_corrected == 1


def test_files_without_conflicts_are_read_by_one_statement(
    small_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [p for p in mixed_files(tmp_path / "landing", small_landing) if p.name != "c.csv"]
    one_by_one = fresh_db(tmp_path / "files.duckdb")
    expected = [ingest_file(one_by_one, CUSTOMER, p) for p in files]
    reads: list[int] = []
    relation_sql = duckdb_engine.relation_sql
    monkeypatch.setattr(
        duckdb_engine,
        "relation_sql",
        lambda layout, paths: reads.append(len(paths)) or relation_sql(layout, paths),
    )
    batched = fresh_db(tmp_path / "batch.duckdb")
    got = ingest_files(batched, CUSTOMER, files)
    assert reads == [4]  # a, b, d, e in one read; the copy of a is a duplicate
    assert got == expected
    assert snapshot(batched) == snapshot(one_by_one)
    rows = batched.execute(
        "select _source_file, min(_source_row), max(_source_row), count(*) "
        "from raw.customer group by 1 order by 1"
    ).fetchall()
    assert [(Path(f).name, lo, hi) for f, lo, hi, _ in rows] == [
        ("a.csv", 1, 50),
        ("b.csv", 1, 20),
        ("d.csv", 4, 4),  # rows 1 to 3 are quarantined
    ]


def test_batches_of_bounded_size_land_what_one_batch_lands(
    small_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a byte bound below the files' total, consecutive batches are merged one after
    the other (a later one finds the earlier one's versions in raw): same rows, same
    ledger, same outcomes as file by file, and no batch over the bound but a lone file."""
    files = [p for p in mixed_files(tmp_path / "landing", small_landing) if p.name != "c.csv"]
    one_by_one = fresh_db(tmp_path / "files.duckdb")
    expected = [ingest_file(one_by_one, CUSTOMER, p) for p in files]
    sizes = {p: p.stat().st_size for p in files}
    bound = sizes[files[0]] + sizes[files[1]] - 1  # a.csv and b.csv cannot share a batch
    reads: list[list[Path]] = []
    relation_sql = duckdb_engine.relation_sql
    monkeypatch.setattr(
        duckdb_engine,
        "relation_sql",
        lambda layout, paths: reads.append(list(paths)) or relation_sql(layout, paths),
    )
    monkeypatch.setattr(duckdb_engine, "BATCH_MAX_BYTES", bound)
    batched = fresh_db(tmp_path / "batch.duckdb")
    got = ingest_files(batched, CUSTOMER, files)
    assert [[p.name for p in r] for r in reads] == [["a.csv"], ["b.csv", "d.csv", "e.csv"]]
    assert all(len(r) == 1 or sum(sizes[p] for p in r) <= bound for r in reads)
    assert got == expected
    assert snapshot(batched) == snapshot(one_by_one)


def test_a_bad_file_in_a_batch_is_rejected_alone(small_landing: Path, tmp_path: Path) -> None:
    header, rows = customer_rows(small_landing)
    folder = tmp_path / "landing"
    good = write_csv(folder / "a.csv", header, rows[:30])
    broken = write_csv(folder / "b.csv", header, rows[30:40])
    lines = broken.read_text(encoding="utf-8").splitlines()
    lines[4] += ',"extra"'  # file line 5 has one field too many
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    later = write_csv(folder / "c.csv", header, rows[40:60])
    conn = fresh_db(tmp_path / "w.duckdb")
    got = ingest_files(conn, CUSTOMER, [good, broken, later])
    assert [o.status for o in got] == ["ingested", "rejected", "ingested"]
    assert got[1].error_line == 5 and got[1].error
    assert [o.rows_inserted for o in got] == [30, 0, 20]
    assert conn.execute("select count(*) from raw.customer").fetchone() == (50,)
    assert conn.execute(
        f"select status, error_line from {LEDGER} where file_name = 'b.csv'"
    ).fetchall() == [("rejected", 5)]


def test_hostile_names_in_one_batch_read_their_own_bytes(
    small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    key = header.index("Cust Id")
    folder = tmp_path / "landing"
    parts = {name: rows[i * 10 : i * 10 + 10] for i, name in enumerate(NAMES)}
    paths = [write_csv(folder / name, header, part) for name, part in parts.items()]
    conn = fresh_db(tmp_path / "w.duckdb")
    got = ingest_files(conn, CUSTOMER, paths)
    assert [(o.status, o.rows_read, o.rows_inserted) for o in got] == [("ingested", 10, 10)] * 9
    for path, (name, part) in zip(paths, parts.items(), strict=True):
        stored = conn.execute(
            "select cust_id, _source_row from raw.customer where _source_file = ? order by 2",
            [str(path.resolve())],
        ).fetchall()
        assert stored == [(r[key], n) for n, r in enumerate(part, start=1)], name


KILLER = """
import os, signal, sys
from pathlib import Path
import duckdb
from fs_assets.engines import duckdb_engine
from fs_assets.model.entities import CUSTOMER
from fs_assets.transforms import raw_history

record = raw_history.record_outcome
seen = []
def record_then_die(*args, **kwargs):
    record(*args, **kwargs)
    seen.append(1)
    if len(seen) == 2:  # the second file's ledger row is written: die before commit
        os.kill(os.getpid(), signal.SIGKILL)
raw_history.record_outcome = record_then_die
conn = duckdb.connect(sys.argv[1])
duckdb_engine.ingest_files(conn, CUSTOMER, [Path(p) for p in sys.argv[2:]])
"""


def test_sigkill_inside_a_batch_keeps_none_of_it_and_the_next_run_lands_all(
    small_landing: Path, tmp_path: Path
) -> None:
    header, rows = customer_rows(small_landing)
    folder = tmp_path / "landing"
    paths = [write_csv(folder / f"{n}.csv", header, rows[n * 20 : n * 20 + 20]) for n in range(3)]
    db = tmp_path / "w.duckdb"
    fresh_db(db).close()
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(db), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    conn = duckdb.connect(str(db))
    assert conn.execute("select count(*) from raw.customer").fetchone() == (0,)
    assert conn.execute(f"select count(*) from {LEDGER}").fetchone() == (0,)
    got = ingest_files(conn, CUSTOMER, paths)
    assert [(o.status, o.rows_inserted) for o in got] == [("ingested", 20)] * 3
    assert conn.execute(f"select count(*) from {LEDGER}").fetchone() == (3,)


def test_running_out_of_memory_fails_the_run_and_rejects_no_file(
    small_landing: Path, tmp_path: Path
) -> None:
    """An out-of-memory error while reading is the warehouse's limit, not a bad file: the
    file must not be rejected (and moved aside) for it, and nothing is recorded."""
    path = sorted((small_landing / "customer").glob("*.csv"))[0]
    conn = fresh_db(tmp_path / "w.duckdb")
    raw_history.ensure_tables(conn, CUSTOMER)
    conn.execute("set threads = 1")
    conn.execute("set memory_limit = '4MB'")
    with pytest.raises(duckdb.OutOfMemoryException):
        ingest_files(conn, CUSTOMER, [path])
    conn.execute("set memory_limit = '1GB'")
    assert conn.execute(f"select count(*) from {LEDGER}").fetchone() == (0,)
    assert ingest_files(conn, CUSTOMER, [path])[0].status == "ingested"


def test_an_unterminated_quote_on_a_last_line_is_rejected_in_a_batch(
    small_landing: Path, tmp_path: Path
) -> None:
    """The soak's bad-quoting file among four good ones: read as one list, DuckDB 2.0
    dropped its last line silently and ingested the rest; each file is read by its own
    reader, so the file is rejected with its line, as alone."""
    header, rows = customer_rows(small_landing)
    folder = tmp_path / "landing"
    bad = write_csv(folder / "a_bad.csv", header, rows[:2])
    bad.write_bytes(bad.read_bytes() + b'0,"unterminated,quote\n')
    good = [
        write_csv(folder / f"b_{n}.csv", header, rows[10 + n * 13 : 23 + n * 13]) for n in range(4)
    ]
    conn = fresh_db(tmp_path / "w.duckdb")
    got = ingest_files(conn, CUSTOMER, [bad, *good])
    assert [o.status for o in got] == ["rejected"] + ["ingested"] * 4
    assert got[0].error_line == 4
    assert conn.execute(
        "select count(*) from raw.customer where _source_file = ?", [str(bad.resolve())]
    ).fetchone() == (0,)
    assert conn.execute("select count(*) from raw.customer").fetchone() == (52,)
