"""Mastering: every rule passes and fails, last valid version wins, reconciliation, atomicity."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from asset_checks.integrity_checks import reconciliation
from fs_assets.catalog.scanner import list_tables
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.columns import Column, Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import BUILDING_PREFIX
from fs_assets.model.rules import (
    RULES,
    Rule,
    failed_rules_sql,
    q,
    reading_served_keys,
    reference_joins_sql,
    served_foreign_keys,
)
from fs_assets.transforms.mastering import (
    MULTI,
    KeyRange,
    build_mastered,
    evaluated_sql,
    key_ranges,
    multi_sql,
    ranked_sql,
    single_ranked_sql,
    versions_sql,
)

ORDER = tuple(ENTITIES)  # dependency order: fx_rate and account before transaction


def first_rows(small_landing: Path, ent: Entity, n: int = 50) -> list[dict[str, str | None]]:
    path = sorted((small_landing / ent.name).glob("*.csv"))[0]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [r for _, r in zip(range(n), reader, strict=False)]
    return [
        {c: (v if v != "" else None) for c, v in zip(ent.column_names, r[1:], strict=True)}
        for r in rows
    ]


def evaluate(conn: duckdb.DuckDBPyConnection, ent: Entity, row: dict[str, str | None]) -> list[str]:
    """The rules a single row breaks, evaluated by the same SQL mastering uses."""
    failed_sql, params = failed_rules_sql(RULES[ent.name])
    joins, join_params = reference_joins_sql(ent, "l")
    cols = ", ".join(q(c) for c in ent.column_names)
    values = ", ".join("?::varchar" for _ in ent.column_names)
    return conn.execute(
        f"select {failed_sql} from (select {values}) as l({cols}) {joins}",
        [*params, *(row[c] for c in ent.column_names), *join_params],
    ).fetchone()[0]


def breaking_value(rule: Rule, col: Column, row: dict[str, str | None]) -> str | None:
    """A value for `col` that breaks exactly this kind of rule."""
    current = row[col.name] or "A"
    if rule.kind == "required":
        return None
    if rule.kind == "type":
        return "not-a-value"
    if rule.kind == "accepted_values":
        return "Bogus Value"
    if rule.kind == "max_length":
        return "a" * (col.max_length + 1)
    if rule.kind == "exact_length":
        return current + "7"
    if rule.kind == "pattern":
        return "x!y@z" if col.type == "VARCHAR" else "2023/10/05"
    if rule.kind == "range":
        return str(int(col.value_range[1]) + 1)
    if rule.kind == "foreign_key":
        return "9" * len(current)
    if rule.kind == "positive":
        return "0"
    if rule.kind == "matches_currency_and_date":  # a well-formed id of another currency
        return ("USD" if not current.startswith("USD") else "EUR") + current[3:]
    if rule.kind == "matches_account":  # a currency with rates, not the account's
        return "USD" if current != "USD" else "EUR"
    if rule.kind == "before_account_open":
        return "2000-01-01 00:00:00"
    if rule.kind == "fx_rate_missing":
        return "XXX"
    if rule.kind == "before_start":  # an end date long before any campaign starts
        return "2000-01-01"
    if rule.kind == "control_characters":
        return current + "\x0b"  # vertical tab: not allowed even in free text
    return CROSS_FIELD_BREAKS[rule.name](row)


# One breaking value per cross-field rule, made from the row's other fields.
CROSS_FIELD_BREAKS = {
    "state__in_country": lambda r: "Oslo" if r["country"] != "Norway" else "Delhi",
    "city__in_state": lambda r: "Atlantis",
    "pin__country_format": lambda r: "12",
    "mobile_number1__country_format": lambda r: "12345",
    "country_code__matches_country": lambda r: "+47" if r["country"] != "Norway" else "+91",
    "minor_flag__matches_dob": lambda r: "No" if r["minor_flag"] == "Yes" else "Yes",
    "senior_citizen_flag__matches_dob": lambda r: (
        "No" if r["senior_citizen_flag"] == "Yes" else "Yes"
    ),
    "cust_dob__not_future": lambda r: "2999-01-01",
    "cust_title__matches_gender": lambda r: "Mrs" if r["gender"] == "Male" else "Mr",
}


def _master_all(conn: duckdb.DuckDBPyConnection, small_landing: Path) -> None:
    for name in ORDER:
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])


@pytest.fixture(scope="module")
def shared_refs(tmp_path_factory: pytest.TempPathFactory, small_landing: Path):
    """Mastered tables of every entity, built once, for tests that only read them."""
    conn = duckdb.connect(str(tmp_path_factory.mktemp("refs") / "refs.duckdb"))
    for schema in ("raw", "mastered", "quarantine", "meta"):
        conn.execute(f"create schema {schema}")
    _master_all(conn, small_landing)
    yield conn
    conn.close()


@pytest.fixture
def mastered_refs(conn, small_landing: Path) -> duckdb.DuckDBPyConnection:
    """Mastered tables of every entity in a fresh file, for tests that change them."""
    _master_all(conn, small_landing)
    return conn


@pytest.mark.parametrize(
    "rule", [r for name in ORDER for r in RULES[name]], ids=lambda r: f"{r.entity}.{r.name}"
)
def test_every_rule_has_a_passing_and_a_failing_example(
    shared_refs, small_landing: Path, rule: Rule
) -> None:
    ent = ENTITIES[rule.entity]
    col = ent.column(rule.column)
    rows = first_rows(small_landing, ent)
    if rule.kind == "personal_only":  # a value where none may be: an organisation's row
        rows = [r for r in rows if r["customer_type"] != "Personal"]
    elif col.personal_only:
        rows = [r for r in rows if r["customer_type"] == "Personal"]
    row = rows[0]
    assert evaluate(shared_refs, ent, row) == []
    if rule.kind == "personal_only":
        value = col.values[0]
    elif rule.kind == "without_consent":  # a mastered customer who gave no consent
        value = shared_refs.execute(
            "select min(cust_id) from mastered.customer where marketing_consent = 'No'"
        ).fetchone()[0]
    else:
        value = breaking_value(rule, col, row)
    broken = dict(row, **{col.name: value})
    assert rule.name in evaluate(shared_refs, ent, broken)


def test_seed_middle_name_precedence_bug_is_fixed(shared_refs, small_landing: Path) -> None:
    """The seed's `or cust_middle_name is null` skipped later rules; ours does not."""
    ent = ENTITIES["customer"]
    row = dict(first_rows(small_landing, ent)[0], cust_middle_name=None, email_addr="NOT AN EMAIL")
    assert evaluate(shared_refs, ent, row) == ["email_addr__pattern"]


def test_generated_data_masters_cleanly_and_reconciles(shared_refs) -> None:
    for name in ORDER:
        ent = ENTITIES[name]
        raw_keys, mastered, rejected = shared_refs.execute(
            f"select (select count(distinct {q(ent.key)}) from raw.{q(name)}),"
            f" (select count(*) from mastered.{q(name)}),"
            f" (select count(*) from quarantine.{q(name + '_rejects')})"
        ).fetchone()
        pending = shared_refs.execute(
            f"select count(*) from quarantine.{q(name + '_pending_corrections')}"
        ).fetchone()[0]
        assert (rejected, pending) == (0, 0), name
        assert raw_keys == mastered + rejected > 0


def test_the_models_places_and_numbers_pass_the_cross_field_rules() -> None:
    """Every place of the model has its country's pin format; the generator's mobiles fit."""
    import re

    from fs_assets.model.places import (
        CITIES_BY_NATIONALITY,
        COUNTRIES,
        MOBILE_FORMAT_BY_COUNTRY,
        MOBILE_RANGE,
        PIN_FORMAT_BY_COUNTRY,
    )

    assert set(PIN_FORMAT_BY_COUNTRY) == set(MOBILE_FORMAT_BY_COUNTRY) == set(COUNTRIES)
    for places in CITIES_BY_NATIONALITY.values():
        for city, _, pin, country in places:
            assert re.fullmatch(PIN_FORMAT_BY_COUNTRY[country], pin), (city, pin)
    for mobile in MOBILE_RANGE:
        assert all(re.fullmatch(f, str(mobile)) for f in MOBILE_FORMAT_BY_COUNTRY.values())


TABLES = (
    "mastered.customer",
    "mastered.customer_history",
    "quarantine.customer_rejects",
    "quarantine.customer_pending_corrections",
    "quarantine.customer_superseded_invalid",
)


def _write(path: Path, ent: Entity, rows: list[dict[str, str | None]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in ent.columns)])
        for i, row in enumerate(rows):
            writer.writerow([i, *("" if row[c] is None else row[c] for c in ent.column_names)])
    return path


def test_update_produces_history_row_and_new_mastered_value(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[0]
    change = dict(
        row, city="Chennai", state="Tamil Nadu", pin="600001", modified_at="2024-02-01 09:30:00"
    )
    if change["customer_category"] != "Resident Indian":
        change.update(customer_category="Resident Indian", country="India", country_code="+91")
    ingest_file(mastered_refs, ent, _write(tmp_path / "upd.csv", ent, [change]))
    versions = mastered_refs.execute(
        "select count(*) from raw.customer where cust_id = ?", [row["cust_id"]]
    ).fetchone()[0]
    assert versions == 2
    stats = build_mastered(mastered_refs, ent)
    city, modified = mastered_refs.execute(
        "select city, modified_at from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchone()
    assert city == "Chennai" and str(modified) == "2024-02-01 09:30:00"
    assert stats.keys_evaluated == stats.mastered_rows + stats.rejected_rows


def test_invalid_update_is_a_pending_correction_and_keeps_the_good_row(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """Last known good: a bad newer version is quarantined, the valid one stays mastered.

    (Before, the key left mastered.customer and went to the rejects: latest-or-nothing.)
    """
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[1]
    before = mastered_refs.execute(
        "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchall()
    bad = dict(row, cibil_score="1200", cust_segment="Downtown", modified_at="2024-03-01 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "bad.csv", ent, [bad]))
    stats = build_mastered(mastered_refs, ent)
    rules, source_file, source_row = mastered_refs.execute(
        "select _failed_rules, _source_file, _source_row "
        "from quarantine.customer_pending_corrections where cust_id = ?",
        [row["cust_id"]],
    ).fetchone()
    assert set(rules) == {
        "cibil_score__exact_length",
        "cibil_score__range",
        "cust_segment__accepted_values",
    }
    assert Path(source_file).name == "bad.csv" and source_row == 1
    after = mastered_refs.execute(
        "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchall()
    assert after == before and len(after) == 1
    rejected = mastered_refs.execute(
        "select count(*) from quarantine.customer_rejects where cust_id = ?", [row["cust_id"]]
    ).fetchone()[0]
    assert rejected == 0
    assert (stats.pending_rows, stats.rejected_rows) == (1, 0)
    assert stats.rule_failures == {
        "cibil_score__exact_length": 1,
        "cibil_score__range": 1,
        "cust_segment__accepted_values": 1,
    }


def test_key_without_any_valid_version_is_rejected(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    row = dict(first_rows(small_landing, ent)[3], cust_id="1999999999", cibil_score="5")
    older = dict(row, cibil_score="1", modified_at="2020-01-01 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "new.csv", ent, [row, older]))
    stats = build_mastered(mastered_refs, ent)
    rejected = mastered_refs.execute(
        "select cibil_score from quarantine.customer_rejects where cust_id = '1999999999'"
    ).fetchall()
    assert rejected == [("5",)]  # the newest version, once
    pending, mastered = mastered_refs.execute(
        "select (select count(*) from quarantine.customer_pending_corrections"
        "        where cust_id = '1999999999'),"
        " (select count(*) from mastered.customer where cust_id = '1999999999')"
    ).fetchone()
    assert (pending, mastered, stats.rejected_rows, stats.pending_rows) == (0, 0, 1, 0)
    superseded = mastered_refs.execute(
        "select cibil_score from quarantine.customer_superseded_invalid "
        "where cust_id = '1999999999'"
    ).fetchall()
    assert superseded == [("1",)] and stats.superseded_rows == 1  # the older one, on record


def test_a_valid_correction_clears_the_pending_one(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[4]
    bad = dict(row, cibil_score="12", modified_at="2024-03-01 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "bad.csv", ent, [bad]))
    assert build_mastered(mastered_refs, ent).pending_rows == 1
    good = dict(row, cibil_score="812", modified_at="2024-03-02 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "good.csv", ent, [good]))
    stats = build_mastered(mastered_refs, ent)
    score, pending = mastered_refs.execute(
        "select cibil_score, (select count(*) from quarantine.customer_pending_corrections"
        " where cust_id = ?) from mastered.customer where cust_id = ?",
        [row["cust_id"], row["cust_id"]],
    ).fetchone()
    assert (score, pending, stats.pending_rows) == (812, 0, 0)
    cleared = mastered_refs.execute(
        "select cibil_score from quarantine.customer_superseded_invalid where cust_id = ?",
        [row["cust_id"]],
    ).fetchall()
    assert cleared == [("12",)]  # the cleared correction stays on record, superseded


class _Counting:
    """A connection that keeps the statements run through it."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn, self.statements = conn, list[str]()

    def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
        self.statements.append(sql)
        return self.conn.execute(sql, *args)


def counting(conn: duckdb.DuckDBPyConnection) -> tuple[_Counting, list[str]]:
    counted = _Counting(conn)
    return counted, counted.statements


def test_an_invalid_late_version_is_recorded_and_every_version_reconciles(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """An invalid version older than the mastered row was recorded nowhere but raw."""
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[5]
    before = mastered_refs.execute(
        "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchall()
    late = dict(row, pin="2260011", modified_at="2019-06-01 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "late.csv", ent, [late]))
    stats = build_mastered(mastered_refs, ent)
    assert (stats.pending_rows, stats.superseded_rows) == (0, 1)
    rules, source = mastered_refs.execute(
        "select _failed_rules, _source_file from quarantine.customer_superseded_invalid "
        "where cust_id = ?",
        [row["cust_id"]],
    ).fetchone()
    assert "pin__country_format" in rules and Path(source).name == "late.csv"
    assert (
        mastered_refs.execute(
            "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
        ).fetchall()
        == before
    )
    counted, statements = counting(mastered_refs)
    counts = reconciliation(counted, ent)
    assert counts["versions_unrecorded"] == 0 and counts["pending_corrections"] == 0
    assert len(statements) == 1  # the versions' fingerprints agree: no anti-join
    # The check can fail: the record names another row of the file (as many rows, another
    # sum of hashes), then none; each time the anti-join counts the version recorded nowhere.
    mastered_refs.execute(
        "update quarantine.customer_superseded_invalid set _source_row = _source_row + 1"
    )
    assert reconciliation(counted, ent)["versions_unrecorded"] == 1
    assert len(statements) == 3
    mastered_refs.execute("delete from quarantine.customer_superseded_invalid")
    assert reconciliation(mastered_refs, ent)["versions_unrecorded"] == 1


def test_a_contradictory_country_is_a_pending_correction_naming_the_rules(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """The issue's `country=Norway` on an Indian customer, landed as a file anyway."""
    ent = ENTITIES["customer"]
    row = next(r for r in first_rows(small_landing, ent) if r["country"] == "India")
    before = mastered_refs.execute(
        "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchall()
    norway = dict(row, country="Norway", modified_at="2023-11-29 12:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "norway.csv", ent, [norway]))
    stats = build_mastered(mastered_refs, ent)
    rules = mastered_refs.execute(
        "select _failed_rules from quarantine.customer_pending_corrections where cust_id = ?",
        [row["cust_id"]],
    ).fetchone()[0]
    assert {"state__in_country", "country_code__matches_country", "pin__country_format"} <= set(
        rules
    )
    assert stats.pending_rows == 1 and stats.rejected_rows == 0
    assert (
        mastered_refs.execute(
            "select * from mastered.customer where cust_id = ?", [row["cust_id"]]
        ).fetchall()
        == before
    )


def test_two_pending_corrections_reconcile_by_fingerprint_and_a_lost_one_is_counted(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """A key whose mastered row and older pending correction are not its newest version:
    the fingerprints still agree (one statement). Lose the newest correction and the
    anti-joins count it, unexplained and unrecorded."""
    ent = ENTITIES["customer"]
    row = next(r for r in first_rows(small_landing, ent) if r["country"] == "India")
    norway = dict(row, country="Norway", modified_at="2023-11-29 12:00:00")
    sweden = dict(row, country="Sweden", modified_at="2023-11-30 12:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "two.csv", ent, [norway, sweden]))
    assert build_mastered(mastered_refs, ent).pending_rows == 2
    counted, statements = counting(mastered_refs)
    counts = reconciliation(counted, ent)
    assert (counts["newest_versions_unexplained"], counts["versions_unrecorded"]) == (0, 0)
    assert counts["pending_corrections"] == 2 and len(statements) == 1
    mastered_refs.execute(
        "delete from quarantine.customer_pending_corrections where country = 'Sweden'"
    )
    counts = reconciliation(counted, ent)
    assert (counts["newest_versions_unexplained"], counts["versions_unrecorded"]) == (1, 1)
    assert len(statements) == 4


def test_ties_on_modified_at_resolve_to_the_later_ingestion(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[2]
    stamp = "2024-05-05 05:05:05"
    ingest_file(
        mastered_refs,
        ent,
        _write(tmp_path / "t1.csv", ent, [dict(row, pin="111111", modified_at=stamp)]),
    )
    # Same key and modified_at, other content: a same-timestamp correction. It is stored
    # and counted (it used to be dropped silently), and the later ingestion wins.
    outcome = ingest_file(
        mastered_refs,
        ent,
        _write(tmp_path / "t2.csv", ent, [dict(row, pin="222222", modified_at=stamp)]),
    )
    assert (outcome.rows_inserted, outcome.rows_corrected) == (1, 1)
    build_mastered(mastered_refs, ent)
    pin = mastered_refs.execute(
        "select pin from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchone()[0]
    assert pin == "222222"


def test_failed_build_leaves_previous_tables_intact(mastered_refs, tmp_path: Path) -> None:
    ent = ENTITIES["product"]
    before = mastered_refs.execute("select * from mastered.product order by 1").fetchall()
    # Make the second replacement of the build fail: a view where the rejects table goes.
    mastered_refs.execute("drop table quarantine.product_rejects")
    mastered_refs.execute("create view quarantine.product_rejects as select 1 as x")
    mastered_refs.execute("delete from raw.product where product_id = 'PRD0000001'")
    with pytest.raises(duckdb.Error):
        build_mastered(mastered_refs, ent, full_refresh=True)
    after = mastered_refs.execute("select * from mastered.product order by 1").fetchall()
    assert after == before and len(after) == 10


def test_incremental_refresh_equals_full_rebuild(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    rows = first_rows(small_landing, ent, 40)
    changes = [
        dict(r, customer_risk_category="High", modified_at="2024-06-01 00:00:00") for r in rows[:20]
    ]
    changes[0]["cibil_score"] = "99"  # one change breaks a rule: a pending correction
    ingest_file(mastered_refs, ent, _write(tmp_path / "inc.csv", ent, changes))
    stats = build_mastered(mastered_refs, ent)
    assert (stats.mode, stats.keys_evaluated, stats.pending_rows) == ("incremental", 20, 1)
    snapshot = {
        t: sorted(
            mastered_refs.execute(f"select * exclude (_rejected_at) from {t}").fetchall()
            if "quarantine" in t
            else mastered_refs.execute(f"select * from {t}").fetchall()
        )
        for t in TABLES
    }
    assert build_mastered(mastered_refs, ent).mode == "unchanged"
    full = build_mastered(mastered_refs, ent, full_refresh=True)
    assert full.mode == "full"
    for table, before in snapshot.items():
        query = (
            f"select * exclude (_rejected_at) from {table}"
            if "quarantine" in table
            else (f"select * from {table}")
        )
        assert sorted(mastered_refs.execute(query).fetchall()) == before


def test_rebuilt_reference_forces_full_recheck_of_dependents(mastered_refs) -> None:
    assert build_mastered(mastered_refs, ENTITIES["account"]).mode == "unchanged"
    build_mastered(mastered_refs, ENTITIES["customer"], full_refresh=True)
    assert build_mastered(mastered_refs, ENTITIES["account"]).mode == "full"


def _snapshot(
    conn: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = TABLES
) -> dict[str, list[tuple]]:
    return {
        t: sorted(
            conn.execute(
                f"select * exclude (_rejected_at) from {t}" if "quarantine" in t else f"from {t}"
            ).fetchall(),
            key=repr,
        )
        for t in tables
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_good_and_bad_versions_incremental_equals_full(
    mastered_refs, small_landing: Path, tmp_path: Path, seed: int
) -> None:
    """Batches of valid and invalid versions, some late (older than the current one)."""
    import random

    rng = random.Random(seed)
    ent = ENTITIES["customer"]
    rows = first_rows(small_landing, ent, 12)
    new_key = dict(rows[0], cust_id="1888888888")  # a key first seen in these batches
    for batch in range(5):
        changes = []
        for row in rng.sample([*rows, new_key], 6):
            day = rng.randint(1, 28)
            score = str(rng.choice([720, 801, 655])) if rng.random() < 0.6 else "12"
            stamp = f"20{rng.choice([19, 24, 25])}-0{rng.randint(1, 9)}-{day:02d} 0{batch}:00:00"
            changes.append(dict(row, cibil_score=score, modified_at=stamp))
        ingest_file(mastered_refs, ent, _write(tmp_path / f"b{batch}.csv", ent, changes))
        assert build_mastered(mastered_refs, ent).mode == "incremental"
    incremental = _snapshot(mastered_refs)
    assert incremental["quarantine.customer_pending_corrections"]  # the sequence has bad ones
    assert any(r[-1] is not None for r in incremental["mastered.customer_history"])
    assert build_mastered(mastered_refs, ent, full_refresh=True).mode == "full"
    assert _snapshot(mastered_refs) == incremental
    # Reconciliation: each raw key is mastered xor rejected; each key's newest raw version
    # is its mastered row or a pending correction (or, for a rejected key, its reject).
    assert mastered_refs.execute(
        """select count(*) from (select cust_id, _source_file, _source_row from raw.customer
             qualify row_number() over (partition by cust_id order by _modified_ts desc) = 1) n
           where not exists (select 1 from mastered.customer m where m.cust_id = n.cust_id
                  and m._source_file = n._source_file and m._source_row = n._source_row)
             and not exists (select 1 from quarantine.customer_pending_corrections p
                  where p.cust_id = n.cust_id and p._source_file = n._source_file
                  and p._source_row = n._source_row)
             and not exists (select 1 from quarantine.customer_rejects r
                  where r.cust_id = n.cust_id and r._source_file = n._source_file
                  and r._source_row = n._source_row)"""
    ).fetchone() == (0,)


@pytest.mark.slow
def test_a_landed_contradiction_keeps_the_build_green_and_shows_in_the_summary(
    built,
) -> None:
    """Issue 16: `country=Norway` landed for an Indian customer is quarantined at mastering;
    the customer keeps its good row, the regional checks pass, and the summary counts it."""
    from io import StringIO

    from fs_assets.app.build import build, print_summary

    ent = ENTITIES["customer"]
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        cur = conn.execute(
            "select * from raw.customer where country = 'India' order by cust_id limit 1"
        )
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone(), strict=True))
    norway = {c: row[c] for c in ent.column_names} | {
        "country": "Norway",
        "modified_at": "2023-11-29 23:00:00",
    }
    _write(built.landing / "customer" / "customer_norway.csv", ent, [norway])
    select = "key:raw/customer or key:mastered/customer or key:mastered/customer_by_region"
    report = build(built, select=select, out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)
    assert report.checks_failed == [("mastered.customer:pending_corrections", "WARN")]
    assert any(c.startswith("mastered.customer_by_region:") for c in report.checks_passed)
    assert report.quarantine["mastered.customer"] == {
        "rejected_rows": 0,
        "pending_corrections": 1,
        "keys_with_pending_correction": 1,
    }
    out = StringIO()
    print_summary(report, built, out=out)
    text = out.getvalue()
    assert "mastered.customer:pending_corrections: 1 pending corrections of 1 customer" in text
    assert "  mastered.customer: 0 rejected, 1 pending corrections of 1 keys" in text
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        country, rules = conn.execute(
            "select m.country, p._failed_rules from mastered.customer m "
            "join quarantine.customer_pending_corrections p using (cust_id) where cust_id = ?",
            [row["cust_id"]],
        ).fetchone()
    assert country == "India" and "state__in_country" in rules


def test_ranked_from_the_kept_multi_version_keys_equals_the_inline_grouping(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """The full build keeps the multi-version keys once (`_multi`); `_ranked` read through
    that table is row for row the inline grouping (the Spark engine's), on keys with one
    version, several valid ones, an invalid newer one and an invalid late one."""
    ent = ENTITIES["customer"]
    rows = first_rows(small_landing, ent)
    changed = [
        dict(
            rows[0],
            city="Chennai",
            state="Tamil Nadu",
            pin="600001",
            country="India",
            country_code="+91",
            customer_category="Resident Indian",
            modified_at="2030-02-01 09:30:00",
        ),
        dict(rows[1], pin="2260011", modified_at="2030-03-01 00:00:00"),
        dict(rows[2], pin="2260011", modified_at="2019-06-01 00:00:00"),
    ]
    ingest_file(mastered_refs, ent, _write(tmp_path / "versions.csv", ent, changed))
    sql, params = evaluated_sql(ent, versions_sql(ent))
    mastered_refs.execute(f"create temp table _evaluated as {sql}", params)
    mastered_refs.execute(f"create temp table {MULTI} as {multi_sql(ent)}")
    assert mastered_refs.execute(f"select count(*) from {MULTI}").fetchone()[0] == 3
    order = f"order by {q(ent.key)}, _modified_ts, _source_row"
    inline = mastered_refs.execute(f"select * from ({ranked_sql(ent)}) {order}").fetchall()
    kept = mastered_refs.execute(f"select * from ({ranked_sql(ent, MULTI)}) {order}").fetchall()
    assert kept == inline
    older = mastered_refs.execute(
        f"select count(*) from ({ranked_sql(ent, MULTI)}) where _nth > 1"
    ).fetchone()[0]
    assert older == 3  # one older version of each of the three keys: the window ran


def test_ranked_without_multi_version_keys_is_the_single_version_select(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    """The Spark build's shortcut: the multi-version keys read from the raw versions are
    those of `_evaluated`, and when there are none `single_ranked_sql` is `_ranked` row for
    row (first build); with some it is not (so the shortcut must not be taken then)."""
    ent = ENTITIES["customer"]
    order = f"order by {q(ent.key)}, _modified_ts, _source_row"

    def evaluate() -> tuple[list[tuple], list[tuple], list[tuple]]:
        sql, params = evaluated_sql(ent, versions_sql(ent))
        mastered_refs.execute(f"create or replace temp table _evaluated as {sql}", params)
        mastered_refs.execute(f"create or replace temp table {MULTI} as {multi_sql(ent)}")
        from_versions = mastered_refs.execute(
            f"{multi_sql(ent, versions_sql(ent))} order by all"
        ).fetchall()
        assert from_versions == mastered_refs.execute(f"from {MULTI} order by all").fetchall()
        ranked = f"select * from ({ranked_sql(ent, MULTI)}) {order}"
        single = f"select * from ({single_ranked_sql()}) {order}"
        return from_versions, *(mastered_refs.execute(s).fetchall() for s in (ranked, single))

    multi, ranked, single = evaluate()
    assert multi == [] and len(ranked) > 0 and single == ranked
    rows = first_rows(small_landing, ent)
    ingest_file(
        mastered_refs,
        ent,
        _write(tmp_path / "newer.csv", ent, [dict(rows[0], modified_at="2030-02-01 09:30:00")]),
    )
    multi, ranked, single = evaluate()
    assert len(multi) == 1 and single != ranked


def building_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        name
        for (name,) in conn.execute(
            "select table_name from duckdb_tables() where starts_with(table_name, ?)",
            [BUILDING_PREFIX],
        ).fetchall()
    ]


def test_key_ranges_put_every_version_in_one_pass_and_keep_a_keys_versions_together() -> None:
    """The passes' key ranges cover every raw version exactly once, NULL keys included; a
    key's versions all fall in one range (so they are ranked together); and the ranges
    hold about as many versions each."""
    conn = duckdb.connect()
    conn.execute(
        "create schema raw; create table raw.customer as "
        "select (1000000000 + i // 3)::varchar as cust_id from range(30000) r(i) "
        "union all select null from range(5) union all select 'Zoë''s [1]*' from range(4)"
    )
    ent = ENTITIES["customer"]
    ranges = key_ranges(conn, ent, "raw.customer", 4)
    assert len(ranges) == 4 and [r.nulls for r in ranges] == [True, False, False, False]
    sizes, seen = [], set()
    for keys in ranges:
        got = conn.execute(
            f"select cust_id, count(*) from raw.customer where {keys.predicate('cust_id')} "
            "group by cust_id",
            keys.params,
        ).fetchall()
        sizes.append(sum(n for _, n in got))
        assert not seen & {k for k, _ in got}, "a key's versions in two passes"
        seen |= {k for k, _ in got}
    assert sum(sizes) == 30009 and min(sizes) > 30009 / 4 * 0.8, sizes
    assert key_ranges(conn, ent, "raw.customer", 1) == [KeyRange(None, None, nulls=True)]


def test_a_build_cut_into_key_passes_writes_what_one_pass_writes(
    mastered_refs, small_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above PASS_VERSIONS raw versions a build evaluates the keys in ranges, one after
    the other (a full build commits each into building tables, then swaps them in). Every
    table, and every count the build reports, equal a one-pass build's, full and
    incremental, with pending corrections and late versions."""
    import random

    from fs_assets.transforms import mastering

    rng = random.Random(5)
    ent = ENTITIES["customer"]
    rows = first_rows(small_landing, ent, 30)
    for batch in range(3):
        changes = [
            dict(
                row,
                cibil_score=rng.choice(["720", "801", "12"]),
                modified_at=f"20{rng.choice([19, 25])}-0{rng.randint(1, 9)}-1{batch} 00:00:00",
            )
            for row in rng.sample(rows, 12)
        ]
        ingest_file(mastered_refs, ent, _write(tmp_path / f"p{batch}.csv", ent, changes))
    one_pass = build_mastered(mastered_refs, ent, full_refresh=True)
    expected = _snapshot(mastered_refs)
    assert expected["quarantine.customer_pending_corrections"]
    monkeypatch.setattr(mastering, "PASS_VERSIONS", 7)
    passes = mastering.key_passes(
        mastered_refs.execute("select count(*) from raw.customer").fetchone()[0]
    )
    assert passes > 3
    split = build_mastered(mastered_refs, ent, full_refresh=True)
    assert _snapshot(mastered_refs) == expected
    assert split == one_pass
    assert not building_tables(mastered_refs)
    # A build in passes that dies after some passes committed: readers keep the previous
    # tables, the catalog does not list the leftovers, and the next build succeeds.
    real_pass, calls = mastering._master_pass, []

    def dies_in_the_third_pass(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real_pass(*args, **kwargs)

    monkeypatch.setattr(mastering, "_master_pass", dies_in_the_third_pass)
    with pytest.raises(RuntimeError, match="killed"):
        build_mastered(mastered_refs, ent, full_refresh=True)
    assert _snapshot(mastered_refs) == expected
    assert building_tables(mastered_refs)
    listed = {f"{s}.{t}" for s, t, _ in list_tables(mastered_refs)}
    assert "mastered.customer" in listed and not any(BUILDING_PREFIX in n for n in listed)
    monkeypatch.setattr(mastering, "_master_pass", real_pass)
    assert build_mastered(mastered_refs, ent, full_refresh=True) == one_pass
    assert _snapshot(mastered_refs) == expected and not building_tables(mastered_refs)
    # an incremental build over more keys than one pass holds
    later = [dict(r, cibil_score="12", modified_at="2026-01-01 00:00:00") for r in rows[:20]]
    ingest_file(mastered_refs, ent, _write(tmp_path / "later.csv", ent, later))
    incremental = build_mastered(mastered_refs, ent)
    assert (incremental.mode, incremental.keys_evaluated, incremental.pending_rows) == (
        "incremental",
        20,
        20,
    )
    after = _snapshot(mastered_refs)
    monkeypatch.setattr(mastering, "PASS_VERSIONS", 10**9)
    assert build_mastered(mastered_refs, ent, full_refresh=True).mode == "full"
    assert _snapshot(mastered_refs) == after


def test_a_build_in_passes_reads_each_foreign_keys_references_once_and_fails_the_same(
    mastered_refs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full build in passes keeps each referenced table's distinct keys in a temporary
    table for all its passes (not grouped again per pass); orphaned references fail the
    foreign-key rules exactly as in one pass, and no kept table outlives the build."""
    from fs_assets.transforms import mastering

    ent = ENTITIES["transaction"]
    assert len(ent.foreign_keys) == 2  # account and customer
    mastered_refs.execute(
        "delete from mastered.account where account_id in "
        "(select account_id from mastered.transaction order by transaction_id limit 3)"
    )
    mastered_refs.execute(
        "delete from mastered.customer where cust_id in (select cust_id from "
        "mastered.transaction order by transaction_id desc limit 2)"
    )
    one_pass = build_mastered(mastered_refs, ent, full_refresh=True)
    tables = tuple(t.replace("customer", "transaction") for t in TABLES)
    expected = _snapshot(mastered_refs, tables)
    assert sum(map(len, expected.values())) > 1000
    failures = one_pass.rule_failures
    assert failures.get("account_id__foreign_key", 0) >= 3
    assert failures.get("cust_id__foreign_key", 0) >= 2
    kept_in_passes: list[list[str]] = []
    real_pass = mastering._master_pass

    def records_kept(*args: object, **kwargs: object) -> int:
        kept_in_passes.append(list(args[8]))  # kept_refs
        return real_pass(*args, **kwargs)

    monkeypatch.setattr(mastering, "PASS_VERSIONS", 200)
    monkeypatch.setattr(mastering, "_master_pass", records_kept)
    split = build_mastered(mastered_refs, ent, full_refresh=True)
    assert len(kept_in_passes) > 3
    # The account key is the account lookup's (served_foreign_keys): only customers kept.
    assert all(kept == [None, "_fk1_refs"] for kept in kept_in_passes)
    assert split == one_pass
    assert _snapshot(mastered_refs, tables) == expected
    left = mastered_refs.execute(
        "select count(*) from duckdb_tables() where table_name like '\\_fk%\\_refs' escape '\\'"
    ).fetchone()[0]
    assert left == 0


def test_a_foreign_key_the_account_lookup_answers_reads_it_instead_of_a_join() -> None:
    """The transaction's account key is looked up by the account lookup (one row or none
    per account id): mastering and the rule checks read that lookup's key column, with no
    join of their own; the customer key keeps its join; the rules as written (and so
    their fingerprint) keep both. Caught faults: test_a_build_in_passes_... (orphaned
    accounts) and test_checks' references_account."""
    ent = ENTITIES["transaction"]
    assert served_foreign_keys(ent) == {0: "_acct.acct_account_id"}
    assert all(not served_foreign_keys(e) for n, e in ENTITIES.items() if n != "transaction")
    as_written = {r.name: r.fail_sql for r in RULES["transaction"]}
    read = {r.name: r.fail_sql for r in reading_served_keys(ent, RULES["transaction"])}
    assert as_written["account_id__foreign_key"].endswith("_fk0.ref is null")
    assert read["account_id__foreign_key"] == (
        '"account_id" is not null and _acct.acct_account_id is null'
    )
    assert {n: f for n, f in read.items() if n != "account_id__foreign_key"} == {
        n: f for n, f in as_written.items() if n != "account_id__foreign_key"
    }
    joins, _ = reference_joins_sql(ent, "l", served=True)
    assert " _fk0 " not in joins and " _fk1 " in joins and " _acct " in joins
    assert " _fk0 " in reference_joins_sql(ent, "l")[0]
    evaluated, _ = evaluated_sql(ent, "raw.transaction")
    assert "_fk0" not in evaluated and "_acct.acct_account_id is null" in evaluated


def test_a_row_breaking_several_rules_names_each_once_in_the_rules_order() -> None:
    """Every broken rule, in the rules' order; none for a row that breaks nothing or whose
    predicates are NULL (not broken)."""
    base = RULES["customer"][0]

    def rule(name: str, fail_sql: str, *params: object) -> Rule:
        return replace(base, name=name, fail_sql=fail_sql, params=params)

    rules = [
        rule("x__low", "x < ?", 10),
        rule("y__blank", "y = ''"),
        rule("x__odd", "x % 2 = 1"),
    ]
    sql, params = failed_rules_sql(rules)
    query = f"select {sql} from (select ?::int as x, ?::varchar as y)"

    def broken(x: int | None, y: str | None) -> list[str]:
        with duckdb.connect() as conn:
            return conn.execute(query, [*params, x, y]).fetchone()[0]

    assert broken(3, "") == ["x__low", "y__blank", "x__odd"]
    assert broken(13, "") == ["y__blank", "x__odd"]
    assert broken(12, "a") == []
    assert broken(None, None) == []
