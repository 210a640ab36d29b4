"""Simulated days reach the other source systems: the CRM and the card platform take in
a share of each day's new core customers, with ids after their highest and truth rows."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from fs_assets.generator import generate_landing
from fs_assets.generator import simulate as simulate_module
from fs_assets.generator.simulate import SimulationError, simulate
from fs_assets.generator.sources import generate_sources, truth_path
from fs_assets.identity.mapping import load_mappings

CUSTOMERS = 3_000  # enough for new customers every simulated day
SEED = 3


def _truth(landing: Path) -> dict[tuple[str, str], str]:
    with truth_path(landing).open(newline="", encoding="utf-8") as handle:
        return {(r["source"], r["source_id"]): r["person_id"] for r in csv.DictReader(handle)}


def _ids(path: Path, column: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("simulate_sources") / "landing"
    generate_landing(landing, customers=CUSTOMERS, seed=SEED)
    generate_sources(landing, seed=SEED)
    return landing


def _copy(sampled: Path, target: Path) -> Path:
    landing = target / "landing"
    shutil.copytree(sampled, landing)
    shutil.copyfile(truth_path(sampled), truth_path(landing))
    return landing


def test_new_customers_reach_the_other_sources_with_their_truth(
    sampled: Path, tmp_path: Path
) -> None:
    landing = _copy(sampled, tmp_path)
    before = _truth(landing)
    mappings = {m.source: m for m in load_mappings() if m.source in ("crm", "card_platform")}
    highest = {
        s: max(
            int(i[1:])
            for p in (landing / m.landing_folder).glob("*.csv")
            for i in _ids(p, m.id_column)
        )
        for s, m in mappings.items()
    }
    reports = simulate(landing, days=2, seed=SEED)
    after = _truth(landing)
    assert set(before.items()) <= set(after.items())  # nothing of the sample changes
    for report in reports:
        new_core = {str(c): after[("core_banking", str(c))] for c in report.new_customers}
        assert new_core and len(set(new_core.values())) == len(new_core)  # new people
        assert not set(new_core.values()) & set(before.values())
        for source, mapping in mappings.items():
            (path,) = (landing / mapping.landing_folder).glob(f"*_day_{report.day:%Y%m%d}_*")
            ids = _ids(path, mapping.id_column)
            assert len(ids) == report.rows[source] > 0
            numbers = [int(i[1:]) for i in ids]
            assert numbers == list(range(highest[source] + 1, highest[source] + 1 + len(ids)))
            highest[source] = numbers[-1]
            # Each record is one of the day's new customers.
            assert {after[(source, i)] for i in ids} <= set(new_core.values())
    assert not list(landing.rglob(".*.tmp"))


def test_same_arguments_same_bytes(sampled: Path, tmp_path: Path) -> None:
    first, second = _copy(sampled, tmp_path / "a"), _copy(sampled, tmp_path / "b")
    simulate(first, days=2, seed=SEED)
    simulate(second, days=1, seed=SEED)
    simulate(second, days=1, seed=SEED)
    for folder in ("crm_contact", "card_holder"):
        for path in sorted((first / folder).glob("*_day_*")):
            assert path.read_bytes() == (second / folder / path.name).read_bytes()
    assert truth_path(first).read_bytes() == truth_path(second).read_bytes()


def test_a_core_only_landing_gets_no_source_files(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    generate_landing(landing, customers=CUSTOMERS, seed=SEED)
    simulate(landing, days=1, seed=SEED)
    assert not (landing / "crm_contact").exists() and not (landing / "card_holder").exists()
    assert not truth_path(landing).exists()


def test_a_day_that_failed_before_its_renames_lands_again_as_if_it_never_had(
    sampled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sources' truth file is written before the day's renames; a failure after it (a
    full disk while writing the faults' truth) leaves no stale people behind."""
    clean, failed = _copy(sampled, tmp_path / "a"), _copy(sampled, tmp_path / "b")
    simulate(clean, days=1, seed=SEED, error_rate=0.05)

    def full_disk(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(simulate_module, "append_truth", full_disk)
        with pytest.raises(SimulationError, match="could not land"):
            simulate(failed, days=1, seed=SEED, error_rate=0.05)
    assert not list(failed.rglob("*_day_*"))  # nothing of the day in place
    simulate(failed, days=1, seed=SEED, error_rate=0.05)
    assert truth_path(failed).read_bytes() == truth_path(clean).read_bytes()
    for folder in ("crm_contact", "card_holder"):
        for path in sorted((clean / folder).glob("*_day_*")):
            assert path.read_bytes() == (failed / folder / path.name).read_bytes()
