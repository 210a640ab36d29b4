"""The check families see what they should: each passes on clean data and fails on bad."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from asset_checks import pandera_checks
from asset_checks.freshness import evaluate_freshness_check
from asset_checks.integrity_checks import evaluate_integrity_checks
from asset_checks.pandera_checks import (
    _has_match,
    _sample_sql,
    evaluate_pandera_check,
    pandera_schema,
    validate_table,
)
from asset_checks.rule_checks import check_groups, evaluate_rule_checks, rule_check_specs
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, ENTITIES, TRANSACTION
from fs_assets.model.value_sets import CONTROL_CHARACTERS, FREE_TEXT_CONTROL_CHARACTERS
from fs_assets.transforms.mastering import build_mastered

ORDER = tuple(ENTITIES)  # dependency order: fx_rate and account before transaction


@pytest.fixture
def mastered(conn, small_landing: Path) -> duckdb.DuckDBPyConnection:
    for name in ORDER:
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    return conn


def results(conn, ent, evaluate, names=None) -> dict:
    if names is None:
        names = {s.name for s in rule_check_specs(ent)} | {
            "reconciles_with_raw",
            "quarantine_rate",
            "pandera_schema",
            "data_freshness",
        }
    return {r.check_name: r for r in evaluate(conn, ent, names)}


def test_all_families_pass_on_generated_data(mastered) -> None:
    for name in ORDER:
        ent = ENTITIES[name]
        for evaluate in (
            evaluate_rule_checks,
            evaluate_integrity_checks,
            evaluate_pandera_check,
            evaluate_freshness_check,
        ):
            for check, result in results(mastered, ent, evaluate).items():
                assert result.passed, (name, check, result.metadata)


def test_rule_checks_report_counts_and_sample(mastered) -> None:
    mastered.execute(
        "update mastered.customer set cust_segment = 'Downtown' "
        "where cust_id in (select cust_id from mastered.customer order by cust_id limit 3)"
    )
    mastered.execute(
        "insert into mastered.customer "
        "select * from mastered.customer order by cust_id desc limit 2"
    )
    out = results(mastered, CUSTOMER, evaluate_rule_checks)
    assert not out["valid_cust_segment"].passed
    assert out["valid_cust_segment"].metadata["failed_rows"].value == 3
    sample = out["valid_cust_segment"].metadata["sample"].value
    assert len(sample["cust_segment__accepted_values"]) == 3
    assert not out["key_unique"].passed
    assert out["key_unique"].metadata["duplicate_rows"].value == 2
    assert out["valid_city"].passed


def test_key_unique_counts_keys_exactly_when_their_hashes_collide(
    mastered, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fewer distinct hashes than keys is a duplicate or a collision: the keys themselves
    decide. A hash that collides for every key of one length still finds no duplicate,
    then exactly the two planted."""
    from asset_checks import rule_checks

    monkeypatch.setattr(rule_checks, "key_hash_sql", lambda key: f"length({key})")
    assert results(mastered, CUSTOMER, evaluate_rule_checks)["key_unique"].passed
    mastered.execute(
        "insert into mastered.customer "
        "select * from mastered.customer order by cust_id desc limit 2"
    )
    out = results(mastered, CUSTOMER, evaluate_rule_checks)["key_unique"]
    assert not out.passed and out.metadata["duplicate_rows"].value == 2


def test_type_rules_proven_by_the_stored_type_and_read_as_text_otherwise(mastered) -> None:
    """A typed column stored in its model type proves its type rule (reported, not
    evaluated) and its required rule is the null test; stored as text (a table altered
    by hand, a planted fault), its values are parsed again like any delivered text."""
    out = results(mastered, TRANSACTION, evaluate_rule_checks)
    assert out["valid_amount"].metadata["proven_by_column_type"].value == ["amount__type"]
    assert out["valid_currency"].metadata["proven_by_column_type"].value == []
    mastered.execute(
        "update mastered.transaction set amount = null "
        "where transaction_id = (select min(transaction_id) from mastered.transaction)"
    )
    out = results(mastered, TRANSACTION, evaluate_rule_checks)
    assert out["valid_amount"].metadata["failed_by_rule"].value["amount__required"] == 1
    mastered.execute("alter table mastered.customer alter cibil_score type varchar")
    mastered.execute(
        "update mastered.customer set cibil_score = 'seven hundred' "
        "where cust_id = (select min(cust_id) from mastered.customer)"
    )
    out = results(mastered, CUSTOMER, evaluate_rule_checks)
    assert out["valid_cibil_score"].metadata["proven_by_column_type"].value == []
    assert not out["valid_cibil_score"].passed
    assert out["valid_cibil_score"].metadata["failed_by_rule"].value["cibil_score__type"] == 1
    assert out["valid_cust_dob"].metadata["proven_by_column_type"].value == ["cust_dob__type"]


def test_referential_integrity_check_fails_on_orphans(mastered) -> None:
    mastered.execute(
        "delete from mastered.account where account_id in "
        "(select account_id from mastered.transaction limit 1)"
    )
    out = results(mastered, TRANSACTION, evaluate_rule_checks)
    assert not out["references_account"].passed
    assert out["references_customer"].passed


def test_reconciliation_fails_when_a_key_is_lost(mastered) -> None:
    mastered.execute(
        "delete from mastered.customer where cust_id = (select min(cust_id) from mastered.customer)"
    )
    out = results(mastered, CUSTOMER, evaluate_integrity_checks)
    assert not out["reconciles_with_raw"].passed
    assert out["reconciles_with_raw"].metadata["unaccounted_keys"].value == 1


def _newest_by_window(conn, key: str = "cust_id") -> set[tuple]:
    """Each key's newest raw customer version by a window over all of raw (the NULL keys
    one partition): what `reconciliation` finds with a window over several-version keys."""
    return set(
        conn.execute(
            f"""select {key}, _source_file, _source_row from (
              select *, row_number() over (partition by {key}
                order by _modified_ts desc, _batch_id desc, _source_row desc) as _nth
              from raw.customer) where _nth = 1"""
        ).fetchall()
    )


@pytest.mark.parametrize("keyless", [1, 2])
def test_reconciliation_finds_each_newest_version_as_a_window_over_all_raw(
    mastered, keyless: int
) -> None:
    """Planted: a newer version of a one-version key that mastering never saw, versions
    without a key (one, or two: a NULL partition of several), a one-version key's mastered
    row deleted. Each is unexplained exactly as a window over every raw version says (one
    per key, one for the NULL partition)."""
    single = [
        r[0]
        for r in mastered.execute(
            "select cust_id from raw.customer group by cust_id having count(*) = 1 "
            "order by cust_id limit 2"
        ).fetchall()
    ]
    newer, lost = single
    mastered.execute(
        "insert into raw.customer select * replace (_modified_ts + interval 1 day as "
        "_modified_ts, _source_row + 100000 as _source_row) from raw.customer where cust_id = ?",
        [newer],
    )
    for row in range(200000, 200000 + keyless):
        mastered.execute(
            "insert into raw.customer select * replace (null as cust_id, ? as _source_row) "
            "from raw.customer where cust_id = ?",
            [row, lost],
        )
    mastered.execute("delete from mastered.customer where cust_id = ?", [lost])
    recon = results(mastered, CUSTOMER, evaluate_integrity_checks)["reconciles_with_raw"]
    counts = {k: v.value for k, v in recon.metadata.items()}
    explained = set(
        mastered.execute(
            "select cust_id, _source_file, _source_row from mastered.customer union all "
            "select cust_id, _source_file, _source_row from quarantine.customer_rejects "
            "union all select cust_id, _source_file, _source_row "
            "from quarantine.customer_pending_corrections"
        ).fetchall()
    )
    by_window = {v for v in _newest_by_window(mastered) if v not in explained or v[0] is None}
    assert not recon.passed
    assert counts["newest_versions_unexplained"] == len(by_window) == 3
    assert {v[0] for v in by_window} == {newer, lost, None}
    # The new version and the keyless ones are recorded nowhere, nor is the deleted row.
    assert counts["versions_unrecorded"] == 2 + keyless and counts["unaccounted_keys"] == 1


@pytest.mark.parametrize(
    "planted",
    [
        "cust_id = cust_id || 'x'",  # another key in the version's file and row
        "_source_file = _source_file || 'x'",  # a file raw does not hold
        "_source_row = _source_row + 1",  # another row of the version's file
    ],
)
def test_reconciliation_tells_a_version_by_key_file_and_row(mastered, planted: str) -> None:
    """A version is compared by its key's hash, its file's number and its row; a mastered
    row that differs from its raw version in any one of them explains and records nothing."""
    mastered.execute(
        f"update mastered.customer set {planted} "
        "where cust_id = (select min(cust_id) from mastered.customer)"
    )
    recon = results(mastered, CUSTOMER, evaluate_integrity_checks)["reconciles_with_raw"]
    counts = {k: v.value for k, v in recon.metadata.items()}
    assert not recon.passed
    assert counts["newest_versions_unexplained"] == 1
    assert counts["versions_unrecorded"] == 1


def test_quarantine_rate_warns_above_threshold(mastered) -> None:
    mastered.execute(
        "delete from mastered.customer where cust_id in "
        "(select cust_id from mastered.customer order by cust_id limit 100)"
    )
    mastered.execute(
        "insert into quarantine.customer_rejects (cust_id, _failed_rules) "
        "select '10000000' || lpad(i::varchar, 2, '0'), ['cibil_score__range'] "
        "from range(100) t(i)"
    )
    out = results(mastered, CUSTOMER, evaluate_integrity_checks)
    rate = out["quarantine_rate"]
    assert not rate.passed and rate.severity.value == "WARN"
    assert rate.metadata["failed_by_rule"].value == {"cibil_score__range": 100}


def test_pandera_schema_is_an_independent_implementation(mastered) -> None:
    schema = pandera_schema(CUSTOMER)
    assert set(schema.columns) == set(CUSTOMER.column_names)
    mastered.execute(
        "update mastered.customer set email_addr = 'Not An Email', cibil_score = 42 "
        "where cust_id = (select min(cust_id) from mastered.customer)"
    )
    out = results(mastered, CUSTOMER, evaluate_pandera_check)["pandera_schema"]
    assert not out.passed
    failures = out.metadata["failures_by_check"].value
    assert any(k.startswith("email_addr") for k in failures)
    assert any(k.startswith("cibil_score") for k in failures)


def test_pandera_samples_large_tables_and_says_so(mastered) -> None:
    total, validated, counts, _ = validate_table(mastered, TRANSACTION, max_rows=1000)
    assert total > 1000 and validated == 1000 and not counts


def test_every_rule_belongs_to_exactly_one_check() -> None:
    for ent in ENTITIES.values():
        grouped = [r.name for rules in check_groups(ent).values() for r in rules]
        assert len(grouped) == len(set(grouped))


# One planted violation per cross-field rule, each on its own customer (an update of the
# mastered row by SQL, as if mastering had let it through): (rule, SET clause, which rows).
PLANTED = [
    ("state__in_country", "state = 'Oslo'", "country = 'India'"),
    ("city__in_state", "city = 'Oslo'", "country = 'India'"),
    ("pin__country_format", "pin = '2260011'", "country = 'India'"),
    ("mobile_number1__country_format", "mobile_number1 = '12345'", "true"),
    ("country_code__matches_country", "country_code = '+47'", "country = 'India'"),
    (
        "minor_flag__matches_dob",
        "minor_flag = case minor_flag when 'Yes' then 'No' else 'Yes' end",
        "customer_type = 'Personal'",
    ),
    (
        "senior_citizen_flag__matches_dob",
        "senior_citizen_flag = case senior_citizen_flag when 'Yes' then 'No' else 'Yes' end",
        "customer_type = 'Personal'",
    ),
    ("cust_dob__not_future", "cust_dob = date '2999-01-01'", "cust_dob is not null"),
    (
        "cust_title__matches_gender",
        "gender = 'Non Binary'",
        "customer_type = 'Personal' and cust_title = 'Mr'",
    ),
    ("gender__personal_only", "gender = 'Male'", "customer_type <> 'Personal'"),
    ("city__control_characters", "city = 'Pu' || chr(11) || 'ne'", "true"),
    ("customer_addressline2__control_characters", "customer_addressline2 = 'a' || chr(0)", "true"),
    # Columns whose regular expression runs only past their value set or printable pattern.
    ("gender__control_characters", "gender = 'Fe' || chr(1) || 'male'", "gender is not null"),
    ("cust_first_name__control_characters", "cust_first_name = 'An' || chr(27) || 'na'", "true"),
]


def test_each_cross_field_rule_check_fails_on_a_planted_row(mastered) -> None:
    """Every new rule is in a check, and that check (and pandera) fails on a planted row."""
    rows_left = [r[0] for r in mastered.execute("select cust_id from mastered.customer").fetchall()]
    planted: dict[str, str] = {}
    for rule, change, where in PLANTED:
        cust_id = mastered.execute(
            f"select min(cust_id) from mastered.customer where {where} "
            "and not list_contains(?, cust_id)",
            [list(planted.values())],
        ).fetchone()[0]
        assert cust_id in rows_left, rule
        mastered.execute(f"update mastered.customer set {change} where cust_id = ?", [cust_id])
        planted[rule] = cust_id
    out = results(mastered, CUSTOMER, evaluate_rule_checks)
    groups = check_groups(CUSTOMER)
    for rule, cust_id in planted.items():
        check = next(name for name, rules in groups.items() if rule in {r.name for r in rules})
        result = out[check]
        assert not result.passed, rule
        assert cust_id in result.metadata["sample"].value[rule], rule
    pandera = results(mastered, CUSTOMER, evaluate_pandera_check)["pandera_schema"]
    assert not pandera.passed
    failed = " ".join(pandera.metadata["failures_by_check"].value)
    for rule in planted:
        assert rule in failed, rule


def test_frame_wide_checks_pass_all_null_rows_and_count_non_null_cells(mastered) -> None:
    """The frame-wide pandera checks handle nulls once (`_frame_check`) and report as
    pandera's own `ignore_na` does: a row with every value null passes them (only the
    column checks see it), and a breaking row is a case per non-null cell."""
    cust_id = mastered.execute(
        "select min(cust_id) from mastered.customer "
        "where customer_type = 'Personal' and cust_title = 'Mr' and cust_middle_name is null"
    ).fetchone()[0]
    mastered.execute(
        "update mastered.customer set gender = 'Non Binary' where cust_id = ?", [cust_id]
    )
    mastered.execute("insert into mastered.customer by name select null as cust_id")
    _, _, counts, _ = validate_table(mastered, CUSTOMER)
    filled = [
        c
        for c in CUSTOMER.column_names
        if mastered.execute(
            f'select "{c}" is not null from mastered.customer where cust_id = ?', [cust_id]
        ).fetchone()[0]
    ]
    broken = {k: n for k, n in counts.items() if k.endswith(": cust_title__matches_gender")}
    assert broken == {f"{c}: cust_title__matches_gender": 1 for c in filled}
    assert "cust_middle_name" not in filled and len(filled) < len(CUSTOMER.column_names)
    # The all-null row: no frame-wide check names it; the key's own checks do.
    frame_wide = {c.name for c in pandera_schema(CUSTOMER).checks}
    assert not any(k.split(": ")[1] in frame_wide for k in counts if k not in broken)
    assert any(k.startswith("cust_id: ") for k in counts)


def test_pandera_sample_is_drawn_by_row_id_reproducibly_and_across_the_table(mastered) -> None:
    """The sample of a large table is a seeded reservoir of row ids: the same rows each
    time, from all over the table (not its first rows), and a fault in every row shows in
    every sampled row."""
    table = "mastered.transaction"
    sql = _sample_sql("transaction_id", table, 1000)
    first = sorted(r[0] for r in mastered.execute(sql).fetchall())
    assert len(first) == len(set(first)) == 1000
    assert first == sorted(r[0] for r in mastered.execute(sql).fetchall())
    ordered = [r[0] for r in mastered.execute(f"select transaction_id from {table}").fetchall()]
    positions = sorted(ordered.index(k) for k in first)
    assert positions[-1] >= 1000 and positions != list(range(1000))
    mastered.execute(f"update {table} set transaction_mode = 'Carrier Pigeon'")
    total, validated, counts, _ = validate_table(mastered, TRANSACTION, max_rows=1000)
    assert total > 1000 and validated == 1000
    assert sum(n for k, n in counts.items() if k.startswith("transaction_mode: ")) == 1000


@pytest.mark.parametrize("pattern", [CONTROL_CHARACTERS, FREE_TEXT_CONTROL_CHARACTERS])
def test_pandera_control_character_search_matches_python_re(pattern: str) -> None:
    """The pyarrow (RE2) search pandera's control-character checks use finds exactly what
    Python's re finds: C0 and C1 characters, DEL, tab/LF/CR only where not free text, not
    a no-break space or other letters; null is no match."""
    values = [
        *(f"a{chr(c)}b" for c in [*range(0x00, 0x21), *range(0x7E, 0xA2)]),
        "plain",
        "é ü ß 漢字",
        "",
        None,
    ]
    found = _has_match(pd.Series(values, dtype=object), pattern).tolist()
    expected = [v is not None and re.search(pattern, v) is not None for v in values]
    assert found == expected and sum(expected) > 30


def test_arrow_backed_text_validates_as_python_strings_did(mastered, monkeypatch) -> None:
    """pandera reads text as Arrow-backed strings (PANDAS_DTYPES): on rows with nulls and
    blanks where the frame-wide checks compare values, and with broken values, it counts
    the same failures per column and check as with Python strings (`str`)."""
    sql = "select cust_id from mastered.customer order by cust_id limit 6"
    ids = [r[0] for r in mastered.execute(sql).fetchall()]
    planted = (
        # Frame-wide checks compare customer_type to 'Personal': unknown, they do not apply.
        "customer_type = null, minor_flag = case minor_flag when 'Yes' then 'No' else 'Yes' end",
        "country = null, state = null",
        "minor_flag = null, senior_citizen_flag = 'Maybe'",
        "gender = null, cust_title = '  '",
        "email_addr = 'Not An Email', customer_type = 'Corporate', occupation = ' '",
        "pin = null, mobile_number1 = '12'",
    )
    for cust_id, change in zip(ids, planted, strict=True):
        mastered.execute(f"update mastered.customer set {change} where cust_id = ?", [cust_id])
    mastered.execute("insert into mastered.customer by name select null as cust_id")
    _, rows, arrow_counts, _ = validate_table(mastered, CUSTOMER)
    monkeypatch.setitem(pandera_checks.PANDAS_DTYPES, "VARCHAR", str)
    _, same_rows, python_counts, _ = validate_table(mastered, CUSTOMER)
    assert rows == same_rows and arrow_counts == python_counts
    assert len(arrow_counts) > 6
