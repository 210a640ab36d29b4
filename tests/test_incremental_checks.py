"""Incremental mastered checks: the change record, the proof's links, and agreement with
the full evaluation on planted faults (a buggy write, a duplicate key, a lost key)."""

from __future__ import annotations

import csv
import datetime as dt
from io import StringIO
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from asset_checks.check_scope import FULL_SCOPE, decide_scope
from asset_checks.fx_checks import evaluate_fx_checks
from asset_checks.integrity_checks import evaluate_integrity_checks
from asset_checks.mastered_checks import incremental_checks
from asset_checks.pandera_checks import evaluate_pandera_check
from asset_checks.rule_checks import evaluate_rule_checks, rule_check_specs
from fs_assets.app.build import build
from fs_assets.definitions import defs
from fs_assets.defs.keys import mastered_key
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.generator import generate_landing
from fs_assets.generator.faults import plant_faults
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.keys import CHANGES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.change_record import read_change, record_outcomes, table_counts
from fs_assets.transforms.mastering import build_mastered

CHANGED = 40
# The WARN checks (a generated data set can age a minor into a pending correction, say).
WARNINGS = {"quarantine_rate", "pending_corrections", "data_freshness"}
NOW = dt.datetime(2026, 1, 1)


@pytest.fixture
def mastered(conn, small_landing: Path) -> duckdb.DuckDBPyConnection:
    for name in ENTITIES:
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    return conn


def write_update(conn: duckdb.DuckDBPyConnection, path: Path, n: int = CHANGED) -> list[str]:
    """n customers' mastered rows again with a changed risk category, a newer modified_at."""
    cur = conn.execute("select * from mastered.customer order by cust_id limit ?", [n])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
        for i, row in enumerate(rows):
            row["customer_risk_category"] = (
                "High" if row["customer_risk_category"] != "High" else "Low"
            )
            row["modified_at"] = dt.datetime(2025, 1, 1, 12)
            writer.writerow([i, *("" if row[c] is None else row[c] for c in CUSTOMER.column_names)])
    return [r["cust_id"] for r in rows]


def land_update(conn: duckdb.DuckDBPyConnection, folder: Path, n: int = CHANGED) -> list[str]:
    """`write_update`, ingested into raw."""
    path = folder / "customer update.csv"
    keys = write_update(conn, path, n)
    ingest_file(conn, CUSTOMER, path)
    return keys


def all_names(ent: Entity) -> set[str]:
    return {s.name for s in rule_check_specs(ent)} | {
        "reconciles_with_raw",
        "quarantine_rate",
        "pending_corrections",
        "pandera_schema",
        "amounts_in_reporting_currency",
    }


def evaluate(conn, ent: Entity, scope) -> dict[str, tuple[bool, dict]]:
    """Check name -> (passed, the failure counts it reports) for the scoped families."""
    names = all_names(ent)
    out = {}
    for family in (
        evaluate_rule_checks,
        evaluate_integrity_checks,
        evaluate_pandera_check,
        evaluate_fx_checks,
    ):
        for r in family(conn, ent, names, scope=scope):
            counts = {
                k: v.value
                for k, v in r.metadata.items()
                if k
                in (
                    "failed_rows",
                    "duplicate_rows",
                    "null_keys",
                    "failed_by_rule",
                    "failures_by_check",
                    "amount_mismatch",
                )
            }
            out[r.check_name] = (r.passed, counts)
    return out


def passed_everything(conn, ent: Entity) -> None:
    """What a passing check step leaves: every check's outcome on the committed build."""
    record = read_change(conn, ent)
    record_outcomes(
        conn, ent.name, record.build_id, dict.fromkeys(all_names(ent), True), "full", NOW
    )


def rerecord(conn, ent: Entity, written_delta: int) -> None:
    """Make the record say what a buggy write would have left (counts, rows it inserted)."""
    counts = table_counts(conn, ent)
    conn.execute(
        f"update {CHANGES} set mastered_written = mastered_written + ?, raw_rows = ?, "
        "mastered_rows = ?, rejected_rows = ?, pending_rows = ?, history_rows = ?, "
        "superseded_rows = ? where entity = ?",
        [written_delta, *counts, ent.name],
    )


def test_the_write_records_its_mode_keys_and_counts(mastered, tmp_path: Path) -> None:
    record = read_change(mastered, CUSTOMER)
    assert record.mode == "full" and record.keys_changed == 0
    keys = land_update(mastered, tmp_path)
    build_mastered(mastered, CUSTOMER)
    record = read_change(mastered, CUSTOMER)
    assert (record.mode, record.keys_changed, record.mastered_written) == (
        "incremental",
        CHANGED,
        CHANGED,
    )
    assert record.build_id == record.base_build_id + 1
    assert record.counts == table_counts(mastered, CUSTOMER)
    stored = {r[0] for r in mastered.execute("select key from meta.master_changed_keys").fetchall()}
    assert stored == set(keys)


def test_every_missing_link_means_a_full_evaluation(mastered, tmp_path: Path) -> None:
    needs = incremental_checks(CUSTOMER)
    assert decide_scope(mastered, CUSTOMER, needs, False).reason.startswith("the last write")
    # The account write read mastered.customer's build 1 (its record made incremental here
    # to isolate that link).
    account = ENTITIES["account"]
    mastered.execute(
        f"update {CHANGES} set mode = 'incremental', base_intact = true where entity = 'account'"
    )
    passed_everything(mastered, account)
    assert decide_scope(mastered, account, incremental_checks(account), False).incremental
    passed_everything(mastered, CUSTOMER)
    land_update(mastered, tmp_path)
    build_mastered(mastered, CUSTOMER)
    assert decide_scope(mastered, CUSTOMER, needs, False).incremental
    assert not decide_scope(mastered, CUSTOMER, needs, True).incremental  # full_checks
    # A failed evaluation of the previous build is no evidence.
    record_outcomes(mastered, "customer", 1, {"valid_city": False}, "full", NOW)
    scope = decide_scope(mastered, CUSTOMER, needs, False)
    assert not scope.incremental and "valid_city" in scope.reason
    record_outcomes(mastered, "customer", 1, {"valid_city": True}, "full", NOW)
    # Rows written by hand between two writes: the next write's record says so.
    mastered.execute("insert into mastered.customer select * from mastered.customer limit 1")
    land_update(mastered, tmp_path, n=CHANGED + 1)
    build_mastered(mastered, CUSTOMER)
    passed_everything(mastered, CUSTOMER)
    scope = decide_scope(mastered, CUSTOMER, needs, False)
    assert not scope.incremental and "started from" in scope.reason
    build_mastered(mastered, CUSTOMER, full_refresh=True)
    passed_everything(mastered, CUSTOMER)
    land_update(mastered, tmp_path, n=CHANGED + 2)
    build_mastered(mastered, CUSTOMER)
    assert decide_scope(mastered, CUSTOMER, needs, False).incremental
    # A row written outside mastering changes the counts the write left.
    mastered.execute("insert into mastered.customer select * from mastered.customer limit 1")
    scope = decide_scope(mastered, CUSTOMER, needs, False)
    assert not scope.incremental and "outside mastering" in scope.reason
    out = evaluate(mastered, CUSTOMER, scope)
    assert out["key_unique"][0] is False
    # mastered.customer was rebuilt (build 2) since the account write read it.
    scope = decide_scope(mastered, account, incremental_checks(account), False)
    assert not scope.incremental and "rebuilt" in scope.reason


def test_incremental_and_full_report_the_same_planted_failures(mastered, tmp_path: Path) -> None:
    passed_everything(mastered, CUSTOMER)
    keys = land_update(mastered, tmp_path)
    build_mastered(mastered, CUSTOMER)
    # A mastering bug, as the write would leave it: a broken value on a changed key, a
    # changed key twice, a row with no key, and a changed key lost.
    mastered.execute(
        "update mastered.customer set cust_segment = 'Downtown' where cust_id = ?", [keys[0]]
    )
    mastered.execute(
        "insert into mastered.customer select * from mastered.customer where cust_id = ?",
        [keys[1]],
    )
    mastered.execute(
        "insert into mastered.customer select * replace (null as cust_id) "
        "from mastered.customer where cust_id = ?",
        [keys[2]],
    )
    mastered.execute("delete from mastered.customer where cust_id = ?", [keys[3]])
    rerecord(mastered, CUSTOMER, written_delta=1)  # +1 duplicate +1 null key -1 lost
    scope = decide_scope(mastered, CUSTOMER, incremental_checks(CUSTOMER), False)
    assert scope.incremental, scope.reason
    incremental, full = (
        evaluate(mastered, CUSTOMER, scope),
        evaluate(mastered, CUSTOMER, FULL_SCOPE),
    )
    assert {n: ok for n, (ok, _) in incremental.items()} == {n: ok for n, (ok, _) in full.items()}
    failing = {n for n, (ok, _) in full.items() if not ok}
    assert {"valid_cust_segment", "key_unique", "reconciles_with_raw", "pandera_schema"} <= failing
    for name in ("valid_cust_segment",):
        assert incremental[name][1] == full[name][1]
    assert incremental["key_unique"][1]["duplicate_rows"] == full["key_unique"][1]["duplicate_rows"]


def test_a_clean_incremental_write_passes_on_the_changed_rows_only(
    mastered, tmp_path: Path
) -> None:
    passed_everything(mastered, CUSTOMER)
    land_update(mastered, tmp_path)
    build_mastered(mastered, CUSTOMER)
    scope = decide_scope(mastered, CUSTOMER, incremental_checks(CUSTOMER), False)
    out = {
        r.check_name: r
        for r in evaluate_rule_checks(mastered, CUSTOMER, all_names(CUSTOMER), scope=scope)
    }
    assert all(r.passed for r in out.values())
    assert out["key_unique"].metadata["rows"].value == CHANGED
    incremental, full = (
        evaluate(mastered, CUSTOMER, scope),
        evaluate(mastered, CUSTOMER, FULL_SCOPE),
    )
    assert incremental == full
    # Aging a minor by the update's date makes a pending correction (a WARN), nothing else.
    assert {n for n, (ok, _) in full.items() if not ok} <= {"pending_corrections"}


def check_evaluations(instance: dg.DagsterInstance, run_ids: list[str]) -> dict[str, dict]:
    """Check name -> metadata of the mastered.customer evaluations in these runs."""
    out = {}
    for run_id in run_ids:
        for rec in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records:
            ev = rec.event_log_entry.dagster_event.event_specific_data
            if ev.asset_key == mastered_key("customer"):
                out[ev.check_name] = {k: v.value for k, v in ev.metadata.items()}
    return out


@pytest.mark.slow
def test_an_update_run_checks_the_changed_keys_and_the_weekly_job_every_row(
    built: DataPaths,
) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        write_update(conn, built.landing / "customer" / "customer update.csv")
    report = build(built, select="key:raw/customer or key:mastered/customer", out=StringIO())
    assert report.ok, report.checks_failed
    instance = dg.DagsterInstance.get()
    seen = check_evaluations(instance, report.run_ids)
    assert seen["key_unique"]["check_mode"] == "incremental"
    assert seen["key_unique"]["rows"] == CHANGED and seen["key_unique"]["changed_keys"] == CHANGED
    assert seen["reconciles_with_raw"]["raw_keys"] == CHANGED
    assert seen["pending_corrections"]["check_mode"] == "full"  # a small table, read in full
    job = defs.resolve_job_def("mastered_checks_full")
    weekly = job.execute_in_process(instance=instance, raise_on_error=False)
    full = check_evaluations(instance, [weekly.run_id])
    assert full["key_unique"]["check_mode"] == "full"
    assert full["key_unique"]["check_mode_reason"] == "full_checks requested"
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        total = conn.execute("select count(*) from mastered.customer").fetchone()[0]
    assert full["key_unique"]["rows"] == total > CHANGED
    blocking = {e.check_name: e.passed for e in weekly.get_asset_check_evaluations()}
    assert len(blocking) > 40 and all(
        ok for name, ok in blocking.items() if name not in WARNINGS
    ), blocking


def test_the_generators_faults_landed_later_check_the_same_both_ways(conn, tmp_path: Path) -> None:
    """The generator's planted faults (bad values, contradictions, a file twice) land after
    a clean build: the incremental and the full evaluation agree on every check."""
    landing = tmp_path / "landing"
    stats = generate_landing(landing, customers=300, seed=11)
    for name in ENTITIES:
        for path in sorted((landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    passed_everything(conn, CUSTOMER)
    planted = plant_faults(landing, 11, "csv", 0.2, 300, stats.rows["transaction"], part=1)
    for path in sorted(p for p in planted.files if p.parent.name == CUSTOMER.name):
        ingest_file(conn, CUSTOMER, path)
    build_mastered(conn, CUSTOMER)
    scope = decide_scope(conn, CUSTOMER, incremental_checks(CUSTOMER), False)
    assert scope.incremental and scope.keys > 0, scope.reason
    incremental, full = evaluate(conn, CUSTOMER, scope), evaluate(conn, CUSTOMER, FULL_SCOPE)
    assert {n: ok for n, (ok, _) in incremental.items()} == {n: ok for n, (ok, _) in full.items()}
    quarantined = conn.execute(
        "select (select count(*) from quarantine.customer_rejects) "
        "+ (select count(*) from quarantine.customer_pending_corrections)"
    ).fetchone()[0]
    assert quarantined > 0  # mastering caught the faults; the blocking checks stay green
    assert all(ok for n, (ok, _) in full.items() if n not in WARNINGS)


def test_the_changed_rows_are_read_from_the_table_once(mastered, tmp_path: Path) -> None:
    """The incremental scope copies mastered's changed-key rows (and keyless rows) once; the
    checks read the copy, so they see exactly those rows, faults included."""
    from fs_assets.model.keys import history_table, mastered_table
    from fs_assets.transforms.change_record import scoped_rows_sql

    passed_everything(mastered, CUSTOMER)
    keys = land_update(mastered, tmp_path)
    build_mastered(mastered, CUSTOMER)
    mastered.execute(
        "insert into mastered.customer select * replace (null as cust_id) "
        "from mastered.customer where cust_id = ?",
        [keys[0]],
    )
    rerecord(mastered, CUSTOMER, written_delta=1)
    scope = decide_scope(mastered, CUSTOMER, incremental_checks(CUSTOMER), False)
    assert scope.incremental, scope.reason
    copy = scope.rows(CUSTOMER, mastered_table(CUSTOMER))
    assert copy == scope.scoped[mastered_table(CUSTOMER)]
    rows = mastered.execute(f"select cust_id from {copy}").fetchall()
    assert sorted(r[0] for r in rows if r[0] is not None) == sorted(keys)
    assert sum(r[0] is None for r in rows) == 1
    # The history is read through the copy: the same rows as the view cut to the keys.
    history = scope.rows(CUSTOMER, history_table(CUSTOMER))
    assert copy in history
    cut = scoped_rows_sql(CUSTOMER, history_table(CUSTOMER))
    both = [
        mastered.execute(f"select count(*) from (from {r} except all from {o})").fetchone()[0]
        for r, o in ((history, cut), (cut, history))
    ]
    assert both == [0, 0]
    assert not evaluate(mastered, CUSTOMER, scope)["key_unique"][0]
