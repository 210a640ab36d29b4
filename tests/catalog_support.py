"""Helpers shared by test_catalog.py and test_lineage.py: the catalog on a built data folder.

The session's `built_template` is a full `fs-accelerator build`. Whether or not the
definitions module already includes the catalog assets and build.py emits lineage, these
helpers materialize the catalog assets on top of it (on the template's own Dagster
instance) and emit the lineage of every run, once per session; tests copy the result.
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from fs_assets.catalog.assets import build_catalog_assets
from fs_assets.catalog.specs import CATALOG_GROUP
from fs_assets.lineage.emitter import emit_run_lineage
from fs_assets.lineage.landing import ledger_lookup
from fs_assets.paths import DataPaths
from resources import default_resources
from resources.warehouse import WarehouseResource

# The official OpenLineage JSON Schema, copied beside the checkout (../shared); another
# copy can be named with OPENLINEAGE_SPEC_DIR. Tests run offline: $refs resolve from it.
SPEC = Path(
    os.environ.get("OPENLINEAGE_SPEC_DIR")
    or Path(__file__).resolve().parents[2] / "shared" / "openlineage-spec"
)
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_PREPARED: dict[Path, Path] = {}


@contextlib.contextmanager
def pointed_at(root: Path) -> Iterator[DataPaths]:
    """FS_ACCELERATOR_HOME and DAGSTER_HOME at `root`, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("FS_ACCELERATOR_HOME", "DAGSTER_HOME")}
    os.environ["FS_ACCELERATOR_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    try:
        yield DataPaths(root)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def project() -> tuple[list[dg.AssetsDefinition], list[dg.AssetsDefinition]]:
    """(assets, checks) of the project's definitions plus the catalog assets."""
    from fs_assets.definitions import defs

    base = [
        a
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition)
        and not any(s.group_name == CATALOG_GROUP for s in a.specs)
    ]
    checks = [c for c in defs.asset_checks if isinstance(c, dg.AssetsDefinition)]
    return [*base, *build_catalog_assets(base, checks)], checks


def asset_graph() -> AssetGraph:
    assets, checks = project()
    return AssetGraph.from_assets([*assets, *checks])


def materialize(
    instance: dg.DagsterInstance, selection: dg.AssetSelection
) -> dg.ExecuteInProcessResult:
    assets, checks = project()
    return dg.materialize(
        [*assets, *checks],
        selection=selection,
        instance=instance,
        resources=default_resources(),
        raise_on_error=False,
    )


def emit_all(instance: dg.DagsterInstance, paths: DataPaths) -> None:
    graph = asset_graph()
    ledger = ledger_lookup(WarehouseResource(home=str(paths.home)))
    for record in reversed(instance.get_run_records()):
        emit_run_lineage(instance, record.dagster_run.run_id, graph, paths.lineage, ledger=ledger)


def prepared_template(built_template: Path, scratch: Path) -> Path:
    """A built data folder with the catalog materialized and all lineage emitted (cached)."""
    if built_template not in _PREPARED:
        root = scratch / "fs_home"
        shutil.copytree(built_template, root)
        with pointed_at(root) as paths, dg.DagsterInstance.get() as instance:
            result = materialize(instance, dg.AssetSelection.groups(CATALOG_GROUP))
            assert result.success
            emit_all(instance, paths)
        _PREPARED[built_template] = root
    return _PREPARED[built_template]


def copy_of(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def events(paths: DataPaths) -> list[dict]:
    lines = (paths.lineage / "openlineage.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def spec_registry() -> Registry:
    """The OpenLineage core schema and facet schemas, by their public $id, read offline."""
    assert (SPEC / "OpenLineage.json").exists(), f"OpenLineage spec not found in {SPEC}"
    files = [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]
    docs = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    return Registry().with_resources((d["$id"], Resource.from_contents(d)) for d in docs)


def validator(registry: Registry, url: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": url}, registry=registry, format_checker=FormatChecker())


def facets_of(event: dict) -> Iterator[tuple[str, dict]]:
    """Every facet of an event: run, job, and each dataset's facets/inputFacets/outputFacets."""
    yield from (event["run"].get("facets") or {}).items()
    yield from (event["job"].get("facets") or {}).items()
    for ds in (event.get("inputs") or []) + (event.get("outputs") or []):
        for group in ("facets", "inputFacets", "outputFacets"):
            yield from (ds.get(group) or {}).items()


def schema_errors(registry: Registry, event: dict) -> list[str]:
    """Problems of one event against the core schema and each facet's own schema."""
    problems = [f"event: {e.message}" for e in validator(registry, RUN_EVENT).iter_errors(event)]
    for name, facet in facets_of(event):
        url = facet.get("_schemaURL", "")
        try:
            registry.get_or_retrieve(url.split("#")[0])
        except Exception:
            problems.append(f"facet {name}: schema {url} is not in the spec copy")
            continue
        problems += [
            f"facet {name}: {e.message}" for e in validator(registry, url).iter_errors(facet)
        ]
    return problems
