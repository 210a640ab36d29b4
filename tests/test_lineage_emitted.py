"""Whether a run's lineage was emitted is answered from the kept state and the lines after
it, with the answer the full parse gives: a torn line (a crash mid-write) does not count,
and a file changed under the state is read again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fs_assets.lineage import graph_state
from fs_assets.lineage.emitter import (
    EVENTS_FILE,
    GRAPH_STATE_FILE,
    emitted_run_ids,
    read_lineage,
)
from fs_assets.lineage.graph_state import load_lineage

JOB_RUN = "11111111-1111-1111-1111-111111111111"
STEP_PARENT = "22222222-2222-2222-2222-222222222222"
TORN_ONLY = "33333333-3333-3333-3333-333333333333"
NAMED_ONLY = "44444444-4444-4444-4444-444444444444"
LATER = "55555555-5555-5555-5555-555555555555"


def _job_event(run_id: str) -> str:
    return json.dumps(
        {"run": {"runId": run_id}, "job": {"facets": {"jobType": {"jobType": "JOB"}}}}
    )


def test_kept_run_ids_agree_with_the_full_parse(tmp_path: Path) -> None:
    folder = tmp_path / "lineage 'ü' [*]"
    folder.mkdir()
    path, state = folder / EVENTS_FILE, folder / GRAPH_STATE_FILE
    step = {
        "run": {"runId": "step", "facets": {"parent": {"run": {"runId": STEP_PARENT}}}},
        "job": {"facets": {}},
    }
    # Names a run id in a field that is neither the run nor its parent.
    named = {"run": {"runId": "other"}, "job": {"facets": {"note": NAMED_ONLY}}}
    torn = json.dumps({"run": {"runId": "x", "facets": {"parent": {"run": {"runId": TORN_ONLY}}}}})
    lines = [_job_event(JOB_RUN), torn[:-7], json.dumps(step), json.dumps(named)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert emitted_run_ids(path) == {JOB_RUN, STEP_PARENT}
    assert read_lineage(folder).run_ids == emitted_run_ids(path)
    assert state.exists()  # the state now holds them
    # A run appended since: read from the new lines alone, as the full parse says.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_job_event(LATER) + "\n")
    assert read_lineage(folder).run_ids == emitted_run_ids(path) == {JOB_RUN, STEP_PARENT, LATER}
    assert LATER in json.loads(state.read_text())["runs"]
    # Nothing new: the same answer, and the state is not written again.
    before = state.read_bytes()
    assert read_lineage(folder).run_ids == {JOB_RUN, STEP_PARENT, LATER}
    assert state.read_bytes() == before
    # A last line without its newline counts once it parses, and is not stored.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_job_event(TORN_ONLY))
    assert TORN_ONLY in read_lineage(folder).run_ids
    assert TORN_ONLY not in json.loads(state.read_text())["runs"]
    # JSON that is not a run event (a hand edit, another tool): skipped, not fatal.
    with path.open("a", encoding="utf-8") as handle:
        handle.write('\n123\n{"eventType": "COMPLETE"}\n["x"]\n' + _job_event(NAMED_ONLY) + "\n")
    assert NAMED_ONLY in read_lineage(folder).run_ids == emitted_run_ids(path)
    # The file rewritten under the state: read again from its first byte.
    path.write_text(_job_event(LATER)[:-3], encoding="utf-8")
    assert read_lineage(folder).run_ids == set() == emitted_run_ids(path)
    path.write_bytes(b"")
    assert read_lineage(folder).run_ids == set()
    assert read_lineage(tmp_path / "missing").run_ids == set()


def test_a_later_load_goes_on_from_the_earlier_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within one emit the state is read once: the page's load goes on from the check's
    (the new run's lines only), unless the file changed under it or it held a torn line."""
    path, state = tmp_path / EVENTS_FILE, tmp_path / GRAPH_STATE_FILE
    path.write_text(_job_event(JOB_RUN) + "\n", encoding="utf-8")
    before = load_lineage(path, state)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_job_event(LATER) + "\n")
    real_stored = graph_state._stored

    def not_read(*_a: object) -> object:
        raise AssertionError("the stored state was read again")

    monkeypatch.setattr(graph_state, "_stored", not_read)
    after = load_lineage(path, state, before)
    assert after.run_ids == emitted_run_ids(path) == {JOB_RUN, LATER}
    assert LATER in json.loads(state.read_text())["runs"]  # and the state moved on
    # A torn last line is not gone on from; nor is a file rewritten under it.
    with path.open("a", encoding="utf-8") as handle:
        handle.write(_job_event(TORN_ONLY))
    torn = load_lineage(path, state, after)
    assert torn.mark is None and TORN_ONLY in torn.run_ids
    monkeypatch.setattr(graph_state, "_stored", real_stored)
    path.write_text(_job_event(STEP_PARENT) + "\n", encoding="utf-8")
    assert load_lineage(path, state, after).run_ids == {STEP_PARENT}
