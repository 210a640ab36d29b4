"""The repository stands alone: a clone with nothing beside it has all its tests and docs need."""

import inspect
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from catalog_support import SPEC, spec_registry
from openlineage.client.generated.base import (
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
)

import fs_assets.lineage.events as lineage_events

ROOT = Path(__file__).resolve().parents[1]
# Folders that are not the repository's own files: environments, caches, generated data.
NOT_OURS = {".venv", ".git", "data", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}
TEXT = {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt", ".json", ".sql"}
# A path into a folder beside the checkout (written so that this file does not match itself).
OUTSIDE = re.compile(r"\.\./shared|shared/(seed|openlineage-spec)|/wor[k]/")
FACETS = (RunFacet, JobFacet, DatasetFacet, InputDatasetFacet, OutputDatasetFacet)


def repository_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in NOT_OURS or part.endswith(".egg-info") for part in rel.parts):
            continue
        if path.is_file() and (path.suffix in TEXT or path.name in {"Makefile", "run"}):
            files.append(path)
    return files


def test_no_file_points_outside_the_repository() -> None:
    files = repository_files()
    assert ROOT / "README.md" in files and ROOT / "tests" / "catalog_support.py" in files
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not hits, "\n".join(hits)


def test_openlineage_spec_is_vendored_with_its_licence_and_version() -> None:
    assert SPEC.is_relative_to(ROOT / "tests")
    licence = (SPEC / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0" in licence
    note = (SPEC / "README.md").read_text(encoding="utf-8")
    assert "2-0-2" in note and "Apache License 2.0" in note


def test_every_facet_the_emitter_writes_has_its_schema_in_the_vendored_spec() -> None:
    registry = spec_registry()
    modules = [
        m
        for m in vars(lineage_events).values()
        if inspect.ismodule(m) and m.__name__.startswith("openlineage.client.generated.")
    ]
    facets = [
        cls
        for m in modules
        for cls in vars(m).values()
        if inspect.isclass(cls) and cls.__module__ == m.__name__ and issubclass(cls, FACETS)
    ]
    assert len(facets) >= 14  # schema, column lineage, ownership, assertions, parent, ...
    missing = []
    for cls in facets:
        url = cls._get_schema()
        try:
            registry.get_or_retrieve(url.split("#")[0])
        except Exception:
            missing.append(url)
    assert not missing


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout"
)
def test_the_vendored_spec_is_tracked_so_a_clone_has_it() -> None:
    """A file left untracked passes here and fails on a fresh clone; git knows which is which."""
    listed = subprocess.run(
        ["git", "ls-files", "--", "tests/openlineage_spec"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    on_disk = sorted(str(p.relative_to(ROOT)) for p in SPEC.rglob("*") if p.is_file())
    assert on_disk and sorted(listed) == on_disk
