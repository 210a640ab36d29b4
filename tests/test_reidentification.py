"""Re-identification risk as a check: k-anonymity of each role's view, and the audit chain."""

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from asset_checks.governance_checks import GOVERNANCE_CHECKS, k_anonymity
from fs_assets.defs.governed import GOVERNED_ASSETS, build_governed_views
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance import audit
from fs_assets.transforms.governance import policies as policy_module
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.governance.policies import POLICY_FILE, load_policies
from fs_assets.transforms.mastering import build_mastered
from resources.masking_key import masking_key_from_env
from resources.warehouse import WarehouseResource

KEY = key_from_env()
# Quasi-identifiers every role reads in clear, so the baseline is known from the data.
QI_SETTINGS = "quasi_identifiers: [gender, cust_segment]"


@pytest.fixture
def governed(landed: DataPaths) -> DataPaths:
    conn = duckdb.connect(str(landed.warehouse))
    try:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
        build_mastered(conn, ENTITIES["customer"])
        KEY.apply(conn)
        build_governed_views(conn, load_policies())
    finally:
        conn.close()
    return landed


def _run_checks(paths: DataPaths, role_view: str) -> dict[str, dg.AssetCheckEvaluation]:
    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == role_view)
    checks = [c for c in GOVERNANCE_CHECKS if any(k.asset_key == asset.key for k in c.check_keys)]
    result = dg.materialize(
        [asset, *checks],
        resources={
            "warehouse": WarehouseResource(home=str(paths.home)),
            "masking_key": masking_key_from_env(),
        },
        raise_on_error=False,
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_k_anonymity_counts_groups_as_the_role_reads_them(governed: DataPaths) -> None:
    qis = ("cust_dob", "pin", "gender", "minor_flag", "senior_citizen_flag")
    conn = duckdb.connect(str(governed.warehouse), read_only=True)
    try:
        KEY.apply(conn)
        genders, gender_groups = conn.execute(
            "select min(n), count(*) from "
            "(select count(*) n from mastered.customer group by gender)"
        ).fetchone()
        analyst = k_anonymity(conn, "governed.analyst_customer", qis, 5)
        restricted = k_anonymity(conn, "governed.restricted_acess_customer", qis, 5)
    finally:
        conn.close()
    # The analyst reads dob, pin and flags redacted: its groups are the genders.
    assert analyst.k == genders and analyst.groups == gender_groups > 1
    # Hashed PINs keep their groups: restricted-acess can single customers out.
    assert restricted.k == 1 and restricted.rows_below > 0


def test_a_planted_unique_combination_drops_k_below_the_threshold(
    governed: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = POLICY_FILE.read_text(encoding="utf-8").replace(
        "quasi_identifiers: [cust_dob, pin, gender, minor_flag, senior_citizen_flag]",
        QI_SETTINGS,
    )
    policy_file = tmp_path / "masking.yaml"
    policy_file.write_text(text, encoding="utf-8")
    monkeypatch.setattr(policy_module, "POLICY_FILE", policy_file)
    conn = duckdb.connect(str(governed.warehouse), read_only=True)
    try:
        baseline = k_anonymity(conn, "mastered.customer", ("gender", "cust_segment"), 5).k
    finally:
        conn.close()
    assert baseline >= 5, "the fixture's data must pass before the plant"
    before = _run_checks(governed, "analyst_customer")["k_anonymity"]
    assert before.passed and before.metadata["k"].value == baseline

    conn = duckdb.connect(str(governed.warehouse))
    try:
        conn.execute(
            "insert into mastered.customer select * replace ("
            "'9999999999' as cust_id, 'Intersex' as gender, 'Nowhere' as cust_segment) "
            "from mastered.customer limit 1"
        )
    finally:
        conn.close()
    after = _run_checks(governed, "analyst_customer")["k_anonymity"]
    assert not after.passed and after.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in after.metadata.items()}
    assert meta["k"] == 1 and meta["threshold"] == 5
    assert meta["rows_in_groups_below_threshold"] >= 1
    assert meta["quasi_identifiers"] == ["gender", "cust_segment"]


def test_pii_reader_reports_k_without_applying_it(governed: DataPaths) -> None:
    evals = _run_checks(governed, "pii_reader_customer")
    k = evals["k_anonymity"]
    assert k.passed and k.metadata["threshold_applies"].value is False
    assert k.metadata["k"].value == 1  # exact dates of birth and PINs: unique rows
    assert evals["audit_log_intact"].passed


def test_audit_check_fails_on_a_tampered_line(governed: DataPaths) -> None:
    for n in range(3):
        audit.append(governed.home, action="query", identity="t", os_user="t",
                     role="analyst", statement="select 1", rows=n, masking_key_id=None,
                     status=audit.OK)  # fmt: skip
    path = audit.log_path(governed.home)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + lines[2], encoding="utf-8")
    check = _run_checks(governed, "pii_reader_customer")["audit_log_intact"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "line 2: its prev does not match" in check.metadata["problem"].value


def _golden_from_customers(paths: DataPaths, date_of_birth: str | None = None) -> None:
    """mastered.golden_customer with one person per core customer (their date of birth,
    or one shared date, and PIN), and the governed views over it."""
    from fs_assets.identity.tables import GOLDEN_CUSTOMER, golden_customer_ddl

    conn = duckdb.connect(str(paths.warehouse))
    try:
        conn.execute(f"create or replace table {GOLDEN_CUSTOMER} ({golden_customer_ddl()})")
        conn.execute(
            f"insert into {GOLDEN_CUSTOMER} by name select 'G' || cust_id as golden_id, "
            "coalesce(?::date, cust_dob) as date_of_birth, pin::varchar as pin, state, "
            "country, 1 as source_records from mastered.customer",
            [date_of_birth],
        )
        KEY.apply(conn)
        build_governed_views(conn, load_policies())
    finally:
        conn.close()


def test_the_golden_views_are_checked_for_k_anonymity_too(governed: DataPaths) -> None:
    """The golden record's views get the customer views' check over the quasi-identifiers
    it holds (date of birth and PIN, as the core feed's mapping names them): the keyed PIN
    tokens of restricted-acess group fewer than five people (WARN), the analyst reads both redacted;
    a planted person born in a quarter nobody else was drops dob-bucketing's k to 1."""
    _golden_from_customers(governed)
    restricted = _run_checks(governed, "restricted_acess_golden_customer")["k_anonymity"]
    assert not restricted.passed and restricted.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in restricted.metadata.items()}
    conn = duckdb.connect(str(governed.warehouse), read_only=True)
    try:  # restricted-acess reads the date of birth redacted: its groups are the PINs'
        (by_pin,) = conn.execute(
            "select min(n) from (select count(*) n from mastered.customer group by pin)"
        ).fetchone()
    finally:
        conn.close()
    assert meta["k"] == by_pin < 5 and meta["quasi_identifiers"] == ["date_of_birth", "pin"]
    analyst = _run_checks(governed, "analyst_golden_customer")["k_anonymity"]
    people = analyst.metadata["k"].value
    assert analyst.passed and analyst.metadata["groups"].value == 1 and people > 1000
    pii_reader = _run_checks(governed, "pii_reader_golden_customer")["k_anonymity"]
    assert pii_reader.passed and pii_reader.metadata["threshold_applies"].value is False

    _golden_from_customers(governed, date_of_birth="1980-02-14")  # one quarter for all
    before = _run_checks(governed, "dob_bucketing_golden_customer")["k_anonymity"]
    assert before.passed and before.metadata["k"].value == people
    conn = duckdb.connect(str(governed.warehouse))
    try:
        conn.execute(
            "insert into mastered.golden_customer (golden_id, date_of_birth, source_records) "
            "values ('G9999999999', date '1931-11-30', 1)"
        )
    finally:
        conn.close()
    after = _run_checks(governed, "dob_bucketing_golden_customer")["k_anonymity"]
    assert not after.passed and after.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in after.metadata.items()}
    assert meta["k"] == 1 and meta["rows_in_groups_below_threshold"] == 1
    assert meta["groups"] == 2 and meta["threshold"] == 5


def test_the_golden_k_counts_a_person_of_two_core_records_once(governed: DataPaths) -> None:
    """Two core customers identity resolution made one person, born in a quarter nobody
    else was: the golden record holds them once, so dob-bucketing's golden view has a
    group of one (k = 1, WARN) where their two core records make a group of two."""
    _golden_from_customers(governed, date_of_birth="1980-02-14")  # one quarter for all
    conn = duckdb.connect(str(governed.warehouse))
    try:
        first, second = (
            r[0]
            for r in conn.execute(
                "select cust_id from mastered.customer order by cust_id limit 2"
            ).fetchall()
        )
        conn.execute(
            "update mastered.customer set cust_dob = date '1931-11-30' where cust_id in (?, ?)",
            [first, second],
        )
        conn.execute("delete from mastered.golden_customer where golden_id = ?", [f"G{second}"])
        conn.execute(
            "update mastered.golden_customer set date_of_birth = date '1931-11-30', "
            "source_records = 2 where golden_id = ?",
            [f"G{first}"],
        )
        (records,) = conn.execute(
            "select count(*) from mastered.customer where cust_dob = date '1931-11-30'"
        ).fetchone()
        people = conn.execute("select count(*) from mastered.golden_customer").fetchone()[0]
    finally:
        conn.close()
    assert records == 2  # the person's two core records share the birth date
    check = _run_checks(governed, "dob_bucketing_golden_customer")["k_anonymity"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    meta = {k: v.value for k, v in check.metadata.items()}
    assert meta["k"] == 1 and meta["rows_in_groups_below_threshold"] == 1
    assert meta["groups"] == 2 and meta["groups_below_threshold"] == 1
    assert meta["quasi_identifiers"] == ["date_of_birth", "pin"]
    # Every other person sits in the shared quarter: the golden view counts people.
    assert people - 1 >= 5
