"""Mastering: every rule passes and fails, latest version wins, reconciliation, atomicity."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from fs_assets.entities import ENTITIES, Column, Entity
from fs_assets.mastering import build_mastered
from fs_assets.raw_history import ingest_file
from fs_assets.rules import RULES, Rule, failed_rules_sql, fk_joins_sql, q

ORDER = ("customer", "product", "account", "transaction")


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
    cols = ", ".join(q(c) for c in ent.column_names)
    values = ", ".join("?::varchar" for _ in ent.column_names)
    return conn.execute(
        f"select {failed_sql} from (select {values}) as l({cols}) {fk_joins_sql(ent, 'l')}",
        [*params, *(row[c] for c in ent.column_names)],
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
    raise AssertionError(rule.kind)


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
    if col.personal_only:
        rows = [r for r in rows if r["customer_type"] == "Personal"]
    row = rows[0]
    assert evaluate(shared_refs, ent, row) == []
    broken = dict(row, **{col.name: breaking_value(rule, col, row)})
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
        assert rejected == 0, name
        assert raw_keys == mastered + rejected > 0


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
    assert stats.latest_rows == stats.mastered_rows + stats.rejected_rows


def test_invalid_update_is_quarantined_with_its_rules(
    mastered_refs, small_landing: Path, tmp_path: Path
) -> None:
    ent = ENTITIES["customer"]
    row = first_rows(small_landing, ent)[1]
    bad = dict(row, cibil_score="1200", cust_segment="Downtown", modified_at="2024-03-01 00:00:00")
    ingest_file(mastered_refs, ent, _write(tmp_path / "bad.csv", ent, [bad]))
    stats = build_mastered(mastered_refs, ent)
    rules = mastered_refs.execute(
        "select _failed_rules from quarantine.customer_rejects where cust_id = ?", [row["cust_id"]]
    ).fetchone()[0]
    assert set(rules) == {
        "cibil_score__exact_length",
        "cibil_score__range",
        "cust_segment__accepted_values",
    }
    in_mastered = mastered_refs.execute(
        "select count(*) from mastered.customer where cust_id = ?", [row["cust_id"]]
    ).fetchone()[0]
    assert in_mastered == 0  # the latest version is invalid: the key is quarantined, not stale
    assert stats.rejected_rows == 1


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
    changes[0]["cibil_score"] = "99"  # one change breaks a rule: that key moves to quarantine
    ingest_file(mastered_refs, ent, _write(tmp_path / "inc.csv", ent, changes))
    stats = build_mastered(mastered_refs, ent)
    assert (stats.mode, stats.keys_evaluated, stats.rejected_rows) == ("incremental", 20, 1)
    snapshot = {
        t: sorted(
            mastered_refs.execute(f"select * exclude (_rejected_at) from {t}").fetchall()
            if "quarantine" in t
            else mastered_refs.execute(f"select * from {t}").fetchall()
        )
        for t in ("mastered.customer", "quarantine.customer_rejects")
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
