"""The other source systems' generator: the same seed gives the same bytes, the default
`generate` writes none of it, and the files hold the silo noise the linkage must see
through (checked against the truth file, which holds ids only)."""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from fs_assets.cli import main
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources, truth_path
from fs_assets.identity.canonical import read_source
from fs_assets.identity.mapping import load_mappings

CUSTOMERS = 400


@pytest.fixture(scope="module")
def core_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Core customers only (the sources generator reads nothing else)."""
    out = tmp_path_factory.mktemp("sources_core") / "landing"
    generate_landing(out, customers=CUSTOMERS, seed=11)
    for folder in out.iterdir():
        if folder.name != "customer":
            shutil.rmtree(folder)
    return out


@pytest.fixture(scope="module")
def sourced(core_landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sources_one") / "landing"
    shutil.copytree(core_landing, out)
    generate_sources(out, seed=11)
    return out


def _truth(landing: Path) -> list[dict[str, str]]:
    with truth_path(landing).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _files(landing: Path) -> dict[str, bytes]:
    paths = sorted(p for p in landing.rglob("*") if p.is_file())
    files = {str(p.relative_to(landing)): p.read_bytes() for p in paths}
    files["truth"] = truth_path(landing).read_bytes()
    return files


def test_same_seed_same_bytes(sourced: Path, core_landing: Path, tmp_path: Path) -> None:
    again = tmp_path / "landing"
    shutil.copytree(core_landing, again)
    generate_sources(again, seed=11)
    assert _files(again) == _files(sourced)
    other = tmp_path / "other" / "landing"
    shutil.copytree(core_landing, other)
    generate_sources(other, seed=12)
    assert _files(other)["truth"] != _files(sourced)["truth"]


def test_default_generate_writes_no_other_source(tmp_path: Path) -> None:
    assert main(["generate", "--customers", "30", "--out", str(tmp_path / "a")]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "account", "campaign", "campaign_event", "customer", "fx_rate", "product",
        "transaction",
    ]  # fmt: skip
    assert not truth_path(tmp_path / "a").exists()
    assert main(["generate", "--customers", "30", "--out", str(tmp_path / "b"), "--sources"]) == 0
    folders = {m.landing_folder for m in load_mappings()}
    assert folders <= {p.name for p in (tmp_path / "b").iterdir()}
    for name in ("customer", "account", "transaction"):  # the core files are the same bytes
        assert [f.read_bytes() for f in sorted((tmp_path / "a" / name).iterdir())] == [
            f.read_bytes() for f in sorted((tmp_path / "b" / name).iterdir())
        ]


def test_truth_holds_ids_only_and_every_record(sourced: Path) -> None:
    truth = _truth(sourced)
    assert list(truth[0]) == ["source", "source_id", "person_id"]
    for mapping in load_mappings():
        ids = read_source(sourced, mapping).column("source_id").to_pylist()
        listed = [t["source_id"] for t in truth if t["source"] == mapping.source]
        assert sorted(ids) == sorted(listed) and len(set(ids)) == len(ids)
    assert all(t["person_id"].startswith("P") and t["person_id"][1:].isdigit() for t in truth)


def _records(landing: Path) -> dict[tuple[str, str], dict]:
    records = {}
    for mapping in load_mappings():
        for row in read_source(landing, mapping).to_pylist():
            records[(mapping.source, row["source_id"])] = row
    return records


def test_the_silos_overlap_with_noise(sourced: Path) -> None:
    truth = _truth(sourced)
    records = _records(sourced)
    people: dict[str, list[dict]] = defaultdict(list)
    for t in truth:
        people[t["person_id"]].append({**records[(t["source"], t["source_id"])], **t})
    sizes = Counter(len({r["source"] for r in rs}) for rs in people.values())
    assert sizes[1] and sizes[2] and sizes[3]  # in one source only, in two, in all three
    only_elsewhere = [
        rs for rs in people.values() if "core_banking" not in {r["source"] for r in rs}
    ]
    assert only_elsewhere  # people no core system holds
    assert any(len(rs) > len({r["source"] for r in rs}) for rs in people.values())  # twice
    kinds: Counter[str] = Counter()
    for rs in people.values():
        core = next((r for r in rs if r["source"] == "core_banking"), None)
        for r in rs:
            if core is None or r is core:
                continue
            if r["first_name"] == core["last_name"] and r["last_name"] == core["first_name"]:
                kinds["swapped"] += 1
            elif len(r["first_name"]) == 1:
                kinds["initial"] += 1
            elif r["first_name"] != core["first_name"]:
                kinds["first name differs"] += 1
            if not r["date_of_birth"] and core["date_of_birth"]:
                kinds["no birth date"] += 1
            if r["email"] and r["email"].lower() != core["email"].lower():
                kinds["other e-mail"] += 1
            if r["address_line1"] != core["address_line1"]:
                kinds["other address"] += 1
            if r["mobile"] and r["mobile"] != core["mobile"]:
                kinds["mobile written differently"] += 1
    assert len(kinds) == 7 and min(kinds.values()) >= 2, kinds
    # Namesakes: distinct people sharing a full name and birth year.
    by_name: dict[tuple, set[str]] = defaultdict(set)
    for pid, rs in people.items():
        for r in rs:
            year = (
                r["date_of_birth"][-4:]
                if "/" in (r["date_of_birth"] or "")
                else (r["date_of_birth"] or "")[:4]
            )
            if year:
                by_name[(r["first_name"], r["last_name"], year)].add(pid)
    assert any(len(pids) > 1 for pids in by_name.values())
