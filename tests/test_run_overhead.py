"""What a build costs around its runs: the slot watch and the lineage sink's settings."""

from __future__ import annotations

import io
import time
from pathlib import Path

import dagster as dg
import pytest

from fs_assets.app import run_guard
from resources.lineage_sink import URL_ENV, resolved_lineage_sink


def test_the_slot_is_looked_at_every_two_seconds_not_at_every_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each look opens Dagster's index database under the lock the run's events take."""
    looks: list[float] = []

    def holders(_instance: object, _run_id: str) -> None:
        looks.append(time.monotonic())
        return None  # not waiting

    monkeypatch.setattr(run_guard, "slot_holders", holders)
    started = time.monotonic()
    result = run_guard.run_guarded(
        None,  # type: ignore[arg-type]  # only slot_holders would read it
        "run-1",
        lambda: time.sleep(2.6) or "done",
        timeout_s=600,
        out=io.StringIO(),
    )
    assert result == "done"
    assert 1 <= len(looks) <= 2, looks  # at 0.5 s polls it was 4 or 5
    assert all(t - started >= run_guard.SLOT_POLL_S - 0.1 for t in looks)


def test_resolving_the_lineage_sink_builds_no_dagster_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's process_config_and_initialize made a throwaway instance: 1.5-2.7 s."""

    def no_instance(*_a: object, **_k: object) -> None:
        raise AssertionError("an ephemeral Dagster instance was created")

    monkeypatch.setattr(dg.DagsterInstance, "ephemeral", no_instance)
    monkeypatch.setenv(URL_ENV, "http://marquez:5000")
    sink = resolved_lineage_sink(str(tmp_path))
    assert sink.url == "http://marquez:5000" and not isinstance(sink.url, dg.EnvVar)


def test_check_outcomes_are_kept_in_one_statement(tmp_path: Path) -> None:
    """DuckDB runs an executemany row by row: 45 outcomes cost 0.2-0.3 s of the check step."""
    import datetime as dt

    import duckdb

    from fs_assets.transforms.change_record import passed_builds, record_outcomes

    class Recording:
        def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
            self.conn, self.calls = conn, []

        def execute(self, sql: str, params: object = None) -> object:
            self.calls.append(sql)
            return self.conn.execute(sql, params)

        def executemany(self, sql: str, params: object) -> object:
            self.calls.append(f"executemany: {sql}")
            return self.conn.executemany(sql, params)

    now = dt.datetime(2026, 1, 1)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute("create schema meta")
        outcomes = {f"valid_{i}": i % 3 != 0 for i in range(45)}
        recording = Recording(conn)
        record_outcomes(recording, "customer", 7, outcomes, "incremental", now)
        inserts = [c for c in recording.calls if "insert" in c]
        assert len(inserts) == 1 and not inserts[0].startswith("executemany")
        record_outcomes(conn, "customer", 8, {"valid_0": True}, "full", now)  # replaces one
        kept = passed_builds(conn, "customer")
    assert kept == {
        name: ((8, True) if name == "valid_0" else (7, ok)) for name, ok in outcomes.items()
    }
