"""Source mapping files: the shipped ones load, a bad one fails naming what to fix, and a
landing file that lacks a mapped column fails naming the column and the mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from fs_assets.identity.attributes import ATTRIBUTES, SOURCES_DIR
from fs_assets.identity.canonical import SourceReadError, read_source
from fs_assets.identity.mapping import MappingError, load_mapping, load_mappings
from fs_assets.model.entities import CUSTOMER
from fs_assets.transforms.landing_files import cleanse_column_name

CRM = yaml.safe_load((SOURCES_DIR / "crm.yaml").read_text(encoding="utf-8"))


def _write(folder: Path, name: str, raw: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_shipped_mappings_load_core_first() -> None:
    mappings = load_mappings()
    assert [m.source for m in mappings] == ["core_banking", "card_platform", "crm"]
    core = mappings[0]
    assert core.landing_folder == CUSTOMER.name and core.trust_rank == 1
    # The core mapping names the feed's own columns, as delivered.
    assert {cleanse_column_name(c) for c in core.columns} <= set(CUSTOMER.column_names)
    assert set(core.attributes) <= set(ATTRIBUTES)
    assert "national_id" in mappings[1].attributes  # the card platform carries the PAN


def test_core_mapping_reads_the_customer_feed(small_landing: Path) -> None:
    core = load_mappings()[0]
    table = read_source(small_landing, core)
    assert table.num_rows == 1_500
    assert table.column("national_id").null_count == table.num_rows  # core has none
    assert table.column("first_name").null_count == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attributes": {**CRM["attributes"], "shoe_size": "shoe"}}, "unknown attribute"),
        ({"id_column": None}, "'id_column' must be a non-empty text"),
        ({"colour": "blue"}, "unknown key"),
        ({"trust_rank": 0}, "'trust_rank' must be a whole number"),
        ({"trust_rank": "2"}, "'trust_rank' must be a whole number"),
        ({"landing_folder": "../customer"}, "one folder name"),
        ({"source": "CRM two"}, "'source' must match"),
        ({"format": "xlsx"}, "'format' must be one of"),
        ({"attributes": {"email": "email_address"}}, "a person needs a name"),
        ({"attributes": {**CRM["attributes"], "email": "contact_id"}}, "mapped twice"),
    ],
)
def test_a_bad_mapping_names_what_to_fix(tmp_path: Path, change: dict, message: str) -> None:
    path = _write(tmp_path, "crm.yaml", {**CRM, **change})
    with pytest.raises(MappingError, match=message) as raised:
        load_mapping(path)
    assert str(path) in str(raised.value)


def test_a_missing_id_column_key_is_named(tmp_path: Path) -> None:
    raw = {k: v for k, v in CRM.items() if k != "id_column"}
    with pytest.raises(MappingError, match=r"missing key\(s\) \['id_column'\]"):
        load_mapping(_write(tmp_path, "crm.yaml", raw))


def test_two_mappings_cannot_share_a_folder_or_rank(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", CRM)
    _write(tmp_path, "b.yaml", {**CRM, "source": "crm_copy", "trust_rank": 9})
    with pytest.raises(MappingError, match=r"landing_folder .* more than one mapping"):
        load_mappings(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MappingError, match="no mapping files"):
        load_mappings(tmp_path / "empty")


def test_a_file_without_a_mapped_column_is_refused(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path / "sources", "crm.yaml", CRM))
    folder = tmp_path / "landing" / mapping.landing_folder
    folder.mkdir(parents=True)
    columns = [c for c in mapping.columns if c != "phone"]
    (folder / "crm 'one' [1].csv").write_text(",".join(columns) + "\n", encoding="utf-8")
    with pytest.raises(SourceReadError, match=r"\['phone'\].*crm.yaml"):
        read_source(tmp_path / "landing", mapping)


def test_the_mapping_folder_is_copied_whole(tmp_path: Path) -> None:
    shutil.copytree(SOURCES_DIR, tmp_path / "sources")
    assert [m.source for m in load_mappings(tmp_path / "sources")] == [
        m.source for m in load_mappings()
    ]


def test_a_file_in_another_encoding_is_named(tmp_path: Path) -> None:
    mapping = load_mapping(_write(tmp_path / "sources", "crm.yaml", CRM))
    folder = tmp_path / "landing" / mapping.landing_folder
    folder.mkdir(parents=True)
    row = ["C1", "2023-01-01 00:00:00", "Zoë", *[""] * (len(mapping.columns) - 3)]
    text = ",".join(mapping.columns) + "\n" + ",".join(row) + "\n"
    (folder / "latin.csv").write_bytes(text.encode("latin-1"))
    with pytest.raises(SourceReadError, match=r"latin.csv: cannot be read as csv .*UTF-8"):
        read_source(tmp_path / "landing", mapping)
