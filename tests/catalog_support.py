"""Helpers shared by test_catalog.py and test_lineage.py.

The session's `built_template` is a full `fs-accelerator build`, which materializes the
catalog assets and emits the lineage of each of its runs; the tests use a copy of it (the
`built` fixture) and these helpers to run single assets again and read the events.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from fs_assets.model.paths import DataPaths
from resources import default_resources

# The official OpenLineage JSON Schema, vendored in the repository (its README says which
# release and under which licence). Tests run offline: $refs resolve from these files.
SPEC = Path(__file__).resolve().parent / "openlineage_spec"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def project() -> tuple[list[dg.AssetsDefinition], list[dg.AssetsDefinition]]:
    """(assets, checks) of the project's definitions, catalog assets included."""
    from fs_assets.definitions import defs

    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    checks = [c for c in defs.asset_checks if isinstance(c, dg.AssetsDefinition)]
    return assets, checks


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
