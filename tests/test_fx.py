"""One reporting currency: the fx_rate feed, conversion at mastering, its rules and checks."""

from __future__ import annotations

import csv
import itertools
import shutil
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest

from asset_checks.fx_checks import evaluate_fx_checks
from asset_checks.rule_checks import evaluate_rule_checks
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.generator.fx_rates import build_fx_rates, window_days
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES, FX_RATE, TRANSACTION
from fs_assets.model.value_sets import CURRENCIES, DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.mastering import build_mastered
from resources.warehouse import REPORTING_CURRENCY_ENV, WarehouseResource, warehouse_from_env

ALL_CHECKS = {"one_rate_per_currency_per_day", "amounts_in_reporting_currency"}
# A day after the generated window (it ends on 2023-10-31): no rate yet.
LATE_DAY = "2023-11-15"


def _rows(landing: Path, ent: Entity) -> list[dict[str, str | None]]:
    path = sorted((landing / ent.name).glob("*.csv"))[0]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [
            {c: (v or None) for c, v in zip(ent.column_names, r[1:], strict=True)} for r in reader
        ]


def _write(path: Path, ent: Entity, rows: list[dict[str, str | None]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in ent.columns)])
        for i, row in enumerate(rows):
            writer.writerow([i, *("" if row[c] is None else row[c] for c in ent.column_names)])
    return path


def _master_all(conn: duckdb.DuckDBPyConnection, landing: Path, currency: str) -> None:
    for name, ent in ENTITIES.items():
        for path in sorted((landing / name).glob("*.csv")):
            ingest_file(conn, ent, path)
        build_mastered(conn, ent, reporting_currency=currency)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, small_landing: Path) -> Path:
    """A DuckDB file with every entity mastered from the small data set (INR), built once."""
    path = tmp_path_factory.mktemp("fx") / "template.duckdb"
    conn = duckdb.connect(str(path))
    for schema in ("raw", "mastered", "quarantine", "meta"):
        conn.execute(f"create schema {schema}")
    _master_all(conn, small_landing, DEFAULT_REPORTING_CURRENCY)
    conn.close()
    return path


@pytest.fixture
def wh(template: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private copy of the template, free to change."""
    path = tmp_path / "wh.duckdb"
    shutil.copyfile(template, path)
    conn = duckdb.connect(str(path))
    yield conn
    conn.close()


def test_generated_rates_cover_every_currency_and_day_and_repeat_exactly() -> None:
    first, again = build_fx_rates(42), build_fx_rates(42)
    assert all(first[c].equals(again[c]) for c in first)
    assert not first["rate"].equals(build_fx_rates(43)["rate"])
    days = window_days()
    assert len(first["fx_rate_id"]) == len(CURRENCIES) * len(days) == len(set(first["fx_rate_id"]))
    rows = list(zip(*(first[c].to_pylist() for c in first), strict=True))
    assert (_day(days[0]), _day(days[-1])) == ("2022-11-01", "2023-10-31")
    assert {(r[2], r[1]) for r in rows} == {(c, _day(d)) for c in CURRENCIES for d in days}
    assert all(r[0] == f"{r[2]}:{r[1]}" and r[3] == DEFAULT_REPORTING_CURRENCY for r in rows)
    assert all(float(r[4]) > 0 for r in rows)
    assert {r[4] for r in rows if r[2] == DEFAULT_REPORTING_CURRENCY} == {"1"}
    # A small daily drift: no rate moves by more than 3% from one day to the next.
    usd = [float(r[4]) for r in rows if r[2] == "USD"]
    assert max(abs(b / a - 1) for a, b in itertools.pairwise(usd)) < 0.03


def _day(number: int) -> str:
    import datetime as dt

    return str(dt.date(1970, 1, 1) + dt.timedelta(days=int(number)))


def test_every_transaction_is_converted_with_its_days_rate(wh: duckdb.DuckDBPyConnection) -> None:
    total, converted, currencies, rejected, pending = wh.execute(
        """select count(*), count(amount_reporting), count(distinct currency),
             (select count(*) from quarantine.transaction_rejects),
             (select count(*) from quarantine.transaction_pending_corrections)
           from mastered.transaction"""
    ).fetchone()
    assert total == converted > 0 and currencies > 1 and rejected == pending == 0
    # Recomputed in Python for a sample, from the raw rate text: amount x rate, to the cent.
    sample = wh.execute(
        """select t.amount, f.rate, t.amount_reporting, t.reporting_currency
           from mastered.transaction t join raw.fx_rate f
             on f.currency = t.currency and f.rate_date = t.transaction_ts::date::varchar
           where t.currency in ('USD', 'IDR') order by t.transaction_id limit 20"""
    ).fetchall()
    assert sample
    for amount, rate, reported, currency in sample:
        assert currency == DEFAULT_REPORTING_CURRENCY
        assert abs(float(reported) - float(amount) * float(rate)) <= 0.005 + 1e-9
    inr = wh.execute(
        "select count(*) filter (where amount <> amount_reporting) from mastered.transaction "
        "where currency = 'INR'"
    ).fetchone()[0]
    assert inr == 0
    assert {r.check_name: r.passed for r in evaluate_fx_checks(wh, FX_RATE, ALL_CHECKS)} == {
        "one_rate_per_currency_per_day": True
    }
    assert [r.passed for r in evaluate_fx_checks(wh, TRANSACTION, ALL_CHECKS)] == [True]


def test_a_half_cent_rounds_half_up_in_exact_decimals(wh: duckdb.DuckDBPyConnection) -> None:
    """101.25 x 60.492 = 6124.815 exactly; in doubles the product may land either side."""
    from fs_assets.model.cross_entity import amount_reporting_sql

    sql = amount_reporting_sql("?::decimal(18,2)", "?::double")
    cases = [("101.25", 60.492, "6124.82"), ("0.10", 0.05, "0.01"), ("1.02", 83.25, "84.92")]
    for amount, rate, expected in cases:
        assert wh.execute(f"select {sql}", [amount, rate]).fetchone()[0] == Decimal(expected)


def test_checks_catch_a_second_rate_and_a_wrong_conversion(wh: duckdb.DuckDBPyConnection) -> None:
    wh.execute(
        "insert into mastered.fx_rate select * replace ('USD:x' as fx_rate_id) "
        "from mastered.fx_rate where fx_rate_id = 'USD:2023-01-02'"
    )
    (dupe,) = evaluate_fx_checks(wh, FX_RATE, ALL_CHECKS)
    assert not dupe.passed and dupe.metadata["duplicate_rows"].value == 1
    assert dupe.metadata["sample"].value == ["USD:2023-01-02"]
    wh.execute("delete from mastered.fx_rate where fx_rate_id = 'USD:x'")
    key = wh.execute(
        "select min(transaction_id) from mastered.transaction where currency = 'USD'"
    ).fetchone()[0]
    wh.execute(
        "update mastered.transaction set amount_reporting = amount where transaction_id = ?", [key]
    )
    (conv,) = evaluate_fx_checks(wh, TRANSACTION, ALL_CHECKS)
    assert not conv.passed and conv.metadata["amount_mismatch"].value == 1
    assert conv.metadata["sample"].value == [key]
    # Checked against another reporting currency, every row is in the wrong one.
    (other,) = evaluate_fx_checks(wh, TRANSACTION, ALL_CHECKS, reporting_currency="USD")
    assert other.metadata["other_reporting_currency"].value == other.metadata["rows_checked"].value


def _versions(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    tables = {
        "mastered.transaction": "select * from mastered.transaction",
        "mastered.transaction_history": "select * from mastered.transaction_history",
        "quarantine.transaction_rejects": "select * exclude (_rejected_at) "
        "from quarantine.transaction_rejects",
        "quarantine.transaction_pending_corrections": "select * exclude (_rejected_at) "
        "from quarantine.transaction_pending_corrections",
    }
    return {t: sorted(conn.execute(sql).fetchall(), key=repr) for t, sql in tables.items()}


def test_no_rate_quarantines_and_a_late_rate_releases_on_the_next_build(
    wh: duckdb.DuckDBPyConnection, small_landing: Path, tmp_path: Path
) -> None:
    """No rate for the day: a new key is rejected, a newer version of a good one is a pending
    correction (never a zero amount). The late rate re-evaluates both on the next build,
    incrementally, with the same result as a full rebuild."""
    usd = [r for r in _rows(small_landing, TRANSACTION) if r["currency"] == "USD"]
    good, template = usd[0], usd[1]
    before = wh.execute(
        "select amount_reporting from mastered.transaction where transaction_id = ?",
        [good["transaction_id"]],
    ).fetchone()
    stamp = f"{LATE_DAY} 10:00:00"
    late_update = dict(good, transaction_ts=stamp, modified_at=stamp)
    new_key = dict(
        template,
        transaction_id="1999999999999999",
        transaction_ts=stamp,
        created_at=stamp,
        modified_at=stamp,
    )
    ingest_file(
        wh, TRANSACTION, _write(tmp_path / "late tx.csv", TRANSACTION, [late_update, new_key])
    )
    assert build_mastered(wh, TRANSACTION).mode == "incremental"
    assert wh.execute(
        "select transaction_id, _failed_rules from quarantine.transaction_rejects"
    ).fetchall() == [(new_key["transaction_id"], ["currency__fx_rate_missing"])]
    assert wh.execute(
        "select transaction_id, _failed_rules from quarantine.transaction_pending_corrections"
    ).fetchall() == [(good["transaction_id"], ["currency__fx_rate_missing"])]
    assert (
        wh.execute(
            "select amount_reporting, transaction_ts::date from mastered.transaction "
            "where transaction_id = ?",
            [good["transaction_id"]],
        ).fetchone()[0]
        == before[0]
    )

    # The rates for that day arrive late (the reporting currency's own one too).
    rates = [
        {
            "fx_rate_id": f"{c}:{LATE_DAY}",
            "rate_date": LATE_DAY,
            "currency": c,
            "reporting_currency": DEFAULT_REPORTING_CURRENCY,
            "rate": rate,
            "created_at": f"{LATE_DAY} 17:00:00",
            "modified_at": f"{LATE_DAY} 17:00:00",
        }
        for c, rate in (("USD", "83.25"), (DEFAULT_REPORTING_CURRENCY, "1"))
    ]
    ingest_file(wh, FX_RATE, _write(tmp_path / "late rates.csv", FX_RATE, rates))
    assert build_mastered(wh, FX_RATE).mode == "incremental"
    # mastered.fx_rate changed for that day: its transactions, and only those, are
    # re-evaluated (released); a full rebuild below gives the same tables.
    stats = build_mastered(wh, TRANSACTION)
    assert (stats.mode, stats.keys_evaluated) == ("incremental", 2)
    got = dict(
        wh.execute(
            "select transaction_id, amount_reporting from mastered.transaction "
            "where transaction_ts::date = ?::date",
            [LATE_DAY],
        ).fetchall()
    )
    assert set(got) == {good["transaction_id"], new_key["transaction_id"]}
    exact = Decimal(new_key["amount"]) * Decimal("83.25")
    assert got[new_key["transaction_id"]] == exact.quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert wh.execute(
        "select (select count(*) from quarantine.transaction_rejects),"
        " (select count(*) from quarantine.transaction_pending_corrections)"
    ).fetchone() == (0, 0)
    incremental = _versions(wh)
    assert build_mastered(wh, TRANSACTION, full_refresh=True).mode == "full"
    assert _versions(wh) == incremental
    assert [r.passed for r in evaluate_fx_checks(wh, TRANSACTION, ALL_CHECKS)] == [True]
    assert all(r.passed for r in evaluate_rule_checks(wh, TRANSACTION, {"valid_currency"}))


def test_a_transaction_in_another_currency_than_its_account_is_held_back(
    wh: duckdb.DuckDBPyConnection, small_landing: Path, tmp_path: Path
) -> None:
    row = next(r for r in _rows(small_landing, TRANSACTION) if r["currency"] == "INR")
    wrong = dict(row, currency="USD", modified_at="2024-01-01 00:00:00")
    early = dict(
        row,
        transaction_id="1999999999999998",
        transaction_ts="2001-01-01 00:00:00",
        modified_at="2024-01-01 00:00:00",
    )
    ingest_file(wh, TRANSACTION, _write(tmp_path / "bad.csv", TRANSACTION, [wrong, early]))
    build_mastered(wh, TRANSACTION)
    assert wh.execute(
        "select _failed_rules from quarantine.transaction_pending_corrections"
    ).fetchall() == [(["currency__matches_account"],)]
    (failed,) = wh.execute("select _failed_rules from quarantine.transaction_rejects").fetchone()
    assert "transaction_ts__before_account_open" in failed
    # The good version stays mastered, in its own currency.
    assert wh.execute(
        "select currency from mastered.transaction where transaction_id = ?",
        [row["transaction_id"]],
    ).fetchone() == ("INR",)


def test_reporting_currency_is_configurable_and_a_change_remasters(
    wh: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert build_mastered(wh, TRANSACTION).mode == "unchanged"
    assert build_mastered(wh, TRANSACTION, reporting_currency="USD").mode == "full"
    currencies, same = wh.execute(
        "select list(distinct reporting_currency), "
        "bool_and(amount = amount_reporting) filter (where currency = 'USD') "
        "from mastered.transaction"
    ).fetchone()
    assert currencies == ["USD"] and same  # a USD payment is its own amount in USD
    inr = wh.execute(
        """select t.amount, t.amount_reporting, i.rate, u.rate from mastered.transaction t
           join mastered.fx_rate u on u.currency = 'USD' and u.rate_date = t.transaction_ts::date
           join mastered.fx_rate i on i.currency = 'INR' and i.rate_date = u.rate_date
           where t.currency = 'INR' limit 1"""
    ).fetchone()
    amount, reported, inr_rate, usd_rate = inr
    assert float(reported) == pytest.approx(float(amount) * inr_rate / usd_rate, abs=0.006)
    with pytest.raises(ValueError, match="FS_ACCELERATOR_REPORTING_CURRENCY"):
        build_mastered(wh, TRANSACTION, reporting_currency="XYZ")
    # The resource: the default, the variable (through dg.EnvVar), a bad value's message.
    assert WarehouseResource().resolved_reporting_currency == DEFAULT_REPORTING_CURRENCY
    monkeypatch.setenv(REPORTING_CURRENCY_ENV, "EUR")
    import dagster as dg

    @dg.asset
    def probe(warehouse: WarehouseResource) -> str:
        return warehouse.resolved_reporting_currency

    result = dg.materialize([probe], resources={"warehouse": warehouse_from_env()})
    assert result.output_for_node("probe") == "EUR"
    monkeypatch.setenv(REPORTING_CURRENCY_ENV, "Euro")
    with pytest.raises(ValueError, match="not one of INR"):
        WarehouseResource(reporting_currency="Euro").resolved_reporting_currency  # noqa: B018


def _all_versions(conn: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every mastering output of every entity (quarantine without its timestamp)."""
    found = {}
    for name in ENTITIES:
        for table in (f"mastered.{name}", f"mastered.{name}_history"):
            found[table] = sorted(conn.execute(f"select * from {table}").fetchall(), key=repr)
        for kind in ("rejects", "pending_corrections", "superseded_invalid"):
            table = f"quarantine.{name}_{kind}"
            rows = conn.execute(f"select * exclude (_rejected_at) from {table}").fetchall()
            found[table] = sorted(rows, key=repr)
    return found


def test_simulated_days_master_incrementally_as_a_full_rebuild_would(
    wh: duckdb.DuckDBPyConnection, small_landing: Path, tmp_path: Path
) -> None:
    """A day's rates, closures, new customers and faults re-evaluate only the rows reading
    what changed (a day's payments, not every transaction), and give the same tables as a
    full rebuild of every entity."""
    from fs_assets.generator.simulate import simulate

    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    reports = simulate(landing, days=2, seed=13, error_rate=0.05)
    (total,) = wh.execute("select count(*) from raw.transaction").fetchone()
    for report in reports:
        for name, ent in ENTITIES.items():
            for path in sorted(p for p in report.files if p.parent.name == name):
                ingest_file(wh, ent, path)
            stats = build_mastered(wh, ent)
            assert stats.mode in ("incremental", "unchanged"), (name, stats)
        # The day's payments and faults and the rows of the accounts that changed: a few
        # hundred transactions of the 15,000.
        assert 0 < stats.keys_evaluated < total / 10, stats
    incremental = _all_versions(wh)
    for ent in ENTITIES.values():
        assert build_mastered(wh, ent, full_refresh=True).mode == "full"
    assert _all_versions(wh) == incremental
