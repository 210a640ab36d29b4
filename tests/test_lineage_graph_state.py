"""The lineage page's graph is kept beside the events file, so a run reads back only its
own events: the graph equals a full read of the file after every append, a file replaced,
truncated or rewritten is read again in full, and a line still being written counts once
it is whole. The events are a real build's."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest

from fs_assets.lineage import graph_state
from fs_assets.lineage.emitter import EVENTS_FILE
from fs_assets.lineage.graph import LineageGraph
from fs_assets.lineage.graph_state import graph_to_json, load_graph
from fs_assets.lineage.html import render
from fs_assets.model.paths import DataPaths


@pytest.fixture
def lines(built: DataPaths) -> list[bytes]:
    """The event lines of a real build (each with its newline)."""
    data = (built.lineage / EVENTS_FILE).read_bytes()
    found = data.splitlines(keepends=True)
    assert len(found) > 40 and all(line.endswith(b"\n") for line in found)
    return found


def _same_as_full_read(events: Path, state: Path) -> LineageGraph:
    got = load_graph(events, state)
    want = LineageGraph.from_file(events)
    assert graph_to_json(got) == graph_to_json(want)
    assert _page(got) == _page(want)
    return got


def _page(graph: LineageGraph) -> str:
    """The page without the time it was drawn at."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", "", render(graph))


def _counting_adds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    add = LineageGraph.add

    def counted(self: LineageGraph, event: dict) -> None:
        calls[0] += 1
        add(self, event)

    monkeypatch.setattr(LineageGraph, "add", counted)
    return calls


def test_each_load_reads_only_the_new_events(
    tmp_path: Path, lines: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    events, state = tmp_path / "open lineage [1].jsonl", tmp_path / "state.json"
    half = len(lines) // 2
    events.write_bytes(b"".join(lines[:half]))
    _same_as_full_read(events, state)
    assert state.exists()
    with events.open("ab") as handle:
        handle.write(b"".join(lines[half:]))
    calls = _counting_adds(monkeypatch)
    got = load_graph(events, state)
    assert calls[0] == len(lines) - half  # the new lines only
    monkeypatch.undo()
    assert graph_to_json(got) == graph_to_json(LineageGraph.from_file(events))
    # Nothing new: nothing read, the same graph.
    calls = _counting_adds(monkeypatch)
    again = load_graph(events, state)
    assert calls[0] == 0 and graph_to_json(again) == graph_to_json(got)


def test_a_replaced_truncated_or_rewritten_file_is_read_again_in_full(
    tmp_path: Path,
    lines: list[bytes],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another test in the same worker may have run a library's logging.config, which
    # disables every logger existing then (this one's warning went missing once in CI).
    monkeypatch.setattr(graph_state.LOG, "disabled", False)
    caplog.set_level(logging.WARNING, logger=graph_state.LOG.name)
    events, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    events.write_bytes(b"".join(lines))
    full = _same_as_full_read(events, state)
    # Truncated (a rotation that kept the name): fewer bytes than the stored offset.
    events.write_bytes(b"".join(lines[:10]))
    assert len(_same_as_full_read(events, state).jobs) < len(full.jobs)
    # Rewritten in place with as many bytes or more: the bytes before the offset differ.
    with events.open("r+b") as handle:
        handle.write(b"".join(lines[10:]))
    _same_as_full_read(events, state)
    # Replaced by another file (another inode) that happens to start the same way.
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"".join(lines[:10]) + b"".join(lines[-5:]))
    os.replace(other, events)
    _same_as_full_read(events, state)
    # A state that is not JSON, or of another format: read in full, with a warning.
    state.write_text("{not json", encoding="utf-8")
    _same_as_full_read(events, state)
    assert "not used" in caplog.text
    state.write_text(json.dumps({"format": 999}), encoding="utf-8")
    _same_as_full_read(events, state)


def test_a_line_still_being_written_counts_once_it_is_whole(
    tmp_path: Path, lines: list[bytes]
) -> None:
    events, state = tmp_path / "events.jsonl", tmp_path / "state.json"
    # The next line is a step's COMPLETE event: it adds its job to the graph.
    k = next(
        i
        for i, line in enumerate(lines)
        if i > 0 and json.loads(line)["eventType"] == "COMPLETE" and json.loads(line)["outputs"]
    )
    job = json.loads(lines[k])["job"]["name"]
    events.write_bytes(b"".join(lines[:k]))
    assert job not in _same_as_full_read(events, state).jobs
    with events.open("ab") as handle:
        handle.write(lines[k][:40])  # a writer mid-append (or killed there): no event yet
    assert job not in _same_as_full_read(events, state).jobs
    with events.open("ab") as handle:
        handle.write(lines[k][40:-1])  # whole but for its newline: a full read has it
    assert job in _same_as_full_read(events, state).jobs
    with events.open("ab") as handle:
        handle.write(b"\n" + b"".join(lines[k + 1 :]))
    _same_as_full_read(events, state)


def test_a_missing_events_file_is_an_empty_graph(tmp_path: Path) -> None:
    graph = load_graph(tmp_path / "none.jsonl", tmp_path / "state.json")
    assert not graph.datasets and not (tmp_path / "state.json").exists()
