"""Whether a run's lineage was emitted is read from the lines that name it only, with the
answer the full parse gives: a torn line (a crash mid-write) does not count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fs_assets.lineage import emitter
from fs_assets.lineage.emitter import SEARCH_BLOCK, emitted_run_ids, run_emitted

JOB_RUN = "11111111-1111-1111-1111-111111111111"
STEP_PARENT = "22222222-2222-2222-2222-222222222222"
TORN_ONLY = "33333333-3333-3333-3333-333333333333"
NAMED_ONLY = "44444444-4444-4444-4444-444444444444"


@pytest.mark.parametrize("block", [SEARCH_BLOCK, 7, 64])
def test_run_emitted_agrees_with_the_full_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """Also read a few bytes at a time: lines and run ids cut across the blocks."""
    monkeypatch.setattr(emitter, "SEARCH_BLOCK", block)
    events = [
        {"run": {"runId": JOB_RUN}, "job": {"facets": {"jobType": {"jobType": "JOB"}}}},
        {
            "run": {"runId": "step", "facets": {"parent": {"run": {"runId": STEP_PARENT}}}},
            "job": {"facets": {}},
        },
        # Names a run id in a field that is neither the run nor its parent.
        {"run": {"runId": "other"}, "job": {"facets": {"note": NAMED_ONLY}}},
    ]
    torn = json.dumps({"run": {"runId": "x", "facets": {"parent": {"run": {"runId": TORN_ONLY}}}}})[
        :-7
    ]
    path = tmp_path / "open lineage 'ü' [*].jsonl"
    path.write_text(
        "\n".join([json.dumps(events[0]), torn, *map(json.dumps, events[1:])]) + "\n",
        encoding="utf-8",
    )
    assert emitted_run_ids(path) == {JOB_RUN, STEP_PARENT}
    for run_id in (JOB_RUN, STEP_PARENT, TORN_ONLY, NAMED_ONLY, "never"):
        assert run_emitted(path, run_id) == (run_id in emitted_run_ids(path)), run_id
    assert not run_emitted(tmp_path / "missing.jsonl", JOB_RUN)
    # A file whose last line was torn without a newline.
    path.write_text(json.dumps(events[0])[:-3], encoding="utf-8")
    assert not run_emitted(path, JOB_RUN)
    path.write_bytes(b"")
    assert not run_emitted(path, JOB_RUN)
