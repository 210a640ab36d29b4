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

The Dagster run ids the events belong to are kept the same way: whether a run's lineage
was already emitted (asked before each run's events are written, and by the `lineage`
command for every finished run) is answered from them and the new lines, not from a
search of the whole file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fs_assets.lineage.graph import DatasetNode, Edge, FieldInfo, LineageGraph

LOG = logging.getLogger(__name__)

STATE_FORMAT = 2  # 2: with the run ids
TAIL_BYTES = 4096  # the bytes before the offset that must be unchanged


@dataclass
class KeptLineage:
    """What the events up to an offset say: the graph, and the Dagster runs they are of.
    `mark`: the whole lines folded in, when nothing else is (no torn last line), so a later
    load in the same process can go on from here instead of from the stored state."""

    graph: LineageGraph = field(default_factory=LineageGraph)
    run_ids: set[str] = field(default_factory=set)
    mark: FileMark | None = None


def run_ids_of(event: dict[str, Any]) -> set[str]:
    """The Dagster run id one event belongs to: its parent's (a step's event), its own (the
    run's job event), or none."""
    try:
        parent = (event.get("run", {}).get("facets") or {}).get("parent")
        if parent:
            return {parent["run"]["runId"]}
        if event.get("job", {}).get("facets", {}).get("jobType", {}).get("jobType") == "JOB":
            return {event["run"]["runId"]}
    except (AttributeError, KeyError, TypeError):
        pass  # not an event of this shape (see _add_line)
    return set()


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


def _is_prefix(handle, mark: FileMark) -> bool:
    """Whether `mark` still describes the start of the open file."""
    info = os.fstat(handle.fileno())
    return (
        (info.st_dev, info.st_ino) == (mark.device, mark.inode)
        and info.st_size >= mark.offset
        and _tail_sha256(handle, mark.offset) == mark.tail_sha256
    )


def _stored(state: Path, events: Path, handle) -> tuple[KeptLineage, int]:
    """The stored lineage and its offset when it is this file's prefix's; else empty, 0."""
    try:
        data = json.loads(state.read_text(encoding="utf-8"))
        if data.get("format") != STATE_FORMAT:
            return KeptLineage(), 0
        mark = FileMark(**data["events"])
        if not _is_prefix(handle, mark):
            return KeptLineage(), 0
        return KeptLineage(graph_from_json(data["graph"]), set(data["runs"])), mark.offset
    except FileNotFoundError:
        return KeptLineage(), 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        LOG.warning(f"lineage graph state {state} not used ({exc}): reading {events} in full")
        return KeptLineage(), 0


def _add_line(kept: KeptLineage, line: bytes) -> None:
    if not line.strip():
        return
    try:
        event = json.loads(line)
    except ValueError:
        return  # a torn line from a crash (as LineageGraph.from_file skips it)
    try:
        kept.graph.add(event)
        kept.run_ids |= run_ids_of(event)
    except (AttributeError, KeyError, TypeError) as exc:
        # JSON, but not an event this project writes (a hand edit, another tool): skipped,
        # said once (the line is behind the stored offset from now on), and every later
        # run's lineage is still emitted.
        LOG.warning(
            f"a line of the lineage events file is not an OpenLineage run event "
            f"({type(exc).__name__}: {exc}): skipped: {line[:200]!r}"
        )


def _save(state: Path, kept: KeptLineage, mark: FileMark) -> None:
    """Write the state atomically; a failure costs the next load a full read, nothing more."""
    data = {
        "format": STATE_FORMAT,
        "events": mark.__dict__,
        "graph": graph_to_json(kept.graph),
        "runs": sorted(kept.run_ids),
    }
    tmp = state.with_name(f".{state.name}.tmp")
    try:
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, state)
    except OSError as exc:
        LOG.warning(f"lineage graph state {state} not written: {exc}")
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def load_lineage(events: Path, state: Path, since: KeptLineage | None = None) -> KeptLineage:
    """The graph and run ids of every event in `events`, reading only the lines after the
    stored state's offset, and the state moved up to the file's last whole line (written
    only when it moved). `since`: what this process loaded before under the same hold of
    the lineage folder's lock, gone on from (and updated) instead of reading the state
    again while it still describes the file. The caller holds that lock (one writer of
    the state at a time)."""
    if not events.exists():
        return KeptLineage()
    with events.open("rb") as handle:
        if since is not None and since.mark is not None and _is_prefix(handle, since.mark):
            kept, stored = since, since.mark.offset
        else:
            kept, stored = _stored(state, events, handle)
        offset = stored
        handle.seek(offset)
        partial = b""
        for line in handle:
            if not line.endswith(b"\n"):
                partial = line  # only the last line can lack its newline
                break
            offset += len(line)
            _add_line(kept, line)
        info = os.fstat(handle.fileno())
        mark = FileMark(info.st_dev, info.st_ino, offset, _tail_sha256(handle, offset))
    if offset != stored or offset == 0:
        _save(state, kept, mark)
    kept.mark = mark
    if partial.strip():
        _add_line(kept, partial)
        kept.mark = None  # holds a line the file does not have whole yet
    return kept


def load_graph(events: Path, state: Path) -> LineageGraph:
    """The graph of every event in `events` (see `load_lineage`)."""
    return load_lineage(events, state).graph
