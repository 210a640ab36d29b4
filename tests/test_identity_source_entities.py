"""Every source system through raw and mastered, so linkage reads clean, typed records.

The canonical records loaded from the mastered tables equal those read from the landing
files on clean generated data; a source row its rules quarantine is not linked; the rule
checks pass on the mastered source tables and catch a row that breaks a rule; and a
fourth source, added by a mapping file and its landing files only (a folder named with
spaces, quotes, unicode and glob characters), goes through the Dagster raw and mastered
assets into the canonical records. Real DuckDB files, a real Dagster instance.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sources_support import sources_landing

from asset_checks.mastered_checks import SOURCE_CHECKS
from asset_checks.rule_checks import rule_failures
from fs_assets.defs.sources import SOURCE_ENTITIES, build_source_assets
from fs_assets.engines.duckdb_engine import ingest_files
from fs_assets.identity.attributes import SOURCES_DIR, mapping_files
from fs_assets.identity.canonical import SCHEMA, load_mastered_records, load_records
from fs_assets.identity.mapping import MappingError, load_mappings
from fs_assets.identity.source_entity import load_source_entities, source_entity
from fs_assets.lineage.landing import LandingRead, file_columns, landing_entity
from fs_assets.model.columns import PII_DOB, PII_MASK, Entity
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.landing_files import list_landing
from fs_assets.transforms.mastering import build_mastered
from resources import LandingZoneResource, default_resources
from sensors.landing_sensor import evaluate_landing

CUSTOMERS = 250
FOLDER = "Loan bøok 'A' [1] *"  # spaces, a quote, unicode and glob characters


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Core customers and the generated CRM and card-platform files."""
    return sources_landing(tmp_path_factory.mktemp("source_entities") / "landing", CUSTOMERS, 5)


def _master(con: duckdb.DuckDBPyConnection, landing: Path, entities: list[Entity]) -> None:
    for ent in entities:
        outcomes = ingest_files(con, ent, list_landing(landing / ent.folder).files, "test")
        assert all(o.status == "ingested" for o in outcomes), outcomes
        build_mastered(con, ent)


@pytest.fixture
def warehouse(tmp_path: Path, landing: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for schema in LAYER_SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    _master(con, landing, [CUSTOMER, *SOURCE_ENTITIES])
    yield con
    con.close()


def _records(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(f"select * from {SCHEMA}.records order by unique_id").fetchall()


def test_mastered_records_equal_the_landing_records_on_clean_data(
    warehouse: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    mappings = load_mappings()
    counts = load_mastered_records(warehouse, mappings)
    from_mastered = _records(warehouse)
    assert counts == load_records(warehouse, landing, mappings)
    assert set(counts) == {"core_banking", "crm", "card_platform"} and min(counts.values()) > 50
    assert from_mastered == _records(warehouse)
    # The card platform's day-first dates and times were parsed by its mapping's formats.
    dob, updated = warehouse.execute(
        "select date_of_birth, modified_at from mastered.src_card_platform "
        "where date_of_birth is not null limit 1"
    ).fetchone()
    assert dob.year > 1900 and updated.year >= 2021


def test_rule_checks_pass_on_mastered_sources_and_catch_a_broken_row(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    for ent in SOURCE_ENTITIES:
        assert rule_failures(warehouse, ent) == {}, ent.name
    crm = next(e for e in SOURCE_ENTITIES if e.name == "src_crm")
    warehouse.execute(
        "update mastered.src_crm set date_of_birth = current_date + 400, email = 'no shape' "
        "where source_id = (select min(source_id) from mastered.src_crm)"
    )
    failures = rule_failures(warehouse, crm)
    assert set(failures) == {"date_of_birth__not_future", "email__pattern"}, failures


def _append_csv(folder: Path, name: str, header: list[str], rows: list[list[str]]) -> Path:
    path = folder / name
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_a_quarantined_source_row_is_not_linked(
    warehouse: duckdb.DuckDBPyConnection, landing: Path, tmp_path: Path
) -> None:
    crm = next(m for m in load_mappings() if m.source == "crm")
    ent = source_entity(crm)
    first, second, third = warehouse.execute(
        "select source_id, first_name from mastered.src_crm order by source_id limit 3"
    ).fetchall()
    valid = {
        "first_name": "Asha", "last_name": "Rao", "date_of_birth": "1990-01-01",
        "email": "asha@example.in", "mobile": "+91 98765 43210", "pin": "560001",
    }  # fmt: skip

    def row(source_id: str, updated: str, **values: str) -> list[str]:
        merged = {**valid, **values}
        return [source_id, updated, *(merged.get(a, "x") for a in crm.attributes)]

    control = row(first[0], "2025-06-01 10:00:00", first_name="Ra\x07j")
    future = row("X2", "2024-01-01 10:00:00", date_of_birth="2999-01-01")
    shape = row("X3", "2024-01-01 10:00:00", email="not-an-email")
    pending = row(second[0], "2025-06-01 10:00:00", date_of_birth="31/12/1990")
    update = row(third[0], "2025-06-01 10:00:00", first_name="Zoya")
    header = crm.columns
    folder = tmp_path / "late"
    folder.mkdir()
    rows = [control, future, shape, pending, update]
    path = _append_csv(folder, "late.csv", header, rows)
    outcomes = ingest_files(warehouse, ent, [path], "late")
    assert outcomes[0].status == "ingested" and outcomes[0].rows_rejected == 1
    build_mastered(warehouse, ent)
    load_mastered_records(warehouse, load_mappings())
    linked = dict(
        warehouse.execute(
            f"select source_id, first_name from {SCHEMA}.records where source = 'crm'"
        ).fetchall()
    )
    assert linked[first[0]] == first[1]  # the control character did not replace the name
    assert linked[second[0]] == second[1]  # a pending correction keeps the last good row
    assert linked[third[0]] == "Zoya"  # a valid update is mastered, the old one is history
    assert "X2" not in linked and "X3" not in linked
    history = warehouse.execute(
        "select first_name, valid_to is null from mastered.src_crm_history "
        "where source_id = ? order by valid_from",
        [third[0]],
    ).fetchall()
    assert history == [(third[1], False), ("Zoya", True)]
    (broken,) = warehouse.execute(
        "select _failed_rules from quarantine.src_crm_pending_corrections where source_id = ?",
        [second[0]],
    ).fetchone()
    assert broken == ["date_of_birth__type"]
    reasons = dict(
        warehouse.execute(
            "select source_id, _failed_rules from quarantine.src_crm_rejects"
        ).fetchall()
    )
    assert reasons == {"X2": ["date_of_birth__not_future"], "X3": ["email__pattern"]}
    (reason,) = warehouse.execute(
        "select _reason from quarantine.src_crm_ingest_rejects where source_id = ?", [first[0]]
    ).fetchone()
    assert reason.startswith("control_character: first_name")


LOAN_MAPPING = f"""source: loan_book
description: Loan book borrowers
landing_folder: "{FOLDER}"
id_column: "Loan Ref 'no.'"
updated_at_column: Geändert am
date_format: "%Y/%m/%d"
timestamp_format: "%Y/%m/%d %H.%M"
trust_rank: 4
attributes:
  first_name: Vorname
  last_name: Nachname
  date_of_birth: Geburtstag
  email: E-Mail
"""


def test_a_fourth_source_needs_only_a_mapping_file_and_its_landing_files(
    home: DataPaths, tmp_path: Path
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    for path in mapping_files(SOURCES_DIR):
        shutil.copy(path, sources / path.name)
    (sources / "loan book.yaml").write_text(LOAN_MAPPING, encoding="utf-8")
    (ent,) = [e for e in load_source_entities(sources) if e.name == "src_loan_book"]
    assert ent.folder == FOLDER
    loan = LandingZoneResource(home=str(home.home)).entity_dir(FOLDER)
    header = ["Notes", "Loan Ref 'no.'", "Geändert am", "Vorname", "Nachname", "Geburtstag"]
    header.append("E-Mail")
    rows = [
        ["unmapped, not read", "L'1", "2024/02/03 09.15", "Zoë", "O'Brien", "1980/12/31", ""],
        ["", "L 2", "2024/02/03 09.15", "Ravi", "Iyer", "2999/01/01", "ravi@example.in"],
        ["", "L3", "2024/02/03 09.15", "Meera", "Das", "", "MEERA.DAS@Example.IN"],
    ]
    _append_csv(loan, "loans 2024.csv", header, rows)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        build_source_assets([ent]), instance=instance, resources=default_resources()
    )
    assert result.success
    con = duckdb.connect(str(home.warehouse))
    try:
        assert con.execute('select count(*) from raw."src_loan_book"').fetchone()[0] == 3
        raw_columns = con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'src_loan_book'"
        ).fetchall()
        assert ("Notes",) not in raw_columns and ("first_name",) in raw_columns
        assert con.execute(
            'select source_id, _failed_rules from quarantine."src_loan_book_rejects"'
        ).fetchall() == [("L 2", ["date_of_birth__not_future"])]
        history = con.execute('select count(*) from mastered."src_loan_book_history"')
        assert history.fetchone()[0] == 2
        mapping = next(m for m in load_mappings(sources) if m.source == "loan_book")
        assert load_mastered_records(con, [mapping]) == {"loan_book": 2}
        records = con.execute(
            f"select unique_id, trust_rank, first_name, last_name, date_of_birth, email "
            f"from {SCHEMA}.records order by unique_id"
        ).fetchall()
    finally:
        con.close()
    assert [r[:4] for r in records] == [
        ("loan_book:L'1", 4, "Zoë", "O'Brien"),
        ("loan_book:L3", 4, "Meera", "Das"),
    ]
    assert str(records[0][4]) == "1980-12-31" and records[1][5] == "MEERA.DAS@Example.IN"


@pytest.mark.parametrize(
    ("folder", "error"),
    [("account", "folder of the account entity"), ("_rejected", "keeps for itself")],
)
def test_a_source_cannot_take_a_folder_the_landing_zone_uses(
    tmp_path: Path, folder: str, error: str
) -> None:
    (path,) = [p for p in mapping_files(SOURCES_DIR) if p.stem == "crm"]
    text = path.read_text(encoding="utf-8").replace("crm_contact", folder)
    (tmp_path / "crm.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError, match=error):
        source_entity(load_mappings(tmp_path)[0])


def test_the_landing_sensor_watches_the_source_folders(tmp_path: Path) -> None:
    folder = tmp_path / "crm_contact"
    folder.mkdir()
    (folder / "a b.csv").write_text("contact_id\n", encoding="utf-8")
    (folder / "a b.csv.done").touch()
    ready, _, _ = evaluate_landing(tmp_path, {})
    assert list(ready) == ["src_crm"] and [Path(p).name for p in ready["src_crm"]] == ["a b.csv"]


def test_sources_without_files_build_empty_tables_and_pass_their_checks(
    home: DataPaths,
) -> None:
    """Only the core feed landed (the default sample): the source assets are empty, not
    failures, and their checks pass."""
    result = dg.materialize(
        [*build_source_assets(SOURCE_ENTITIES), *SOURCE_CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=default_resources(),
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) > 20 and all(c.passed for c in checks), [
        c.check_name for c in checks if not c.passed
    ]
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        for ent in SOURCE_ENTITIES:
            assert con.execute(f'select count(*) from mastered."{ent.name}"').fetchone() == (0,)
    finally:
        con.close()


def test_lineage_reads_a_sources_landing_columns_and_pii_from_its_mapping() -> None:
    """A source's landing file: each column by the header its mapping names, PII tagged."""
    read = LandingRead("src_crm", "/landing/crm_contact/a.csv", "ingested")
    columns = file_columns(read)
    assert columns["source_id"] == "contact_id" and columns["email"] == "email_address"
    pii = landing_entity("src_crm").pii_columns
    assert pii["email"] == PII_MASK and pii["date_of_birth"] == PII_DOB and "city" not in pii
