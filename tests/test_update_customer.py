"""The customer-update tool: validation, injection safety, atomic change files, refresh."""

from __future__ import annotations

import csv
import subprocess
import sys
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from fs_assets.build import build
from fs_assets.entities import CUSTOMER
from fs_assets.paths import DataPaths
from fs_assets.raw_history import ingest_file
from fs_assets.update_customer import UpdateError, parse_assignments, update_customer
from resources.warehouse import LAYER_SCHEMAS


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
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        cur = conn.execute(
            "select * from raw.customer where customer_type = ? order by cust_id limit 1",
            [customer_type],
        )
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone(), strict=True))


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
        ({"loyalty": "Gold"}, "cannot be updated"),
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
    cli = [sys.executable, "-m", "fs_assets.cli"]
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
