"""Simulated source systems: daily batches on top of the landed population."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
from io import StringIO
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fs_assets.app import cli
from fs_assets.generator import campaigns_day, generate_landing
from fs_assets.generator import simulate as sim
from fs_assets.generator.simulate import SimulationError, simulate
from fs_assets.model.entities import CAMPAIGN, CAMPAIGN_EVENT, CUSTOMER, ENTITY_NAMES
from fs_assets.model.paths import DataPaths
from fs_assets.model.value_sets import CAMPAIGN_EVENT_TYPES

BASE_CUSTOMERS = 200
# The dagster dev test: a day's downstream runs take minutes on the loaded 2-core machine.
E2E_DAY_WAIT_S = 600
E2E_TIMEOUT_S = 2700
E2E_DAYS = 2
# What automation keeps fresh in the dagster dev test: mastered, which it asserts on, not
# the regional partitions and marts below it (their refresh is test_ui_quiet's).
E2E_AUTOMATION_SELECT = "key:mastered/* and not key:mastered/customer_by_region"


@pytest.fixture(scope="module")
def base_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_base")
    generate_landing(out, customers=BASE_CUSTOMERS, seed=3)
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


def test_same_arguments_same_bytes_in_one_call_or_several(
    base_landing: Path, tmp_path: Path
) -> None:
    one = _copy(base_landing, tmp_path / "one")
    two = _copy(base_landing, tmp_path / "two")
    simulate(one, days=5, seed=11)
    simulate(two, days=2, seed=11)
    simulate(two, days=3, seed=11)
    files = _day_files(one)
    assert files == _day_files(two)
    days = {name.split("_day_")[1][:8] for name in files}
    assert days == {"20231201", "20231204", "20231205", "20231206", "20231207"}  # no weekend
    # Names sort by day, and nothing temporary is left behind.
    names = [p.name for p in sorted((one / "customer").iterdir()) if "_day_" in p.name]
    assert names == sorted(names, key=lambda n: n.split("_day_")[1])
    assert not [p for p in one.rglob(".*")]
    other = _copy(base_landing, tmp_path / "other")
    simulate(other, days=5, seed=12)
    assert _day_files(other) != files


def test_new_records_are_numbered_after_the_landed_maximum(
    base_landing: Path, tmp_path: Path
) -> None:
    landing = _copy(base_landing, tmp_path / "landing")
    reports = simulate(landing, days=4, seed=5)
    new = [c for r in reports for c in r.new_customers]
    first = 1_000_000_001
    assert new == list(range(first + BASE_CUSTOMERS, first + BASE_CUSTOMERS + len(new)))
    conn = duckdb.connect()
    ids = conn.execute(
        'select count(*), count(distinct "Account Id"), min("Account Id"::bigint)'
        " from read_csv(?, all_varchar=true)",
        [str(landing / "account" / "account_day_*_1_new.csv")],
    ).fetchall()[0]
    base_max = conn.execute(
        'select max("Account Id"::bigint) from read_csv(?, all_varchar=true)',
        [str(base_landing / "account" / "*.csv")],
    ).fetchall()[0][0]
    assert ids[0] == ids[1] > 0
    assert ids[2] == base_max + 1


def test_rescores_are_new_versions_with_the_rescore_time(
    base_landing: Path, tmp_path: Path
) -> None:
    landing = _copy(base_landing, tmp_path / "landing")
    (report,) = simulate(landing, days=1, seed=5)
    assert report.rescores
    rows = (
        duckdb.connect()
        .execute(
            'select "Cust Id"::bigint, "Cibil Score"::int, "Cibil Check Date",'
            ' "Modified At"::timestamp from read_csv(?, all_varchar=true)',
            [str(landing / "customer" / "customer_day_20231201_3_cibil_rescore.csv")],
        )
        .fetchall()
    )
    assert {r[0]: r[1] for r in rows} == report.rescores
    evening = dt.datetime(2023, 12, 1, 20)
    assert all(
        r[2] == "2023-12-01" and evening <= r[3] < evening + dt.timedelta(hours=1) for r in rows
    )


def test_a_customer_changed_and_rescored_the_same_day_keeps_both(
    base_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = _copy(base_landing, tmp_path / "landing")
    monkeypatch.setattr(sim, "CHANGE_RATES", dict.fromkeys(sim.CHANGE_RATES, 0.2))
    monkeypatch.setattr(sim, "RESCORE_SHARE", 0.2)
    (report,) = simulate(landing, days=1, seed=5)
    changed, rescored = set(report.changed_customers), set(report.rescores)
    assert changed - rescored, "only the customers the job picked are re-scored"
    both = sorted(changed & rescored)
    assert both
    folder = landing / "customer"
    read = duckdb.connect()

    def rows(name: str) -> dict[str, tuple]:
        found = read.execute(
            'select * exclude (column00, "Cibil Score", "Cibil Check Date", "Modified At")'
            " from read_csv(?, all_varchar=true)",
            [str(folder / name)],
        ).fetchall()
        return {r[0]: r for r in found}

    changes = rows("customer_day_20231201_2_changes.csv")
    rescores = rows("customer_day_20231201_3_cibil_rescore.csv")
    assert all(rescores[str(c)] == changes[str(c)] for c in both)


def test_values_outside_the_model_do_not_stop_the_day(
    base_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A landed version with an unknown country and risk (a bad delivery) is changed
    around: no move for it, any valid risk; the day still lands."""
    import pyarrow.csv as pacsv

    landing = _copy(base_landing, tmp_path / "landing")
    source = next((landing / "customer").glob("customer_s3_*.csv"))
    table = pacsv.read_csv(
        source,
        convert_options=pacsv.ConvertOptions(
            strings_can_be_null=False,
            column_types={n: pa.string() for n in pacsv.read_csv(source).column_names},
        ),
    )
    row = table.slice(0, 1)
    for name, value in (
        ("Country", "Atlantis"),
        ("Customer Risk Category", "Extreme"),
        ("Modified At", "2023-11-29 10:00:00"),
    ):
        row = row.set_column(row.column_names.index(name), name, pa.array([value]))
    pacsv.write_csv(row, landing / "customer" / "customer_bad delivery [1].csv")
    cust_id = int(row.column("Cust Id")[0].as_py())
    monkeypatch.setattr(sim, "CHANGE_RATES", dict.fromkeys(sim.CHANGE_RATES, 1.0))
    (report,) = simulate(landing, days=1, seed=5)
    assert cust_id in report.changed_customers
    changed = (
        duckdb.connect()
        .execute(
            'select "Country", "Customer Risk Category" from read_csv(?, all_varchar=true)'
            ' where "Cust Id" = ?',
            [str(landing / "customer" / "customer_day_20231201_2_changes.csv"), str(cust_id)],
        )
        .fetchall()
    )
    assert changed[0][0] == "Atlantis" and changed[0][1] in ("High", "Low", "Medium")


def _landed_rows(landing: Path, entity, pattern: str = "*.csv") -> duckdb.DuckDBPyConnection:
    """The entity's landed CSV files as one text table `t` (model column names, file name)."""
    db = duckdb.connect()
    db.execute(
        "create table t as select * exclude (_row) from read_csv(?, header = true,"
        " all_varchar = true, names = ?, filename = true)",
        [
            [str(p) for p in sorted((landing / entity.name).glob(pattern))],
            ["_row", *entity.column_names],
        ],
    )
    return db


def test_simulated_days_land_campaign_events_allowed_at_their_time(
    base_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The month's campaign lands with its first day; contacts and their later stages follow
    day by day, in stage order; after every customer withdrew consent nothing lands."""
    monkeypatch.setattr(campaigns_day, "CONTACT_RATE", 0.05)  # many contacts in 200 customers
    landing = _copy(base_landing, tmp_path / "landing")
    reports = simulate(landing, days=8, seed=5)
    campaigns = (
        _landed_rows(landing, CAMPAIGN, "*_day_*")
        .execute("select campaign_id, start_date, end_date, filename from t")
        .fetchall()
    )
    assert [(c[0], c[1], c[2]) for c in campaigns] == [("CMP0000012", "2023-12-01", "2024-01-25")]
    assert "campaign_day_20231201_1_new" in campaigns[0][3]
    events = _landed_rows(landing, CAMPAIGN_EVENT, "*_day_*")
    per_day = events.execute(
        "select regexp_extract(filename, '_day_(\\d{8})_', 1) as day,"
        " count(*) filter (where event_type = 'contacted'),"
        " count(*) filter (where event_type <> 'contacted')"
        " from t group by 1 order by 1"
    ).fetchall()
    assert per_day[0][0] == "20231201" and per_day[0][1] > 0
    assert sum(d[1] for d in per_day) > 20 and sum(d[2] for d in per_day) > 5
    assert len({d[0] for d in per_day}) >= 6  # the funnel moves day by day
    assert (
        sum(r.rows.get(CAMPAIGN_EVENT.name, 0) for r in reports)
        == events.execute("select count(*) from t").fetchone()[0]
    )
    # Each later stage has its previous one, no later, and lands on or after its time.
    stages = list(CAMPAIGN_EVENT_TYPES)
    broken = events.execute(
        """select count(*) from t e where list_position(?::varchar[], e.event_type) > 1
           and not exists (select 1 from t p where p.cust_id = e.cust_id
             and p.campaign_id = e.campaign_id and p.event_ts <= e.event_ts
             and list_position(?::varchar[], p.event_type)
                 = list_position(?::varchar[], e.event_type) - 1)""",
        [stages, stages, stages],
    ).fetchone()[0]
    assert broken == 0
    # Every event only when the customer's landed version in force then allowed contact.
    customers = _landed_rows(landing, CUSTOMER)
    day_events = [str(p) for p in sorted((landing / "campaign_event").glob("*_day_*"))]
    refused = customers.execute(
        """select count(*) from read_csv(?, header = true, all_varchar = true, names = ?) e
           where not coalesce((
             select arg_max(c.marketing_consent = 'Yes' and c.do_not_contact = 'No',
                            c.modified_at::timestamp)
             from t c where c.cust_id = e.cust_id
               and c.modified_at::timestamp <= e.event_ts::timestamp), false)""",
        [day_events, ["_row", *CAMPAIGN_EVENT.column_names]],
    ).fetchone()[0]
    assert refused == 0
    # Every landed customer withdraws consent after the last day: later days contact none
    # of them and land none of their contacts' later stages.
    control = _copy(landing, tmp_path / "control")  # the same days without the withdrawal
    header = next((landing / "customer").glob("*.csv")).read_text().splitlines()[0]
    rows = customers.execute(
        "select * exclude (filename) replace ('No' as marketing_consent,"
        " '2023-12-13 00:00:00' as modified_at) from t"
        " qualify row_number() over (partition by cust_id order by modified_at desc) = 1"
    ).fetchall()
    with (landing / "customer" / "customer_withdrawn.csv").open("w", newline="") as handle:
        handle.write(header + "\n")
        writer = csv.writer(handle, lineterminator="\n")
        for i, row in enumerate(rows):
            writer.writerow([i, *row])
    later = simulate(landing, days=3, seed=5)
    assert later[0].day == dt.date(2023, 12, 13)
    withdrawn = {int(r[CUSTOMER.column_names.index("cust_id")]) for r in rows}
    simulate(control, days=3, seed=5)

    def late_customers(folder: Path) -> set[int]:
        if not list((folder / "campaign_event").glob("*_day_2023121[345]_*")):
            return set()
        late = _landed_rows(folder, CAMPAIGN_EVENT, "*_day_2023121[345]_*")
        return {int(r[0]) for r in late.execute("select cust_id from t").fetchall()}

    assert late_customers(control) & withdrawn  # they would have had events
    assert not late_customers(landing) & withdrawn  # only customers new on those days


def test_a_day_lands_once(base_landing: Path, tmp_path: Path) -> None:
    landing = _copy(base_landing, tmp_path / "landing")
    simulate(landing, days=1, seed=5)
    with pytest.raises(SimulationError, match="days land once"):
        simulate(landing, days=1, seed=5, start=dt.date(2023, 12, 1))
    (later,) = simulate(landing, days=1, seed=5, start=dt.date(2023, 12, 9))
    assert later.day == dt.date(2023, 12, 11)  # a Saturday start lands on Monday


def test_cli_simulate_and_its_errors(
    base_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    _copy(base_landing, home / "landing")
    assert cli.main(["--home", str(home), "simulate", "--days", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "2023-12-01:" in out and "2023-12-04:" in out
    assert cli.main(["--home", str(home), "simulate", "--start", "2023-12-04"]) == 2
    assert "days land once" in capsys.readouterr().err


def test_read_only_landing_folder_is_a_clear_error_and_nothing_lands(
    base_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_landing_faults import read_only

    home = tmp_path / "home"
    landing = _copy(base_landing, home / "landing")
    with read_only(landing / "transaction"):
        assert cli.main(["--home", str(home), "simulate", "--days", "1"]) == 2
        err = capsys.readouterr().err
        assert "cannot land files in" in err and "transaction" in err and "writable" in err
    assert _day_files(landing) == {}
    # A run killed mid-write leaves hidden files; the next run removes them and lands.
    stale = landing / "customer" / ".customer_day_20231201_1_new.csv.tmp"
    stale.write_text("half a file")
    assert cli.main(["--home", str(home), "simulate", "--days", "1"]) == 0  # next run lands
    assert not stale.exists()
    assert sim.landed_days(landing) == [dt.date(2023, 12, 1)]


def _open_customers(conn: duckdb.DuckDBPyConnection) -> int:
    """Customers with at least one account in use: closing a customer closes them all."""
    return conn.execute(
        "select count(*) from mastered.customer c where exists (select 1 from"
        " mastered.account a where a.cust_id = c.cust_id and a.account_status <> 'Closed')"
    ).fetchall()[0][0]


def _raw_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {e: conn.execute(f"select count(*) from raw.{e}").fetchall()[0][0] for e in ENTITY_NAMES}


@pytest.mark.slow
def test_a_simulated_month_reaches_mastered(built: DataPaths) -> None:
    from fs_assets.app.build import build

    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        open_before = _open_customers(conn)
        raw_before = _raw_counts(conn)
    reports = simulate(built.landing, days=30, seed=9)
    new = sum(len(r.new_customers) for r in reports)
    closed = sum(len(r.closed_customers) for r in reports)
    latest_score: dict[int, int] = {}
    for r in reports:
        latest_score.update(r.rescores)
    assert new > 0 and closed > 0 and latest_score

    selection = " or ".join(f"key:raw/{e} or key:mastered/{e}" for e in ENTITY_NAMES)
    report = build(built, select=selection, out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)

    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        assert _open_customers(conn) == open_before + new - closed
        for entity, before in raw_before.items():
            landed = sum(r.rows.get(entity, 0) for r in reports)
            assert _raw_counts(conn)[entity] == before + landed, entity
        ids = sorted(latest_score)
        scores = dict(
            conn.execute(
                f"select cust_id::bigint, cibil_score from mastered.{CUSTOMER.name}"
                " where cust_id::bigint in (select unnest(?::bigint[]))",
                [ids],
            ).fetchall()
        )
        assert scores == latest_score
        pending = conn.execute(
            "select count(*) from quarantine.customer_pending_corrections"
        ).fetchall()[0][0]
        assert pending == 0
        # The simulated campaign's events master cleanly: consent held at every event.
        events = sum(r.rows.get(CAMPAIGN_EVENT.name, 0) for r in reports)
        quarantined = conn.execute(
            "select (select count(*) from quarantine.campaign_event_rejects)"
            " + (select count(*) from quarantine.campaign_event_pending_corrections)"
        ).fetchall()[0][0]
        assert events > 0 and quarantined == 0
    assert np.all(np.diff([r.day.toordinal() for r in reports]) > 0)


def test_ui_simulate_lands_days_while_the_ui_runs_and_stops_with_it(
    base_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fs_assets.app import process_group

    home = tmp_path / "home"
    landing = _copy(base_landing, home / "landing")
    commands: list[list[str]] = []

    def fake_ui(cmd, **_kwargs):  # type: ignore[no-untyped-def]
        """Stands in for `dagster dev`: runs until two days have landed."""
        commands.append(list(cmd))
        deadline = time.monotonic() + 60
        while len(sim.landed_days(landing)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        return 0

    monkeypatch.setattr(process_group, "run_group", fake_ui)
    argv = ["--home", str(home), "ui", "--simulate", "--interval", "0.5", "--port", "3999"]
    assert cli.main(argv) == 0
    assert commands and "dev" in commands[0] and "3999" in commands[0]
    landed = sim.landed_days(landing)
    assert len(landed) >= 2
    time.sleep(1.5)  # three more ticks, had the clock not stopped with the UI
    assert sim.landed_days(landing) == landed


def _in_ledger(paths: DataPaths, report: sim.DayReport) -> bool:
    """Whether every file of the day is in the ingest ledger (the sensor took it)."""
    from fs_assets.transforms.duckdb_file import connect_with_retry

    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        names = [path.name for path in report.files]
        (count,) = conn.execute(
            "select count(distinct file_name) from meta.ingest_ledger"
            " where file_name in (select unnest(?::varchar[]))",
            [names],
        ).fetchone()
        return count == len(names)
    finally:
        conn.close()


def _customers_reached_mastered(paths: DataPaths, report: sim.DayReport) -> bool:
    """Whether the day's new customers and CIBIL re-scores are in mastered.customer."""
    from fs_assets.transforms.duckdb_file import connect_with_retry

    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        ids = [*report.new_customers, *report.rescores]
        mastered = dict(
            conn.execute(
                "select cust_id::bigint, cibil_score from mastered.customer"
                " where cust_id::bigint in (select unnest(?::bigint[]))",
                [ids],
            ).fetchall()
        )
        return set(mastered) == set(ids) and all(
            mastered[c] == score for c, score in report.rescores.items()
        )
    finally:
        conn.close()


def _accounts_reached_mastered(paths: DataPaths, reports: list[sim.DayReport]) -> bool:
    """Whether the days' closures and payments are in mastered.account and .transaction."""
    from fs_assets.transforms.duckdb_file import connect_with_retry

    closed = [c for r in reports for c in r.closed_customers]
    conn = connect_with_retry(paths.warehouse, read_only=True, timeout_s=60)
    try:
        still_open = conn.execute(
            "select count(*) from mastered.account where account_status <> 'Closed'"
            " and cust_id::bigint in (select unnest(?::bigint[]))",
            [closed],
        ).fetchall()[0][0]
        payments = conn.execute(
            "select count(*) from mastered.transaction where transaction_ts::date"
            " in (select unnest(?::date[]))",
            [[r.day for r in reports]],
        ).fetchall()[0][0]
        return still_open == 0 and payments == sum(r.rows.get("transaction", 0) for r in reports)
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(E2E_TIMEOUT_S)
def test_simulated_days_reach_mastered_in_a_running_dagster_dev(
    built: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two days land, one after the other, into the landing zone `dagster dev` watches;
    the sensors take each as it comes and its changes reach mastered with no clicks.

    Each day lands once the sensor has taken the previous day's files (they are in the
    ingest ledger), not after the whole downstream cascade of each day (regions, marts,
    catalog share one warehouse slot): that kept the test at 12 minutes. Two days prove
    what a third did (a day is taken as it lands, a later day's re-score wins). Automation
    keeps only mastered fresh here (E2E_AUTOMATION_SELECT), so a day's mastered run does
    not queue behind the previous day's regional partitions and marts. The days'
    customers, re-scores (the latest per customer), closures and payments are then
    awaited in mastered.
    """
    import os

    from dagster_dev import running_dagster_dev, wait_for

    from sensors import AUTOMATION_SELECT_ENV

    monkeypatch.setenv(AUTOMATION_SELECT_ENV, E2E_AUTOMATION_SELECT)
    from dagster import DagsterInstance

    from fs_assets.defs.keys import REGION_KEY

    def latest_region_run() -> str | None:
        with DagsterInstance.get() as instance:
            event = instance.get_latest_materialization_event(REGION_KEY)
        return event.run_id if event else None

    region_before = latest_region_run()

    # The source systems keep their own record (the landing files so far); the live
    # landing zone starts empty so the sensor only sees what each day delivers.
    record = tmp_path / "source_record"
    shutil.move(built.landing, record)
    built.landing.mkdir()
    reports: list[sim.DayReport] = []
    with running_dagster_dev(built, tmp_path / "dagster_dev.log"):
        for _ in range(E2E_DAYS):
            (report,) = simulate(record, days=1, seed=21)
            assert report.new_customers and report.rescores and report.rows["transaction"]
            reports.append(report)
            for path in report.files:
                folder = built.landing / path.parent.name
                folder.mkdir(exist_ok=True)
                hidden = folder / f".{path.name}.tmp"
                shutil.copyfile(path, hidden)
                os.replace(hidden, folder / path.name)
            wait_for(
                f"the sensor to take {report.day}'s files",
                lambda report=report: _in_ledger(built, report),
                timeout=E2E_DAY_WAIT_S,
            )
        # Some customers are re-scored on both days with another score: the later must win.
        first, second = reports[0].rescores, reports[1].rescores
        assert any(first[c] != second[c] for c in set(first) & set(second))
        days = sim.DayReport(day=reports[-1].day)
        for report in reports:  # a later day's re-score of a customer wins
            days.new_customers += report.new_customers
            days.rescores.update(report.rescores)
        wait_for(
            "the days' new customers and re-scores in mastered",
            lambda: _customers_reached_mastered(built, days),
            timeout=E2E_DAY_WAIT_S,
        )
        assert any(r.closed_customers for r in reports)
        wait_for(
            "the days' closures and payments in mastered",
            lambda: _accounts_reached_mastered(built, reports),
            timeout=E2E_DAY_WAIT_S,
        )
    # The narrowed automation reached the code location: the partitions were not refreshed.
    assert region_before is not None and latest_region_run() == region_before
