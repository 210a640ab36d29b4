"""Golden customer lineage in the emitted OpenLineage events: every golden attribute
traces, through the records read, the sources' mastered and raw tables, to the column of
each source's landing files that holds it (a real instance, real DuckDB, real events)."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import dagster as dg
import pytest
from catalog_support import asset_graph, project

from fs_assets.defs.identity import IDENTITY_ASSETS
from fs_assets.defs.keys import CLUSTER_VIEW_KEY, mastered_key, raw_key
from fs_assets.defs.lineage_source import emit_run_lineage
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.identity.attributes import ATTRIBUTES
from fs_assets.identity.mapping import load_mappings
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.naming import FILE_NAMESPACE
from resources import default_resources

CUSTOMERS = 150
GOLDEN = "mastered.golden_customer"
Field = tuple[str, str, str]  # namespace, dataset, column


def _inputs_by_field(events: list[dict]) -> dict[Field, set[Field]]:
    """(namespace, dataset, column) -> the fields it was made from, per columnLineage."""
    edges: dict[Field, set[Field]] = defaultdict(set)
    for event in events:
        for output in event.get("outputs", []):
            facet = output.get("facets", {}).get("columnLineage", {})
            for column, spec in facet.get("fields", {}).items():
                made = (output["namespace"], output["name"], column)
                for field in spec["inputFields"]:
                    edges[made].add((field["namespace"], field["name"], field["field"]))
    return edges


def _files_reached(edges: dict[Field, set[Field]], start: Field) -> set[tuple[str, str]]:
    """The (landing file, column) pairs a column traces to, following every input."""
    seen, todo, files = {start}, [start], set()
    while todo:
        for upstream in edges.get(todo.pop(), ()):
            if upstream[0] == FILE_NAMESPACE:
                files.add((upstream[1], upstream[2]))
            elif upstream not in seen:
                seen.add(upstream)
                todo.append(upstream)
    return files


@pytest.fixture(scope="module")
def lineage_events(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Raw, mastered and identity assets of three sources in one run, and its events."""
    home = tmp_path_factory.mktemp("identity_lineage") / "home ü"
    landing = home / "landing"
    generate_landing(landing, customers=CUSTOMERS, seed=7)
    for folder in landing.iterdir():
        if folder.name != CUSTOMER.folder:
            shutil.rmtree(folder)
    generate_sources(landing, seed=7)
    entities = [CUSTOMER.name, *(e.name for e in SOURCE_ENTITIES)]
    keys = [k for e in entities for k in (raw_key(e), mastered_key(e))]
    keys += [k for a in IDENTITY_ASSETS for k in a.keys if k != CLUSTER_VIEW_KEY]
    assets, checks = project()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*assets, *checks],
            selection=dg.AssetSelection.assets(*keys),
            instance=instance,
            resources=default_resources(str(home)),
            run_config={"ops": {"identity__linkage_model": {"config": {"u_max_pairs": 1e5}}}},
            raise_on_error=False,
        )
        assert result.success
        folder = home / "lineage_out"
        report = emit_run_lineage(instance, result.run_id, asset_graph(), folder, write_html=False)
        assert report.ok, report.message
    text = (folder / "openlineage.jsonl").read_text(encoding="utf-8")
    return landing, [json.loads(line) for line in text.splitlines() if line.strip()]


def test_every_golden_attribute_traces_to_each_sources_landing_column(lineage_events) -> None:
    landing, events = lineage_events
    edges = _inputs_by_field(events)
    mappings = load_mappings()
    for attribute in ATTRIBUTES:
        reached = _files_reached(edges, _golden_field(events, attribute))
        for mapping in mappings:
            header = mapping.attributes.get(attribute)
            if header is None:
                continue
            folder = (landing / mapping.landing_folder).resolve()
            files = {Path(f).resolve().parent for f, c in reached if c == header}
            assert folder in files, (attribute, mapping.source, header, sorted(reached)[:5])


def _golden_field(events: list[dict], column: str) -> Field:
    """The golden table's field as the events name it (their dataset namespace)."""
    for event in events:
        for output in event.get("outputs", []):
            if output["name"] == GOLDEN:
                return output["namespace"], GOLDEN, column
    raise AssertionError(f"no event writes {GOLDEN}")


def test_the_golden_id_traces_to_the_clusters_and_the_records(lineage_events) -> None:
    _, events = lineage_events
    edges = _inputs_by_field(events)
    namespace = _golden_field(events, "golden_id")[0]
    (made,) = edges[(namespace, GOLDEN, "golden_id")]
    assert made[1:] == ("mastered.customer_identity", "golden_id")
    assert (namespace, "identity.clusters", "cluster_id") in edges[made]
    ids = _files_reached(edges, (namespace, "mastered.customer_identity", "source_id"))
    assert {Path(f).parent.name for f, _ in ids} >= {"customer", "crm_contact", "card_holder"}
