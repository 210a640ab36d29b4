"""The lineage graph kept beside the events file, so each run folds in only its own events.

The page is redrawn after every run from the graph of every event so far. Reading the whole
`openlineage.jsonl` again made each run cost more than the last (the file only grows: at a
bank landing files all day, hundreds of MB within a year). The graph is a fold over the
events (`LineageGraph.add`), so the graph of the file's first `offset` bytes is stored with
that offset, and the next load adds only the lines after it.

The stored graph is used only while it is the graph of this file's prefix: the same file
(device and inode), at least `offset` bytes, and the same last bytes before the offset. A
file replaced, truncated or rewritten, or a state unreadable or of another format, is
read again from its first byte (what `LineageGraph.from_file` does). Only whole lines
count: a last line without its newline (a writer mid-append, or one killed there) is
added to the returned graph but not stored, so it is read again once complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fs_assets.lineage.graph import DatasetNode, Edge, FieldInfo, LineageGraph

LOG = logging.getLogger(__name__)

STATE_FORMAT = 1
TAIL_BYTES = 4096  # the bytes before the offset that must be unchanged


@dataclass(frozen=True)
class FileMark:
    """How far into which file the stored graph has read."""

    device: int
    inode: int
    offset: int
    tail_sha256: str


def graph_to_json(graph: LineageGraph) -> dict[str, Any]:
    """The graph as JSON data, in its insertion order (the page lists it in that order)."""
    return {
        "datasets": [
            {
                "namespace": n.namespace,
                "name": n.name,
                "description": n.description,
                "owners": list(n.owners),
                "producers": sorted(n.producers),
                "consumers": sorted(n.consumers),
                "fields": [[f.name, f.type, f.description, f.pii] for f in n.fields.values()],
            }
            for n in graph.datasets.values()
        ],
        "edges": sorted([[*e.source], [*e.target], e.transformation] for e in graph.edges),
        "dataset_edges": sorted([[*s], [*t], job] for s, t, job in graph.dataset_edges),
        "jobs": {
            job: {
                **{k: v for k, v in info.items() if k not in ("inputs", "outputs")},
                "inputs": sorted([*k] for k in info["inputs"]),
                "outputs": sorted([*k] for k in info["outputs"]),
            }
            for job, info in graph.jobs.items()
        },
    }


def graph_from_json(data: dict[str, Any]) -> LineageGraph:
    graph = LineageGraph()
    for d in data["datasets"]:
        node = DatasetNode(d["namespace"], d["name"])
        node.description, node.owners = d["description"], list(d["owners"])
        node.producers, node.consumers = set(d["producers"]), set(d["consumers"])
        node.fields = {f[0]: FieldInfo(*f) for f in d["fields"]}
        graph.datasets[node.key] = node
    graph.edges = {Edge(tuple(s), tuple(t), x) for s, t, x in data["edges"]}  # type: ignore[arg-type]
    graph.dataset_edges = {(tuple(s), tuple(t), j) for s, t, j in data["dataset_edges"]}  # type: ignore[misc]
    graph.jobs = {
        job: {
            **info,
            "inputs": {tuple(k) for k in info["inputs"]},
            "outputs": {tuple(k) for k in info["outputs"]},
        }
        for job, info in data["jobs"].items()
    }
    return graph


def _tail_sha256(handle, offset: int) -> str:
    start = max(offset - TAIL_BYTES, 0)
    handle.seek(start)
    return hashlib.sha256(handle.read(offset - start)).hexdigest()


def _stored(state: Path, events: Path, handle) -> tuple[LineageGraph, int]:
    """The stored graph and its offset when it is this file's prefix's; else empty, 0."""
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT:
            return LineageGraph(), 0
        mark = FileMark(**data["events"])
        info = os.fstat(handle.fileno())
        if (
            (info.st_dev, info.st_ino) != (mark.device, mark.inode)
            or info.st_size < mark.offset
            or _tail_sha256(handle, mark.offset) != mark.tail_sha256
        ):
            return LineageGraph(), 0
        return graph_from_json(data["graph"]), mark.offset
    except FileNotFoundError:
        return LineageGraph(), 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        LOG.warning(f"lineage graph state {state} not used ({exc}): reading {events} in full")
        return LineageGraph(), 0


def _add_line(graph: LineageGraph, line: bytes) -> None:
    if not line.strip():
        return
    try:
        event = json.loads(line)
    except ValueError:
        return  # a torn line from a crash (as LineageGraph.from_file skips it)
    graph.add(event)


def _save(state: Path, graph: LineageGraph, mark: FileMark) -> None:
    """Write the state atomically; a failure costs the next load a full read, nothing more."""
    data = {"format": STATE_FORMAT, "events": mark.__dict__, "graph": graph_to_json(graph)}
    tmp = state.with_name(f".{state.name}.tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, state)
    except OSError as exc:
        LOG.warning(f"lineage graph state {state} not written: {exc}")
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def load_graph(events: Path, state: Path) -> LineageGraph:
    """The graph of every event in `events`, reading only the lines after the stored
    state's offset, and the state moved up to the file's last whole line. The caller holds
    the lineage folder's lock (one writer of the state at a time)."""
    if not events.exists():
        return LineageGraph()
    with events.open("rb") as handle:
        graph, offset = _stored(state, events, handle)
        handle.seek(offset)
        partial = b""
        for line in handle:
            if not line.endswith(b"\n"):
                partial = line  # only the last line can lack its newline
                break
            offset += len(line)
            _add_line(graph, line)
        info = os.fstat(handle.fileno())
        mark = FileMark(info.st_dev, info.st_ino, offset, _tail_sha256(handle, offset))
    _save(state, graph, mark)
    _add_line(graph, partial)
    return graph
