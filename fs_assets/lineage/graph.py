"""The lineage graph, read back from the emitted OpenLineage events.

The `lineage` command and the HTML page answer from the same events a lineage backend
receives, so what they show is what Marquez would show. Only COMPLETE events add to the
graph (a failed run established nothing). Edges accumulate over runs: raw tables are
append-only, so the landing files of earlier runs stay upstream of them.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fs_assets.model.naming import DATASET_NAMESPACE, FILE_NAMESPACE

DatasetKey = tuple[str, str]  # (namespace, name)
ColumnKey = tuple[str, str, str]  # (namespace, name, field)


@dataclass
class FieldInfo:
    name: str
    type: str | None = None
    description: str | None = None
    pii: str | None = None


@dataclass
class DatasetNode:
    namespace: str
    name: str
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    description: str | None = None
    owners: list[str] = field(default_factory=list)
    producers: set[str] = field(default_factory=set)
    consumers: set[str] = field(default_factory=set)

    @property
    def key(self) -> DatasetKey:
        return (self.namespace, self.name)

    @property
    def is_file(self) -> bool:
        return self.namespace == FILE_NAMESPACE

    @property
    def label(self) -> str:
        return f"file:{self.name}" if self.is_file else self.name

    @property
    def layer(self) -> str:
        return "landing" if self.is_file else self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Edge:
    source: ColumnKey
    target: ColumnKey
    transformation: str = ""


@dataclass
class TreeNode:
    """One step of an upstream or downstream walk."""

    dataset: DatasetKey
    field: str | None
    via: str = ""  # transformation (columns) or job (datasets)
    children: list["TreeNode"] = field(default_factory=list)
    repeated: bool = False  # already expanded elsewhere in the same walk


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash


def _transformation(input_field: dict[str, Any]) -> str:
    parts = []
    for t in input_field.get("transformations") or []:
        kind = "/".join(x for x in (t.get("type"), t.get("subtype")) if x)
        text = f"{kind}: {t['description']}" if t.get("description") else kind
        parts.append(text + (" (masking)" if t.get("masking") else ""))
    return "; ".join(parts)


class LineageGraph:
    """Datasets with their fields, column edges and dataset edges (by job)."""

    def __init__(self) -> None:
        self.datasets: dict[DatasetKey, DatasetNode] = {}
        self.edges: set[Edge] = set()
        self.dataset_edges: set[tuple[DatasetKey, DatasetKey, str]] = set()
        self.jobs: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]]) -> "LineageGraph":
        graph = cls()
        for event in events:
            graph.add(event)
        return graph

    @classmethod
    def from_file(cls, path: Path) -> "LineageGraph":
        return cls.from_events(iter_events(path))

    def _node(self, ds: dict[str, Any]) -> DatasetNode:
        key = (ds["namespace"], ds["name"])
        node = self.datasets.get(key)
        if node is None:
            node = self.datasets[key] = DatasetNode(*key)
        facets = ds.get("facets") or {}
        if schema := facets.get("schema"):
            for f in schema.get("fields") or []:
                info = node.fields.setdefault(f["name"], FieldInfo(f["name"]))
                info.type = f.get("type") or info.type
                info.description = f.get("description") or info.description
        for tag in (facets.get("tags") or {}).get("tags") or []:
            if tag.get("key") == "pii" and tag.get("field"):
                node.fields.setdefault(tag["field"], FieldInfo(tag["field"])).pii = tag["value"]
        if doc := facets.get("documentation"):
            node.description = doc.get("description") or node.description
        if owners := facets.get("ownership"):
            node.owners = [o["name"] for o in owners.get("owners") or []]
        return node

    def add(self, event: dict[str, Any]) -> None:
        if event.get("eventType") != "COMPLETE":
            return
        job = event["job"]["name"]
        inputs = [self._node(d) for d in event.get("inputs") or []]
        outputs = [self._node(d) for d in event.get("outputs") or []]
        if inputs or outputs:
            info = self.jobs.setdefault(job, {"inputs": set(), "outputs": set()})
            info["inputs"] |= {n.key for n in inputs}
            info["outputs"] |= {n.key for n in outputs}
            info["last_run"] = event["eventTime"]
        for node in inputs:
            node.consumers.add(job)
        for node in outputs:
            node.producers.add(job)
            for src in inputs:
                self.dataset_edges.add((src.key, node.key, job))
        for ds in event.get("outputs") or []:
            lineage = (ds.get("facets") or {}).get("columnLineage") or {}
            for column, spec in (lineage.get("fields") or {}).items():
                for inp in spec.get("inputFields") or []:
                    self.edges.add(
                        Edge(
                            (inp["namespace"], inp["name"], inp["field"]),
                            (ds["namespace"], ds["name"], column),
                            _transformation(inp),
                        )
                    )

    # -- lookups -------------------------------------------------------------------------

    def resolve(self, target: str) -> tuple[DatasetKey, str | None]:
        """'mastered.customer.cibil_score' -> ((duckdb ns, 'mastered.customer'), 'cibil_score')."""
        for ns in (DATASET_NAMESPACE, FILE_NAMESPACE):
            if (ns, target) in self.datasets:
                return (ns, target), None
        by_name = {n.name: n.key for n in self.datasets.values()}
        head, _, column = target.rpartition(".")
        if head in by_name and column:
            return by_name[head], column
        known = sorted(n for n in by_name if not n.startswith("/"))
        raise KeyError(
            f"no dataset or column {target!r} in the lineage; known tables: {', '.join(known)}"
        )

    def upstream(self, dataset: DatasetKey, column: str | None) -> TreeNode:
        return self._walk(dataset, column, up=True, seen=set())

    def downstream(self, dataset: DatasetKey, column: str | None) -> TreeNode:
        return self._walk(dataset, column, up=False, seen=set())

    def _walk(self, dataset: DatasetKey, column: str | None, up: bool, seen: set) -> TreeNode:
        """Each node is expanded once per walk (later visits are marked `repeated`), which
        keeps diamonds small and makes cycles harmless."""
        node = TreeNode(dataset, column)
        marker = (dataset, column)
        if marker in seen:
            node.repeated = True
            return node
        seen.add(marker)
        if column is not None:
            edges = [
                (e.source if up else e.target, e.transformation)
                for e in sorted(self.edges, key=lambda e: (e.source, e.target))
                if (e.target if up else e.source) == (*dataset, column)
            ]
            for (ns, name, col), via in edges:
                child = self._walk((ns, name), col, up, seen)
                child.via = via
                node.children.append(child)
        else:
            links = sorted(
                (src if up else dst, job)
                for src, dst, job in self.dataset_edges
                if (dst if up else src) == dataset
            )
            for other, job in links:
                child = self._walk(other, None, up, seen)
                child.via = job
                node.children.append(child)
        return node

    def readers(self, dataset: DatasetKey) -> list[tuple[str, list[DatasetKey]]]:
        """Jobs that read `dataset`, with what they write (dataset-level consumers)."""
        out = []
        for job, info in sorted(self.jobs.items()):
            if dataset in info["inputs"]:
                out.append((job, sorted(info["outputs"])))
        return out
