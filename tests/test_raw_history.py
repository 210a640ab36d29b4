"""Raw ingestion against a real DuckDB file: merge rule, ledger, malformed files, drift."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, PRODUCT
from fs_assets.model.keys import LEDGER
from fs_assets.transforms.landing_files import cleanse_column_name


def customer_file(small_landing: Path) -> Path:
    return sorted((small_landing / "customer").glob("*.csv"))[0]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def count(conn, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchone()[0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Cust First Name", "cust_first_name"),
        ("Mobile Number1", "mobile_number1"),
        ("  Customer AddressLine1 ", "customer_addressline1"),
        ("cust-id", "cust_id"),
        ("Unnamed: 0", "unnamed_0"),
        ("", ""),
    ],
)
def test_cleanse_column_name(header: str, expected: str) -> None:
    assert cleanse_column_name(header) == expected


def test_same_file_twice_adds_nothing(conn, small_landing: Path) -> None:
    path = customer_file(small_landing)
    first = ingest_file(conn, CUSTOMER, path)
    assert first.status == "ingested"
    assert first.rows_inserted == first.rows_read > 0
    before = count(conn, "raw.customer")
    second = ingest_file(conn, CUSTOMER, path)
    assert second.status == "skipped"
    assert count(conn, "raw.customer") == before
    assert count(conn, LEDGER) == 1


def test_copy_of_a_file_is_a_recorded_duplicate(conn, small_landing: Path, tmp_path: Path) -> None:
    path = customer_file(small_landing)
    ingest_file(conn, CUSTOMER, path)
    before = count(conn, "raw.customer")
    copy = Path(shutil.copy(path, tmp_path / "renamed_copy.csv"))
    outcome = ingest_file(conn, CUSTOMER, copy)
    assert outcome.status == "duplicate"
    assert outcome.rows_inserted == 0
    assert count(conn, "raw.customer") == before
    statuses = conn.execute(f"select status from {LEDGER} order by ingest_id").fetchall()
    assert statuses == [("ingested",), ("duplicate",)]


def test_overlapping_file_inserts_only_unseen_versions(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = read_rows(customer_file(small_landing))
    ingest_file(conn, CUSTOMER, write_rows(tmp_path / "a.csv", header, rows[:100]))
    modified = header.index("Modified At")
    changed = [list(r) for r in rows[90:110]]
    changed[0][modified] = "2024-01-01 00:00:00"  # a new version of a known customer
    outcome = ingest_file(conn, CUSTOMER, write_rows(tmp_path / "b.csv", header, changed))
    # rows 100..109 are new keys, row 90 is a new version, rows 91..99 are already present
    assert (outcome.rows_inserted, outcome.rows_already_present) == (11, 9)
    assert count(conn, "raw.customer") == 111


def test_rows_without_key_or_timestamp_are_quarantined(
    conn, small_landing: Path, tmp_path: Path
) -> None:
    header, rows = read_rows(customer_file(small_landing))
    bad = [list(r) for r in rows[:3]]
    bad[0][header.index("Cust Id")] = ""
    bad[1][header.index("Modified At")] = "yesterday"
    outcome = ingest_file(conn, CUSTOMER, write_rows(tmp_path / "c.csv", header, bad))
    assert (outcome.rows_inserted, outcome.rows_rejected) == (1, 2)
    reasons = conn.execute(
        "select _source_row, _reason from quarantine.customer_ingest_rejects order by 1"
    ).fetchall()
    assert reasons[0][0] == 1 and reasons[0][1].startswith("key_missing")
    assert reasons[1][0] == 2 and "yesterday" in reasons[1][1]


def _malformed(tmp_path: Path, small_landing: Path, kind: str) -> tuple[Path, int | None]:
    header, rows = read_rows(customer_file(small_landing))
    path = tmp_path / f"{kind}.csv"
    good = [",".join(f'"{v}"' for v in r) for r in rows[:5]]
    head = ",".join(f'"{h}"' for h in header)
    if kind == "empty":
        path.write_bytes(b"")
        return path, None
    if kind == "bad_quoting":
        lines = [head, *good[:2], good[2].replace('"', "", 1) + '"x"y', *good[3:]]
    elif kind == "wrong_column_count":
        lines = [head, *good[:3], good[3] + ',"extra"', good[4]]
    else:  # non_utf8
        lines = [head, *good]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if kind == "non_utf8":
        data = data.replace(rows[3][3].encode(), b"\xff\xfe" + rows[3][3].encode(), 1)
    path.write_bytes(data)
    return path, {"bad_quoting": 4, "wrong_column_count": 5, "non_utf8": 5}[kind]


@pytest.mark.parametrize("kind", ["empty", "bad_quoting", "wrong_column_count", "non_utf8"])
def test_malformed_csv_is_rejected_whole_with_file_and_line(
    conn, small_landing: Path, tmp_path: Path, kind: str
) -> None:
    ingest_file(conn, CUSTOMER, customer_file(small_landing))
    before = count(conn, "raw.customer")
    path, line = _malformed(tmp_path, small_landing, kind)
    outcome = ingest_file(conn, CUSTOMER, path)
    assert outcome.status == "rejected"
    assert outcome.error
    assert outcome.error_line == line
    assert count(conn, "raw.customer") == before  # nothing from the file, nothing lost
    status, error = conn.execute(
        f"select status, error from {LEDGER} where path = ?", [str(path.resolve())]
    ).fetchone()
    assert status == "rejected" and error == outcome.error


@pytest.mark.parametrize("drift", ["missing", "unexpected"])
def test_schema_drift_is_a_clear_error(
    conn, small_landing: Path, tmp_path: Path, drift: str
) -> None:
    header, rows = read_rows(customer_file(small_landing))
    if drift == "missing":
        idx = header.index("Pin")
        header = header[:idx] + header[idx + 1 :]
        rows = [r[:idx] + r[idx + 1 :] for r in rows[:5]]
    else:
        header = [*header, "Loyalty Tier"]
        rows = [[*r, "Gold"] for r in rows[:5]]
    outcome = ingest_file(conn, CUSTOMER, write_rows(tmp_path / "drift.csv", header, rows))
    assert outcome.status == "rejected"
    assert "schema drift" in outcome.error
    assert ("pin" if drift == "missing" else "loyalty_tier") in outcome.error
    assert count(conn, "raw.customer") == 0


def test_parquet_landing_file(conn, tmp_path: Path) -> None:
    from fs_assets.generator import generate_landing

    generate_landing(tmp_path / "pq", customers=200, seed=3, fmt="parquet")
    path = next((tmp_path / "pq" / "product").glob("*.parquet"))
    outcome = ingest_file(conn, PRODUCT, path)
    assert outcome.status == "ingested" and outcome.rows_inserted == 10
