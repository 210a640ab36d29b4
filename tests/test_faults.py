"""Planted faults: the generator's `--error-rate`, its truth file, and the rules that catch them.

The slow test builds a small generated set with a high error rate once and compares the
truth file with quarantine, history and the ingest ledger: every planted fault is caught
by the rule meant for it (recall 1.0) and every quarantined row is a planted fault
(precision 1.0).
"""

from __future__ import annotations

import os
import re
import shutil
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from fs_assets.app.build_progress import BuildReport, print_summary
from fs_assets.app.cli import main
from fs_assets.app.instance import INSTANCE_TEMPLATE
from fs_assets.defs.marts import _lead_kpis
from fs_assets.generator import generate_landing
from fs_assets.generator.faults import (
    DUPLICATE,
    HISTORY_ONLY,
    PENDING,
    PLANTED_KINDS,
    REJECT,
    PlantedFault,
    fault_count,
    read_truth,
    truth_path,
)
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.model.rules import RULES
from fs_assets.model.value_sets import FIRST_CUSTOMER_ID
from fs_assets.transforms.marts.quality import quality_kpis, quarantine_counts

RULE_NAMES = {rule.name for rules in RULES.values() for rule in rules}
# Rules of the rule-name contract that parallel branches add. A group counts as arrived
# once any of its rules is in the rule table; from then on each of its cases must pass.
ARRIVING_RULES = {
    "the cross-field rules": {
        "state__in_country",
        "city__in_state",
        "pin__country_format",
        "mobile_number1__country_format",
        "country_code__matches_country",
        "minor_flag__matches_dob",
        "senior_citizen_flag__matches_dob",
        "cust_dob__not_future",
        "cust_title__matches_gender",
    },
    "the fx_rate entity and transaction rules": {
        "currency__matches_account",
        "transaction_ts__before_account_open",
        "currency__fx_rate_missing",
    },
}

CUSTOMERS, SEED, RATE = 500, 7, 0.05
# (outcome, rule) of every case the build above plants; a test checks the truth has these.
CASES = (
    (REJECT, "email_addr__pattern"),
    (REJECT, "pin__max_length"),
    (REJECT, "pin__country_format"),
    (REJECT, "state__in_country"),
    (REJECT, "cust_dob__not_future"),
    (REJECT, "currency__matches_account"),
    (PENDING, "email_addr__pattern"),
    (PENDING, "pin__max_length"),
    (PENDING, "state__in_country"),
    (HISTORY_ONLY, ""),
    (DUPLICATE, ""),
)
QUARANTINE_OUTCOMES = {"rejects": REJECT, "pending_corrections": PENDING}


def _arriving_with(rule: str) -> str | None:
    """The contract group still to arrive that brings `rule`, if any."""
    for group, names in ARRIVING_RULES.items():
        if rule in names and not names & RULE_NAMES:
            return group
    return None


def _case(outcome: str, rule: str) -> object:
    group = _arriving_with(rule)
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"rule {rule} arrives with {group}")]
        if group
        else []
    )
    return pytest.param(outcome, rule, marks=marks, id=f"{outcome}-{rule or 'no_rule'}")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --- generation (fast) -------------------------------------------------------------------


def test_zero_rate_is_the_clean_stream_and_faults_only_add(tmp_path: Path) -> None:
    clean = tmp_path / "clean" / "landing"
    faulty = tmp_path / "faulty" / "landing"
    stats = generate_landing(clean, customers=200, seed=SEED)
    generate_landing(faulty, customers=200, seed=SEED, error_rate=RATE)
    assert stats.faults is None and not truth_path(clean).exists()
    clean_files, faulty_files = _files(clean), _files(faulty)
    # Every clean file is there, byte for byte; the rest are the fault files and the copy.
    assert {k: faulty_files[k] for k in clean_files} == clean_files
    added = set(faulty_files) - set(clean_files)
    assert added == {
        "customer/customer_s7_p00001.csv",
        "customer/customer_s7_p00000_resent.csv",
        "transaction/transaction_s7_p00001.csv",
    }
    assert (
        faulty_files["customer/customer_s7_p00000_resent.csv"]
        == clean_files["customer/customer_s7_p00000.csv"]
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_and_rate_same_bytes(tmp_path: Path, fmt: str) -> None:
    one, two = tmp_path / "a" / "landing", tmp_path / "b" / "landing"
    generate_landing(one, customers=300, seed=SEED, fmt=fmt, error_rate=RATE)
    generate_landing(two, customers=300, seed=SEED, fmt=fmt, error_rate=RATE)
    assert _files(one) == _files(two)
    assert truth_path(one).read_bytes() == truth_path(two).read_bytes()
    other = tmp_path / "c" / "landing"
    generate_landing(other, customers=300, seed=SEED + 1, fmt=fmt, error_rate=RATE)
    assert truth_path(other).read_bytes() != truth_path(one).read_bytes()


def test_truth_names_each_fault_where_it_is(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    stats = generate_landing(landing, customers=CUSTOMERS, seed=SEED, error_rate=RATE)
    truth_file = truth_path(landing)
    assert truth_file.parent == landing.parent  # beside the landing folder, never in it
    truth = read_truth(truth_file)
    assert stats.faults is not None and truth == sorted(
        stats.faults.faults, key=lambda f: (f.entity, f.file, f.row or 0)
    )
    assert len([f for f in truth if f.row]) == fault_count(RATE, CUSTOMERS) == 25
    assert {f.fault for f in truth} == {*PLANTED_KINDS, "duplicate_file"}
    assert {(f.outcome, f.rule) for f in truth} == set(CASES)
    known = RULE_NAMES | set().union(*ARRIVING_RULES.values())
    assert {f.rule for f in truth if f.rule} <= known
    # Each row-level fault is at its file and row, under its key.
    con = duckdb.connect()
    for fault in (f for f in truth if f.row):
        ent = ENTITIES[fault.entity]
        header = ent.column(ent.key).source_header
        (key,) = con.execute(
            f'select "{header}" from read_csv(?, all_varchar = true, header = true) '
            "limit 1 offset ?",
            [str(landing / fault.file), fault.row - 1],
        ).fetchone()
        assert key == fault.key, fault
    # New customers' ids follow the clean ones; existing keys appear once among the faults.
    keys = [f.key for f in truth if f.entity == CUSTOMER.name and f.row]
    assert len(keys) == len(set(keys))
    for fault in truth:
        if fault.entity == CUSTOMER.name and fault.outcome == REJECT:
            assert int(fault.key) >= FIRST_CUSTOMER_ID + CUSTOMERS
        if fault.outcome in (PENDING, HISTORY_ONLY):
            assert int(fault.key) < FIRST_CUSTOMER_ID + CUSTOMERS


def test_truth_holds_no_personal_values(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate_landing(landing, customers=200, seed=SEED, error_rate=0.1)
    text = truth_path(landing).read_text()
    con = duckdb.connect()
    emails, pins = con.execute(
        'select list("Email Addr"), list("Pin") from read_csv(?, all_varchar = true)',
        [str(landing / "customer" / "customer_s7_p00000.csv")],
    ).fetchone()
    assert not [e for e in emails if e in text]
    assert not [p for p in pins if f",{p}," in text or f" {p} " in text]


def test_generate_command_reports_faults_and_refuses_bad_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "länd ing [1]*"  # a name is data, never a pattern
    argv = ["generate", "--customers", "100", "--seed", "3", "--out", str(out)]
    assert main([*argv, "--error-rate", "0.1"]) == 0
    printed = capsys.readouterr().out
    assert "planted 11 faults" in printed and str(truth_path(out)) in printed
    assert truth_path(out).name == "länd ing [1]*.faults.truth.csv"
    assert len(read_truth(truth_path(out))) == 11
    for bad in ("-0.1", "1", "lots"):
        with pytest.raises(SystemExit) as exit_info:
            main([*argv, "--error-rate", bad])
        assert exit_info.value.code == 2
        assert "--error-rate" in capsys.readouterr().err
    with pytest.raises(ValueError, match="error_rate"):
        generate_landing(tmp_path / "x", customers=10, error_rate=1.5)
    assert not (tmp_path / "x").exists()


def test_main_command_plants_some_tens_of_faults() -> None:
    script = (PROJECT_ROOT / "scripts" / "run.sh").read_text()
    match = re.search(r'--error-rate "\$\{ERROR_RATE:-([0-9.]+)\}"', script)
    assert match, "run.sh passes --error-rate with a default"
    customers = re.search(r"CUSTOMERS:-([0-9]+)", script)
    assert customers
    assert 20 <= fault_count(float(match.group(1)), int(customers.group(1))) < 100


# --- what the build's summary and the dashboards show (fast) ------------------------------


def test_summary_names_rejects_and_pending_per_entity() -> None:
    report = BuildReport(run_id="r", success=True, run_ids=["r"])
    report.quarantine = {
        "mastered.customer": {
            "rejected_rows": 1_204,
            "pending_corrections": 3,
            "keys_with_pending_correction": 2,
        },
        "mastered.product": {
            "rejected_rows": 0,
            "pending_corrections": 0,
            "keys_with_pending_correction": 0,
        },
    }
    out = StringIO()
    print_summary(report, {}, out)
    text = out.getvalue()
    assert "quarantine (rejected keys, pending corrections of keys):" in text
    assert "  mastered.customer: 1204 rejected, 3 pending corrections of 2 keys" in text
    assert "  mastered.product: 0 rejected, 0 pending corrections of 0 keys" in text
    out = StringIO()
    print_summary(BuildReport(run_id="r", success=True), {}, out)
    assert "quarantine" not in out.getvalue()  # nothing mastered in that build


def test_lead_generation_tiles_count_the_quarantine(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("create table quarantine.customer_rejects as select * from range(14)")
    conn.execute("create table quarantine.customer_pending_corrections as select * from range(3)")
    conn.execute("create table quarantine.transaction_rejects as select * from range(2)")
    conn.execute("create table quarantine.transaction_pending_corrections (x int)")
    conn.execute("create table quarantine.account_rejects (x int)")  # half-built: left out
    assert quarantine_counts(conn) == {"customer": (14, 3), "transaction": (2, 0)}
    conn.execute("create schema if not exists marts")
    conn.execute(
        "create table marts.lead_generation as "
        "select 'total_customers' as figure, 500 as customers, null as transactions "
        "union all select 'reason', null, 40"
    )
    # Two core records of one person, both eligible: one lead (the person record's).
    conn.execute(
        "create table marts.cross_sell as "
        "select * from (values (true, true), (true, false)) t(eligible, person_record)"
    )
    kpis = _lead_kpis(conn)
    assert kpis["Total customers"] == "500"
    assert kpis["Leads (card recommended)"] == "1"
    assert kpis["Quarantine: customer (rejected / pending)"] == "14 / 3"
    assert kpis["Quarantine: transaction (rejected / pending)"] == "2 / 0"
    assert quality_kpis(conn).items() <= kpis.items()


# --- a real build of the faulty set (slow) -------------------------------------------------

SELECT = (
    " or ".join(f'key:"{layer}/{name}"' for name in ENTITIES for layer in ("raw", "mastered"))
    + ' or key:"mastered.customer_history"'
)


@pytest.fixture(scope="module")
def faulty_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[DataPaths, list[PlantedFault], BuildReport]:
    """A data folder built (raw, mastered, history) from 500 customers at a 5% error rate."""
    from fs_assets.app.build import build

    root = tmp_path_factory.mktemp("faults") / "fs_home"
    (root / "dagster_home").mkdir(parents=True)
    shutil.copyfile(INSTANCE_TEMPLATE, root / "dagster_home" / "dagster.yaml")
    stats = generate_landing(root / "landing", customers=CUSTOMERS, seed=SEED, error_rate=RATE)
    saved = {k: os.environ.get(k) for k in ("FS_ACCELERATOR_HOME", "DAGSTER_HOME")}
    os.environ["FS_ACCELERATOR_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    try:
        report = build(DataPaths(root), select=SELECT, out=StringIO())
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert report.ok, (report.checks_failed, report.step_failures)
    assert stats.faults is not None
    return DataPaths(root), read_truth(stats.faults.truth), report


def _where(source_file: str) -> str:
    path = Path(source_file)
    return f"{path.parent.name}/{path.name}"


def _quarantined(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, int], tuple]:
    """(entity, file, row) -> (outcome, key, failed rules) of every quarantined row."""
    found = {}
    for name, ent in ENTITIES.items():
        for table, outcome in QUARANTINE_OUTCOMES.items():
            rows = con.execute(
                f'select "{ent.key}", _failed_rules, _source_file, _source_row '
                f'from quarantine."{name}_{table}"'
            ).fetchall()
            for key, rules, source, row in rows:
                found[(name, _where(source), row)] = (outcome, key, tuple(rules))
        rows = con.execute(
            f'select "{ent.key}", _reason, _source_file, _source_row '
            f'from quarantine."{name}_ingest_rejects"'
        ).fetchall()
        for key, reason, source, row in rows:
            found[(name, _where(source), row)] = ("ingest_reject", key, (reason,))
    return found


@pytest.mark.slow
@pytest.mark.parametrize(("outcome", "rule"), [_case(*c) for c in CASES])
def test_each_planted_fault_is_caught_by_its_rule(
    faulty_build: tuple[DataPaths, list[PlantedFault], BuildReport], outcome: str, rule: str
) -> None:
    """Recall: every planted fault of this case ends where the truth says, for its rule."""
    paths, truth, _ = faulty_build
    cases = [f for f in truth if (f.outcome, f.rule) == (outcome, rule)]
    assert cases
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        quarantined = _quarantined(con)
        for fault in cases:
            where = (fault.entity, fault.file, fault.row)
            ent = ENTITIES[fault.entity]
            if outcome in (REJECT, PENDING):
                assert where in quarantined, f"not quarantined: {fault}"
                got, key, rules = quarantined[where]
                assert (got, key) == (outcome, fault.key) and rule in rules, (fault, rules)
                if outcome == PENDING:  # the good version stays mastered
                    (mastered,) = con.execute(
                        f'select count(*) from mastered."{fault.entity}" where "{ent.key}" = ?',
                        [fault.key],
                    ).fetchone()
                    assert mastered == 1, fault
            elif outcome == HISTORY_ONLY:
                history = con.execute(
                    "select _source_file, _source_row, valid_to "
                    f'from mastered."{fault.entity}_history" '
                    f'where "{ent.key}" = ? order by valid_from',
                    [fault.key],
                ).fetchall()
                late = [h for h in history if (_where(h[0]), h[1]) == (fault.file, fault.row)]
                assert len(history) == 2 and len(late) == 1 and history[0] == late[0], history
                assert late[0][2] is not None  # closed: it is not the current version
                (current,) = con.execute(
                    f'select _source_file from mastered."{fault.entity}" where "{ent.key}" = ?',
                    [fault.key],
                ).fetchone()
                assert _where(current) != fault.file
            else:
                ledger = dict(
                    con.execute(
                        "select file_name, status from meta.ingest_ledger where entity = ?",
                        [fault.entity],
                    ).fetchall()
                )
                name = Path(fault.file).name
                original = name.replace("_resent", "")
                assert (ledger[name], ledger[original]) == ("duplicate", "ingested")
                (stored,) = con.execute(
                    f'select count(*) from raw."{fault.entity}" where _source_file like ?',
                    [f"%{name}"],
                ).fetchone()
                assert stored == 0


@pytest.mark.slow
def test_no_clean_row_is_quarantined_or_lost(
    faulty_build: tuple[DataPaths, list[PlantedFault], BuildReport],
) -> None:
    """Precision: every quarantined row is a planted fault with that outcome; the clean
    customers, accounts and transactions are all mastered."""
    paths, truth, _ = faulty_build
    planted = {(f.entity, f.file, f.row): f for f in truth if f.row}
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        quarantined = _quarantined(con)
        unplanned = {k: v for k, v in quarantined.items() if k not in planted}
        assert not unplanned, f"clean rows quarantined: {unplanned}"
        wrong = {
            k: (v[0], planted[k].outcome)
            for k, v in quarantined.items()
            if v[0] != planted[k].outcome
        }
        assert not wrong, wrong
        for name, ent in ENTITIES.items():
            (lost,) = con.execute(
                f'select count(distinct "{ent.key}") from raw."{name}" '
                f'where _source_file like ? and "{ent.key}" not in '
                f'(select "{ent.key}" from mastered."{name}")',
                ["%_p00000.%"],
            ).fetchone()
            assert lost == 0, f"clean {name} keys not mastered: {lost}"
        (customers,) = con.execute(
            "select count(*) from mastered.customer where cast(cust_id as bigint) < ?",
            [FIRST_CUSTOMER_ID + CUSTOMERS],
        ).fetchone()
        assert customers == CUSTOMERS


@pytest.mark.slow
def test_build_summary_and_tiles_show_the_quarantine(
    faulty_build: tuple[DataPaths, list[PlantedFault], BuildReport],
) -> None:
    """The summary's counts are the quarantine tables' rows, the tiles' too."""
    paths, truth, report = faulty_build
    with duckdb.connect(str(paths.warehouse), read_only=True) as con:
        counts = quarantine_counts(con)
        tiles = quality_kpis(con)
    summary = {
        name.removeprefix("mastered."): (c["rejected_rows"], c["pending_corrections"])
        for name, c in report.quarantine.items()
    }
    assert summary == counts and set(counts) == set(ENTITIES)
    caught = [f for f in truth if f.rule in RULE_NAMES and f.entity == CUSTOMER.name]
    rejected, pending = counts[CUSTOMER.name]
    assert rejected == sum(f.outcome == REJECT for f in caught) > 0
    assert pending == sum(f.outcome == PENDING for f in caught) > 0
    out = StringIO()
    print_summary(report, report.planned, out)
    assert f"mastered.customer: {rejected} rejected, {pending} pending" in out.getvalue()
    assert tiles["Quarantine: customer (rejected / pending)"] == f"{rejected} / {pending}"
