"""Faults on simulated business days (`simulate --error-rate`): planted, listed, caught.

The fast tests land a few days on 300 generated customers; the slow one lands three days
at a high rate on the built 1,500-customer set, builds raw and mastered, and scores the
truth file's faults against quarantine, history and the ingest ledger: every planted fault
is caught by the rule meant for it (recall 1.0) and every newly quarantined row is a
planted fault (precision 1.0).
"""

from __future__ import annotations

import re
import shutil
from io import StringIO
from pathlib import Path

import duckdb
import pytest
from test_simulate import _open_customers, _raw_counts

from fs_assets.app import cli
from fs_assets.generator import generate_landing
from fs_assets.generator.faults import (
    DUPLICATE,
    DUPLICATE_FILE,
    HISTORY_ONLY,
    PENDING,
    PLANTED_KINDS,
    REJECT,
    PlantedFault,
    read_truth,
    truth_path,
)
from fs_assets.generator.simulate import SimulationError, simulate
from fs_assets.model.entities import CUSTOMER, ENTITIES, ENTITY_NAMES
from fs_assets.model.paths import PROJECT_ROOT, DataPaths

RATE = 0.3  # high, so that 300 customers get every kind within two days
SEED = 5


@pytest.fixture(scope="module")
def base_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_faults") / "landing"
    generate_landing(out, customers=300, seed=3)
    return out


def _copy(base: Path, to: Path) -> Path:
    shutil.copytree(base, to)
    return to


def _day_files(landing: Path) -> dict[str, bytes]:
    return {
        f"{p.parent.name}/{p.name}": p.read_bytes()
        for p in sorted(landing.glob("*/*"))
        if "_day_" in p.name
    }


def _read(landing: Path, fault: PlantedFault) -> dict[str, str]:
    """The landed row a fault names, by file and 1-based row."""
    cursor = duckdb.connect().execute(
        "select * from read_csv(?, all_varchar = true, header = true) limit 1 offset ?",
        [str(landing / fault.file), (fault.row or 1) - 1],
    )
    (row,) = cursor.fetchall()
    return dict(zip([d[0] for d in cursor.description], row, strict=True))


def test_same_arguments_same_faults_and_the_clean_files_untouched(
    base_landing: Path, tmp_path: Path
) -> None:
    one = _copy(base_landing, tmp_path / "one" / "landing")
    two = _copy(base_landing, tmp_path / "two" / "landing")
    clean = _copy(base_landing, tmp_path / "clean" / "landing")
    reports = simulate(one, days=2, seed=SEED, error_rate=RATE)
    simulate(two, days=1, seed=SEED, error_rate=RATE)
    simulate(two, days=1, seed=SEED, error_rate=RATE)
    assert _day_files(one) == _day_files(two)
    assert truth_path(one).read_bytes() == truth_path(two).read_bytes()
    # The first day's clean files are the same bytes as without faults: faults only add.
    (clean_day,) = simulate(clean, days=1, seed=SEED)
    assert not truth_path(clean).exists()
    first = {k: v for k, v in _day_files(one).items() if "20231201" in k}
    assert {k: first[k] for k in _day_files(clean)} == _day_files(clean)
    # (The day's campaign events count among its clean rows, so at this seed and rate the
    # first day also resends its new customers' file.)
    assert set(first) - set(_day_files(clean)) == {
        "customer/customer_day_20231201_9_faults.csv",
        "transaction/transaction_day_20231201_9_faults.csv",
        "customer/customer_day_20231201_1_new_resent.csv",
    }
    # Every kind is planted; each fault row is in the report and in the truth, with its day.
    truth = read_truth(truth_path(one))
    assert sorted(truth, key=str) == sorted((f for r in reports for f in r.faults), key=str)
    assert {f.fault for f in truth} == {*PLANTED_KINDS, DUPLICATE_FILE}
    assert {f.day for f in truth} == {"2023-12-01", "2023-12-04"}
    assert all(f.file.split("_day_")[1][:8] == f.day.replace("-", "") for f in truth)
    assert clean_day.faults == []


def test_each_fault_is_where_the_truth_says(base_landing: Path, tmp_path: Path) -> None:
    landing = _copy(base_landing, tmp_path / "landing")
    reports = simulate(landing, days=3, seed=SEED, error_rate=RATE)
    truth = read_truth(truth_path(landing))
    for fault in truth:
        ent = ENTITIES[fault.entity]
        if fault.outcome == DUPLICATE:
            original = fault.file.replace("_resent", "")
            assert (landing / fault.file).read_bytes() == (landing / original).read_bytes()
            continue
        row = _read(landing, fault)
        assert row[ent.column(ent.key).source_header] == fault.key, fault
    # Rejected new customers take ids no clean record ever uses: the next day's new
    # customers are numbered after them, and no later change or re-score builds on them.
    rejected = {int(f.key) for f in truth if f.entity == CUSTOMER.name and f.outcome == REJECT}
    assert rejected
    later_new = [c for r in reports[1:] for c in r.new_customers]
    assert later_new and min(later_new) > min(rejected)
    assert not rejected & {c for r in reports for c in (*r.new_customers, *r.changed_customers)}
    assert not rejected & {c for r in reports for c in r.rescores}
    # An invalid newer version is newer than every clean version of its key landed by then.
    faulty_files = {f.file for f in truth}
    for fault in (f for f in truth if f.outcome == PENDING):
        clean = [
            str(p)
            for p in (landing / "customer").iterdir()
            if f"customer/{p.name}" not in faulty_files
            and (
                "_day_" not in p.name or p.name.split("_day_")[1][:8] <= fault.day.replace("-", "")
            )
        ]
        (newest,) = (
            duckdb.connect()
            .execute(
                'select max("Modified At") from read_csv(?, all_varchar = true)'
                ' where "Cust Id" = ?',
                [clean, fault.key],
            )
            .fetchone()
        )
        assert newest < _read(landing, fault)["Modified At"], fault


def test_cli_simulate_error_rate_and_a_truth_file_that_cannot_be_written(
    base_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    landing = _copy(base_landing, home / "landing")
    argv = ["--home", str(home), "simulate", "--days", "1", "--seed", str(SEED)]
    for bad in ("1", "-0.1", "some"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*argv, "--error-rate", bad])
        assert exit_info.value.code == 2 and "--error-rate" in capsys.readouterr().err
    with pytest.raises(SimulationError, match="below 1"):
        simulate(landing, days=1, error_rate=1.0)
    # The truth file's place is taken by a folder: the day does not land, nothing is left.
    truth_path(landing).mkdir()
    assert cli.main([*argv, "--error-rate", str(RATE)]) == 2
    assert "could not land" in capsys.readouterr().err
    assert _day_files(landing) == {} and not list(home.rglob(".*.tmp"))
    # Fixed, the next run lands the day with its faults.
    truth_path(landing).rmdir()
    assert cli.main([*argv, "--error-rate", str(RATE)]) == 0
    out = capsys.readouterr().out
    planted = len(read_truth(truth_path(landing)))
    assert planted > 0 and f"; {planted} faults planted" in out


# --- a real build of three faulty days (slow) ----------------------------------------------


def _where(source_file: str) -> str:
    path = Path(source_file)
    return f"{path.parent.name}/{path.name}"


def _quarantined(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, int], tuple]:
    """(entity, file, row) -> (table, key, failed rules) of every quarantined row."""
    found = {}
    for name, ent in ENTITIES.items():
        for table in ("rejects", "pending_corrections", "superseded_invalid"):
            rows = con.execute(
                f'select "{ent.key}", _failed_rules, _source_file, _source_row '
                f'from quarantine."{name}_{table}"'
            ).fetchall()
            for key, rules, source, row in rows:
                found[(name, _where(source), row)] = (table, key, tuple(rules))
        rows = con.execute(
            f'select "{ent.key}", _reason, _source_file, _source_row '
            f'from quarantine."{name}_ingest_rejects"'
        ).fetchall()
        for key, reason, source, row in rows:
            found[(name, _where(source), row)] = ("ingest_rejects", key, (reason,))
    return found


OUTCOME_TABLE = {REJECT: "rejects", PENDING: "pending_corrections"}


@pytest.mark.slow
def test_faults_of_simulated_days_are_caught_and_no_clean_row_is_quarantined(
    built: DataPaths,
) -> None:
    from fs_assets.app.build import build

    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        before = _quarantined(con)
        open_before = _open_customers(con)
        raw_before = _raw_counts(con)
        (customers_before,) = con.execute("select count(*) from mastered.customer").fetchone()
    reports = simulate(built.landing, days=3, seed=9, error_rate=0.1)
    truth = read_truth(truth_path(built.landing))
    assert {f.fault for f in truth} == {*PLANTED_KINDS, DUPLICATE_FILE}
    selection = " or ".join(f"key:raw/{e} or key:mastered/{e}" for e in ENTITY_NAMES)
    report = build(built, select=f"{selection} or key:mastered/customer_history", out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)

    # Customers with a clean version landed on a day after a fault: that version clears a
    # pending correction (it moves to superseded_invalid).
    cleaned: dict[str, list[str]] = {}
    for r in reports:
        for cust in {*r.changed_customers, *r.rescores}:
            cleaned.setdefault(str(cust), []).append(r.day.isoformat())
    planted = {(f.entity, f.file, f.row): f for f in truth if f.row}
    with duckdb.connect(str(built.warehouse), read_only=True) as con:
        found = {k: v for k, v in _quarantined(con).items() if k not in before}
        # Precision: every newly quarantined row is a planted fault.
        assert not {k: v for k, v in found.items() if k not in planted}
        # Recall: every planted fault ends where the truth says, for its rule.
        for where, fault in planted.items():
            ent = ENTITIES[fault.entity]
            if fault.outcome == HISTORY_ONLY:
                assert where not in found, fault
                history = con.execute(
                    "select _source_file, _source_row, valid_to from mastered.customer_history"
                    " where cust_id = ?",
                    [fault.key],
                ).fetchall()
                late = [h for h in history if (_where(h[0]), h[1]) == (fault.file, fault.row)]
                assert len(late) == 1 and late[0][2] is not None, history
                continue
            assert where in found, f"not quarantined: {fault}"
            table, key, rules = found[where]
            assert key == fault.key and fault.rule in rules, (fault, rules)
            cleared = any(day > fault.day for day in cleaned.get(fault.key, []))
            if fault.outcome == PENDING and cleared:
                assert table == "superseded_invalid", (fault, table)
            else:
                assert table == OUTCOME_TABLE[fault.outcome], (fault, table)
            if fault.outcome == PENDING:  # the good customer stays mastered
                (source,) = con.execute(
                    f'select _source_file from mastered."{fault.entity}" where "{ent.key}" = ?',
                    [fault.key],
                ).fetchone()
                assert _where(source) != fault.file
        # The resent files: in the ledger as duplicates, nothing stored from them.
        ledger = dict(con.execute("select file_name, status from meta.ingest_ledger").fetchall())
        for fault in (f for f in truth if f.fault == DUPLICATE_FILE):
            name = Path(fault.file).name
            assert (ledger[name], ledger[name.replace("_resent", "")]) == ("duplicate", "ingested")
        # The invariants, restated with faults: rejected new customers are not among the
        # new ones; every landed row but a resent file's is in raw.
        new = sum(len(r.new_customers) for r in reports)
        closed = sum(len(r.closed_customers) for r in reports)
        assert _open_customers(con) == open_before + new - closed
        (customers,) = con.execute("select count(*) from mastered.customer").fetchone()
        assert customers == customers_before + new
        for entity, rows in _raw_counts(con).items():
            assert rows == raw_before[entity] + sum(r.rows.get(entity, 0) for r in reports)


def test_demo_lands_faults_at_the_main_commands_rate() -> None:
    """`make demo` generates its sample and simulates its days at run.sh's ERROR_RATE."""
    script = (PROJECT_ROOT / "scripts" / "run.sh").read_text()
    (main_rate,) = re.findall(r'--error-rate "\$\{ERROR_RATE:-([0-9.]+)\}"', script)
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    demo = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "generate" in demo and "ui --simulate" in demo
    rates = re.findall(r'--error-rate "\$\$\{ERROR_RATE:-([0-9.]+)\}"', demo)
    assert rates == [main_rate, main_rate] and float(main_rate) > 0
