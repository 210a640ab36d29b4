"""The layout's import rules hold: import-linter's contracts, and a walk of the core's imports."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
CORE = (
    "fs_assets.model",
    "fs_assets.transforms",
    "fs_assets.engines",
    "fs_assets.generator",
    "fs_assets.identity",
    "fs_assets.catalog",
    "fs_assets.lineage",
)
ABOVE_CORE = ("fs_assets.defs", "fs_assets.app", "fs_assets.definitions")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        # No cache: grimp's cache keys on file times and can miss a quick edit.
        return grimp.build_graph(
            "fs_assets",
            "asset_checks",
            "resources",
            "sensors",
            include_external_packages=True,
            cache_dir=None,
        )
    finally:
        sys.path.remove(str(ROOT))


def _contract(contract_id: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = (c for c in config["tool"]["importlinter"]["contracts"] if c["id"] == contract_id)
    return contract


def _core_modules(graph: grimp.ImportGraph) -> set[str]:
    return {m for pkg in CORE for m in (pkg, *graph.find_descendants(pkg))}


def test_contracts_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lint-imports` on pyproject's contracts (tiers, a Dagster-free core): exit code 0."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(ROOT))
    assert lint_imports(no_cache=True, no_logo=True) == 0


def test_core_imports_no_dagster(graph: grimp.ImportGraph) -> None:
    """No core module imports Dagster, directly or through another module, and none reaches
    the layers above the core; the contract needs no exceptions for it."""
    assert not _contract("core-free-of-dagster").get("ignore_imports")
    direct = {
        m
        for m in _core_modules(graph)
        if graph.direct_import_exists(importer=m, imported="dagster")
    }
    assert not direct, f"core modules importing dagster: {sorted(direct)}"
    for pkg in CORE:
        chain = graph.find_shortest_chain(importer=pkg, imported="dagster", as_packages=True)
        assert chain is None, chain
    for module in sorted(_core_modules(graph)):
        for upper in ABOVE_CORE:
            assert not graph.chain_exists(importer=module, imported=upper, as_packages=True), (
                module,
                upper,
                graph.find_shortest_chain(importer=module, imported=upper),
            )


def test_the_walk_sees_dagster_where_it_is(graph: grimp.ImportGraph) -> None:
    """The walk is not blind: the defs layer does import Dagster and the core."""
    assert graph.direct_import_exists(importer="fs_assets.defs.raw", imported="dagster")
    assert graph.chain_exists(
        importer="fs_assets.defs", imported="fs_assets.model", as_packages=True
    )


def test_loading_the_definitions_does_not_import_the_generator() -> None:
    """Every run process loads the definitions: the data generator (and Faker) is only for
    `mock_sources`, which imports it when it runs. Checked in a fresh interpreter."""
    import subprocess

    probe = (
        "import sys, fs_assets.definitions; print(sorted(m for m in sys.modules "
        "if m == 'faker' or m.startswith('fs_assets.generator')))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
