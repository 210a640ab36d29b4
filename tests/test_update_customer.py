"""The customer-update tool: validation, injection safety, atomic change files, no lost edits."""

from __future__ import annotations

import csv
import datetime as dt
import errno
import fcntl
import itertools
import os
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from fs_assets.app.build import build
from fs_assets.app.update_customer import (
    LOCK_FILE_NAME,
    UpdateError,
    broken_rules,
    change_files,
    next_modified_at,
    parse_assignments,
    read_change_file,
    update_customer,
    validate_changes,
)
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS


@pytest.fixture
def raw_only(landed: DataPaths) -> DataPaths:
    """raw.customer ingested into the data folder's warehouse (no Dagster run needed)."""
    with duckdb.connect(str(landed.warehouse)) as conn:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
    return landed


def a_customer(paths: DataPaths, customer_type: str = "Personal") -> dict:
    """The first customer of the type in Maharashtra, India (so Pune and 4110xx pins are
    valid places) whose row passes every rule as of now (its age flags still hold)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        cur = conn.execute(
            "select * from raw.customer where customer_type = ? and state = 'Maharashtra' "
            "order by cust_id",
            [customer_type],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    text = [{c: row[c] for c in CUSTOMER.column_names} for row in rows]
    return next(
        r for r, t in zip(rows, text, strict=True) if not broken_rules(t | {"modified_at": now})
    )


def no_ask(prompt: str) -> str:
    raise AssertionError(f"unexpected prompt {prompt}")


def test_valid_change_writes_full_row_atomically(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    new_risk = "High" if row["customer_risk_category"] != "High" else "Low"
    result = update_customer(raw_only, row["cust_id"], {"customer_risk_category": new_risk}, no_ask)
    assert result is not None and result.path.parent == raw_only.landing / "customer"
    assert not list(result.path.parent.glob(".*.tmp"))
    with result.path.open(newline="", encoding="utf-8") as handle:
        header, values = list(csv.reader(handle))
    assert header == ["", *(c.source_header for c in CUSTOMER.columns)]
    written = dict(zip(CUSTOMER.column_names, values[1:], strict=True))
    assert written["customer_risk_category"] == new_risk
    assert written["cust_first_name"] == row["cust_first_name"]
    assert written["modified_at"] > row["modified_at"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"loyalty": "Gold"}, "unknown field 'loyalty'"),
        ({"cust_id": "1000000002"}, "cannot be updated"),
        ({"cust_segment": "Downtown"}, "must be one of"),
        ({"cibil_score": "1200"}, "cibil_score"),
        ({"email_addr": "not-an-email"}, "email_addr"),
        ({"pin": "12345678901"}, "at most 10"),
    ],
)
def test_bad_field_or_value_is_a_clear_error(
    raw_only: DataPaths, changes: dict, message: str
) -> None:
    row = a_customer(raw_only)
    with pytest.raises(UpdateError, match=message):
        update_customer(raw_only, row["cust_id"], changes, no_ask)
    assert not list((raw_only.landing / "customer").glob("customer_update_*"))


@pytest.mark.parametrize(
    ("changes", "rules"),
    [
        # The examples, on an Indian customer.
        (
            {"country": "Norway"},
            ["state__in_country", "pin__country_format", "country_code__matches_country"],
        ),
        ({"pin": "abcdef"}, ["pin__country_format"]),
        ({"pin": "12"}, ["pin__country_format"]),
        ({"pin": "2260011"}, ["pin__country_format"]),
        ({"mobile_number1": "12345"}, ["mobile_number1__country_format"]),
        ({"city": "Oslo"}, ["city__in_state"]),
        ({"state": "Delhi"}, ["city__in_state"]),
        ({"country_code": "+47"}, ["country_code__matches_country"]),
        ({"customer_type": "Corporate"}, ["gender__personal_only", "minor_flag__personal_only"]),
    ],
)
def test_a_change_breaking_a_cross_field_rule_is_refused_naming_it(
    raw_only: DataPaths, changes: dict, rules: list[str]
) -> None:
    row = a_customer(raw_only)
    assert row["country"] == "India"
    with pytest.raises(UpdateError) as caught:
        update_customer(raw_only, row["cust_id"], changes, no_ask)
    message = str(caught.value)
    for rule in rules:
        assert rule in message
    assert "nothing was written" in message and "--set" in message
    assert not list((raw_only.landing / "customer").glob("*customer_update_*"))


def test_a_change_of_related_fields_together_is_accepted(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    move = {"country": "Norway", "state": "Oslo", "city": "Oslo", "pin": "0010"}
    with pytest.raises(UpdateError, match="the code of Norway is \\+47"):
        update_customer(raw_only, row["cust_id"], move, no_ask)
    result = update_customer(raw_only, row["cust_id"], move | {"country_code": "+47"}, no_ask)
    assert result is not None and written_row(result.path)["state"] == "Oslo"


def test_the_title_must_fit_the_gender(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    other = "Male" if row["cust_title"] == "Mx" else "Non Binary"
    with pytest.raises(UpdateError, match=r"cust_title__matches_gender.*unchanged"):
        update_customer(raw_only, row["cust_id"], {"gender": other}, no_ask)


def test_age_flags_are_checked_as_of_the_new_version() -> None:
    """A customer who was 17 at the last change is an adult now: the flag must change too."""
    row = {c: None for c in CUSTOMER.column_names} | {
        "cust_id": "1000000001",
        "customer_type": "Personal",
        "cust_dob": "2003-06-01",
        "minor_flag": "Yes",
        "senior_citizen_flag": "No",
        "modified_at": "2021-01-01 00:00:00",
    }
    assert "minor_flag__matches_dob" not in {r.name for r in broken_rules(row)}
    with pytest.raises(UpdateError, match=r"minor_flag__matches_dob.*set minor_flag=No"):
        validate_changes(row, {"customer_status": "Active"}, "2026-01-01 00:00:00.000000")


def test_stale_age_flags_follow_the_date_of_birth_and_are_listed(raw_only: DataPaths) -> None:
    """A minor at the last change who is an adult now: the tool sets minor_flag=No itself
    (and says so); a flag set by hand against the date of birth is refused."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with duckdb.connect(str(raw_only.warehouse), read_only=True) as conn:
        cur = conn.execute(
            "select * from raw.customer where customer_type = 'Personal' and minor_flag = 'Yes' "
            "order by cust_id"
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    stale = next(
        r
        for r in rows
        if [
            b.name
            for b in broken_rules({c: r[c] for c in CUSTOMER.column_names} | {"modified_at": now})
        ]
        == ["minor_flag__matches_dob"]
    )
    with pytest.raises(UpdateError, match=r"minor_flag__matches_dob.*set minor_flag=No"):
        update_customer(raw_only, stale["cust_id"], {"minor_flag": "Yes"}, no_ask)
    result = update_customer(raw_only, stale["cust_id"], {"customer_status": "Active"}, no_ask)
    assert result is not None
    assert result.changes["minor_flag"] == ("Yes", "No")
    assert written_row(result.path)["minor_flag"] == "No"


def test_personal_only_field_refused_for_organisations(raw_only: DataPaths) -> None:
    row = a_customer(raw_only, "Corporate")
    with pytest.raises(UpdateError, match="Corporate customer"):
        update_customer(raw_only, row["cust_id"], {"gender": "Male"}, no_ask)


@pytest.mark.parametrize(
    "cust_id",
    ["9999999999", "1000000001' OR '1'='1", "x'; drop table raw.customer; --", ""],
)
def test_unknown_or_injection_shaped_id(raw_only: DataPaths, cust_id: str) -> None:
    with pytest.raises(UpdateError, match="does not exist"):
        update_customer(raw_only, cust_id, {"city": "Pune"}, no_ask)
    with duckdb.connect(str(raw_only.warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from raw.customer").fetchone()[0] > 0


def test_nothing_built_yet(home: DataPaths) -> None:
    with pytest.raises(UpdateError, match="nothing has been built yet"):
        update_customer(home, "1000000001", {"city": "Pune"}, no_ask)


def test_interactive_prompts_skip_on_enter(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    answers = {"customer_privelege": "No" if row["customer_privelege"] == "Yes" else "Yes"}
    asked: list[str] = []

    def ask(prompt: str) -> str:
        name = prompt.split(" [", 1)[0]
        asked.append(name)
        return answers.get(name, "")

    result = update_customer(raw_only, row["cust_id"], None, ask)
    assert result is not None and set(result.changes) == {"customer_privelege"}
    assert "gender" in asked and "cust_id" not in asked
    assert update_customer(raw_only, row["cust_id"], None, lambda _: "") is None


def test_parse_assignments() -> None:
    assert parse_assignments(["city=Pune", "pin=411001"]) == {"city": "Pune", "pin": "411001"}
    with pytest.raises(UpdateError):
        parse_assignments(["city"])


def test_cli_exit_codes_and_refresh(built: DataPaths) -> None:
    row = a_customer(built)
    cli = [sys.executable, "-m", "fs_assets.app.cli"]
    bad = subprocess.run(
        [*cli, "update-customer", "1234567890", "--set", "city=Pune"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    new_status = "Dormant" if row["customer_status"] != "Dormant" else "Active"
    ok = subprocess.run(
        [*cli, "update-customer", row["cust_id"], "--set", f"customer_status={new_status}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    report = build(built, select="key:raw/customer+", out=StringIO())
    assert report.ok
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        status = conn.execute(
            "select customer_status from mastered.customer where cust_id = ?", [row["cust_id"]]
        ).fetchone()[0]
        versions = conn.execute(
            "select count(*) from raw.customer where cust_id = ?", [row["cust_id"]]
        ).fetchone()[0]
    assert status == new_status and versions == 2


def test_change_file_path_is_inside_landing(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    result = update_customer(
        raw_only, row["cust_id"], {"city": "Delhi", "state": "Delhi", "pin": "110001"}, no_ask
    )
    assert result is not None
    assert Path(result.path).resolve().is_relative_to(raw_only.landing.resolve())


CLI = [sys.executable, "-m", "fs_assets.app.cli"]
CUSTOMER_LAYERS = "key:raw/customer or key:mastered/customer"

# Nine edits of issue 15: address lines, CIBIL, pin three times, e-mail, mobile, city.
NINE_EDITS = [
    {"customer_addressline1": "12 Harbour Road"},
    {"customer_addressline2": "Second Floor"},
    {"cibil_score": "812"},
    {"pin": "411001"},
    {"pin": "411002"},
    {"pin": "411003"},
    {"email_addr": "nine.edits@example.com"},
    {"mobile_number1": "9876543210"},
    {"city": "Pune"},
]


def written_row(path: Path) -> dict[str, str]:
    return {k: v or "" for k, v in read_change_file(path).row.items()}


def test_nine_updates_then_one_build_keep_all_nine(built: DataPaths) -> None:
    row = a_customer(built)
    for edit in NINE_EDITS:
        assert update_customer(built, row["cust_id"], edit, no_ask) is not None
    # Raw and mastered (with their checks) are where the nine edits must survive; what a
    # change refreshes below mastered is built by test_cli_exit_codes_and_refresh.
    report = build(built, select=CUSTOMER_LAYERS, out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)
    expected = {k: v for edit in NINE_EDITS for k, v in edit.items()}
    cols = ", ".join(f"cast({c} as varchar)" for c in expected)
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        got = conn.execute(
            f"select {cols} from mastered.customer where cust_id = ?", [row["cust_id"]]
        ).fetchone()
        rejected = conn.execute(
            "select count(*) from quarantine.customer_rejects where cust_id = ?",
            [row["cust_id"]],
        ).fetchone()[0]
    assert dict(zip(expected, got, strict=True)) == expected
    assert rejected == 0


def test_each_change_builds_on_the_pending_one(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    first = update_customer(raw_only, row["cust_id"], {"city": "Pune"}, no_ask)
    second = update_customer(raw_only, row["cust_id"], {"pin": "411001"}, no_ask)
    assert first is not None and second is not None and first.path != second.path
    latest = written_row(second.path)
    assert latest["city"] == "Pune" and latest["pin"] == "411001"
    assert second.changes == {"pin": (row["pin"], "411001")}
    assert latest["cust_first_name"] == (row["cust_first_name"] or "")


def test_modified_at_strictly_increasing_per_customer(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    for n in range(6):
        update_customer(raw_only, row["cust_id"], {"pin": f"41100{n}"}, no_ask)
    folder = raw_only.landing_dir(CUSTOMER.name)
    stamps = [read_change_file(p).modified for p in change_files(folder, row["cust_id"])]
    assert len(stamps) == 6 and all(a < b for a, b in itertools.pairwise(stamps))
    assert stamps[0] > dt.datetime.fromisoformat(row["modified_at"])


def test_next_modified_at_never_goes_back() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0)
    assert next_modified_at(now - dt.timedelta(days=1), now) == now
    assert next_modified_at(now, now) == now + dt.timedelta(microseconds=1)
    future = now + dt.timedelta(hours=3)  # a source clock ahead of ours
    assert next_modified_at(future, now) == future + dt.timedelta(microseconds=1)


def test_a_pending_change_from_the_future_is_still_overtaken(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    first = update_customer(raw_only, row["cust_id"], {"city": "Pune"}, no_ask)
    assert first is not None
    ahead = written_row(first.path)
    # A day ahead (far enough to overtake now; a version centuries ahead would break the
    # age-flag rules, which hold as of modified_at).
    tomorrow = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=1)
    ahead["modified_at"] = tomorrow.strftime("%Y-%m-%d %H:%M:%S.%f")
    with first.path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
        writer.writerow([0, *(ahead[c] for c in CUSTOMER.column_names)])
    second = update_customer(raw_only, row["cust_id"], {"pin": "411001"}, no_ask)
    assert second is not None
    latest = written_row(second.path)
    assert latest["city"] == "Pune"
    assert latest["modified_at"] == (tomorrow + dt.timedelta(microseconds=1)).strftime(
        "%Y-%m-%d %H:%M:%S.%f"
    )


def test_half_written_temp_file_is_ignored_and_foreign_file_is_named(
    raw_only: DataPaths,
) -> None:
    row = a_customer(raw_only)
    folder = raw_only.landing_dir(CUSTOMER.name)
    partial = folder / f".customer_update_{row['cust_id']}_20990101T000000000000.csv.tmp"
    partial.write_text(',"Cust Id","Cust Fir')  # a writer killed mid-file
    result = update_customer(raw_only, row["cust_id"], {"city": "Pune"}, no_ask)
    assert result is not None and written_row(result.path)["city"] == "Pune"
    foreign = folder / f"customer_update_{row['cust_id']}_by hand.csv"
    foreign.write_text("not,a,change,file\n")
    with pytest.raises(UpdateError, match=r"by hand\.csv.*move it out of the landing folder"):
        update_customer(raw_only, row["cust_id"], {"pin": "411001"}, no_ask)
    assert len(change_files(folder, row["cust_id"])) == 2  # nothing new written


def test_two_writers_at_once_lose_no_edit(raw_only: DataPaths) -> None:
    """Both tools read the latest while the test holds the lock, then race for it."""
    row = a_customer(raw_only)
    folder = raw_only.landing_dir(CUSTOMER.name)
    folder.mkdir(parents=True, exist_ok=True)
    lock = os.open(folder / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        procs = [
            subprocess.Popen(
                [*CLI, "update-customer", row["cust_id"], "--set", change],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for change in ("city=Pune", "email_addr=two.writers@example.com")
        ]
        for proc in procs:  # each has read the latest and now waits for the lock
            seen = ""
            while "waiting for another update-customer" not in seen:
                line = proc.stderr.readline()
                assert line, f"exited without waiting: {seen}"
                seen += line
    finally:
        os.close(lock)
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    paths = change_files(folder, row["cust_id"])
    versions = sorted((read_change_file(p) for p in paths), key=lambda v: v.modified)
    assert len(versions) == 2 and versions[0].modified < versions[1].modified
    assert versions[1].row["city"] == "Pune"
    assert versions[1].row["email_addr"] == "two.writers@example.com"


def test_waits_for_a_build_holding_the_warehouse(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('locked', flush=True); time.sleep(2); c.close()",
            str(raw_only.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        messages: list[str] = []
        started = time.monotonic()
        result = update_customer(
            raw_only, row["cust_id"], {"city": "Pune"}, no_ask, on_wait=messages.append
        )
        assert result is not None and time.monotonic() - started >= 1.0
        assert any("waiting for the warehouse lock" in m for m in messages), messages
    finally:
        holder.wait(timeout=30)


def test_closed_stdin_is_a_clear_error(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    done = subprocess.run(
        [*CLI, "update-customer", row["cust_id"]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "no input: pass --set field=value or run in a terminal" in done.stderr
    assert "Traceback" not in done.stderr
    assert not change_files(raw_only.landing_dir(CUSTOMER.name), row["cust_id"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cty", "unknown field 'cty'; did you mean 'city'?"),
        ("emial_addr", "unknown field 'emial_addr'; did you mean 'email_addr'?"),
        ("zzzz", "unknown field 'zzzz' updatable fields: cust_segment"),
    ],
)
def test_unknown_field_suggests_the_closest(raw_only: DataPaths, name: str, message: str) -> None:
    row = a_customer(raw_only)
    with pytest.raises(UpdateError) as caught:
        update_customer(raw_only, row["cust_id"], {name: "Pune"}, no_ask)
    assert message in str(caught.value)
    assert "cannot be updated" not in str(caught.value)


def test_cli_unknown_field(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    done = subprocess.run(
        [*CLI, "update-customer", row["cust_id"], "--set", "cty=Pune"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "unknown field 'cty'; did you mean 'city'?" in done.stderr


def test_control_characters_are_refused(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    with pytest.raises(UpdateError, match=r"control character.*'\\x00'"):
        update_customer(raw_only, row["cust_id"], {"city": "Mum\x00bai"}, no_ask)
    assert not change_files(raw_only.landing_dir(CUSTOMER.name), row["cust_id"])


def test_full_disk_is_a_clear_error_and_leaves_no_temp_file(
    raw_only: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = a_customer(raw_only)
    real_fsync = os.fsync

    def full_disk(fd: int) -> None:
        real_fsync(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(UpdateError, match=r"No space left on device.*nothing was written"):
        update_customer(raw_only, row["cust_id"], {"city": "Pune"}, no_ask)
    folder = raw_only.landing_dir(CUSTOMER.name)
    assert not change_files(folder, row["cust_id"])
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_change_file_with_a_zone_offset_compares_in_utc(raw_only: DataPaths) -> None:
    row = a_customer(raw_only)
    folder = raw_only.landing_dir(CUSTOMER.name)
    path = folder / f"customer_update_{row['cust_id']}_by_hand.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
        values = {**row, "modified_at": "2030-01-01 12:00:00+02:00"}
        writer.writerow(
            [0, *("" if values[c] is None else values[c] for c in CUSTOMER.column_names)]
        )
    assert read_change_file(path).modified == dt.datetime(2030, 1, 1, 10, 0, 0)
    result = update_customer(raw_only, row["cust_id"], {"pin": "411001"}, no_ask)
    assert result is not None
    assert written_row(result.path)["modified_at"] == "2030-01-01 10:00:00.000001"
