"""The landing sensor with a real (ephemeral) Dagster instance and an explicit cursor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from fs_assets.model.paths import DataPaths
from resources import LandingZoneResource, WarehouseResource
from sensors import (
    ALL_SENSORS,
    AUTOMATION_INTERVAL_ENV,
    AUTOMATION_INTERVAL_S,
    AUTOMATION_SELECT_ENV,
    automation_interval_s,
    automation_sensor,
    automation_target,
)
from sensors.landing_sensor import landing_sensor


def tick(paths: DataPaths, cursor: str | None) -> dg.SensorResult:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={
                "landing": LandingZoneResource(home=str(paths.home)),
                "warehouse": WarehouseResource(home=str(paths.home)),
            },
        )
        return landing_sensor(context)


def requested(result: dg.SensorResult) -> dict[str, list[str]]:
    return {r.run_key: [k.to_user_string() for k in r.asset_selection] for r in result.run_requests}


@pytest.fixture
def one_file(home: DataPaths, small_landing: Path) -> Path:
    target = home.landing / "customer"
    target.mkdir(parents=True)
    src = sorted((small_landing / "customer").glob("*.csv"))[0]
    return Path(shutil.copy(src, target / src.name))


def test_sensors_are_on_by_default() -> None:
    for sensor in ALL_SENSORS:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_automation_interval_defaults_to_ten_seconds_and_rejects_nonsense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only the end-to-end tests set the interval lower; the product's stays 10 s."""
    assert automation_sensor.minimum_interval_seconds == AUTOMATION_INTERVAL_S == 10
    monkeypatch.setenv(AUTOMATION_INTERVAL_ENV, " 5 ")
    assert automation_interval_s() == 5
    for bad in ("0", "-3", "2.5", "ten"):
        monkeypatch.setenv(AUTOMATION_INTERVAL_ENV, bad)
        with pytest.raises(ValueError, match=AUTOMATION_INTERVAL_ENV):
            automation_interval_s()


def test_automation_targets_every_asset_unless_a_test_narrows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The product automates every asset; the setting narrows it to a selection, and a
    selection that does not parse is refused with the variable's name."""
    from fs_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    every = graph.get_all_asset_keys()
    assert automation_sensor.asset_selection.resolve(graph) == every
    monkeypatch.setenv(AUTOMATION_SELECT_ENV, " ")
    assert automation_target().resolve(graph) == every
    monkeypatch.setenv(AUTOMATION_SELECT_ENV, "key:mastered/* and not key:mastered/*_history")
    narrowed = {k.to_user_string() for k in automation_target().resolve(graph)}
    assert "mastered/customer" in narrowed and "raw/customer" not in narrowed
    assert not {k for k in narrowed if k.endswith("_history") or not k.startswith("mastered/")}
    for bad in ("key:(", "nonsense words"):
        monkeypatch.setenv(AUTOMATION_SELECT_ENV, bad)
        with pytest.raises(ValueError, match=AUTOMATION_SELECT_ENV):
            automation_target()


def test_waits_until_stable_then_requests_once(home: DataPaths, one_file: Path) -> None:
    first = tick(home, None)
    assert not first.run_requests and "settle" in first.skip_reason.skip_message
    second = tick(home, first.cursor)
    assert list(requested(second).values()) == [["raw/customer"]]
    third = tick(home, second.cursor)
    assert not third.run_requests
    # a restarted daemon resumes from the stored cursor: nothing is requested again
    assert not tick(home, second.cursor).run_requests


def test_done_marker_skips_the_wait(home: DataPaths, one_file: Path) -> None:
    one_file.with_name(one_file.name + ".done").touch()
    result = tick(home, None)
    assert list(requested(result).values()) == [["raw/customer"]]


def test_growing_file_is_not_requested(home: DataPaths, one_file: Path) -> None:
    first = tick(home, None)
    with one_file.open("a") as handle:
        handle.write("")  # same size: still settling only because of the mtime
    os.utime(one_file, ns=(1, 1))
    second = tick(home, first.cursor)
    assert not second.run_requests


def test_changed_file_gets_a_new_run_key(home: DataPaths, one_file: Path) -> None:
    one_file.with_name(one_file.name + ".done").touch()
    first = tick(home, None)
    os.utime(one_file, ns=(10**18, 10**18))
    second = tick(home, first.cursor)
    assert second.run_requests and set(requested(second)) != set(requested(first))


def test_hidden_temporary_and_moved_files(home: DataPaths, one_file: Path) -> None:
    (one_file.parent / ".customer_x.csv.tmp").write_text("half a file")
    (one_file.parent / "notes.txt").write_text("not data")
    one_file.with_name(one_file.name + ".done").touch()
    result = tick(home, None)
    assert len(result.run_requests) == 1
    one_file.unlink()
    after = tick(home, result.cursor)
    assert not after.run_requests
    assert str(one_file) not in after.cursor


def settle(paths: DataPaths, cursor: str | None = None, ticks: int = 3) -> list[dg.SensorResult]:
    """Several consecutive ticks from `cursor`, each resuming from the previous one."""
    results = []
    for _ in range(ticks):
        results.append(tick(paths, cursor))
        cursor = results[-1].cursor
    return results


def test_files_the_build_ingested_start_no_run(built: DataPaths) -> None:
    """After `fs-accelerator build`, a sensor starting from an empty cursor stays quiet."""
    landed = sorted(str(p) for p in built.landing.rglob("*.csv"))
    results = settle(built)
    assert [r.run_requests for r in results] == [[], [], []]
    assert "already ingested" in results[1].skip_reason.skip_message
    cursor = json.loads(results[-1].cursor)
    assert sorted(cursor["known"]) == landed and not cursor["requested"]
    assert results[-1].skip_reason.skip_message == "no new landing files"


def test_same_bytes_under_another_name_start_no_run(built: DataPaths) -> None:
    src = sorted((built.landing / "customer").glob("*.csv"))[0]
    copy = src.with_name("customer copy [1] ü.csv")
    first = settle(built)[-1]
    shutil.copy(src, copy)
    copy.with_name(copy.name + ".done").touch()
    after = tick(built, first.cursor)
    assert not after.run_requests
    assert str(copy) in json.loads(after.cursor)["known"]


def test_new_file_after_a_build_is_requested(built: DataPaths, small_landing: Path) -> None:
    quiet = settle(built)[-1]
    src = sorted((built.landing / "customer").glob("*.csv"))[0]
    changed = src.with_name("customer_change.csv")
    changed.write_bytes(src.read_bytes() + b"\n")  # other bytes: not in the ledger
    changed.with_name(changed.name + ".done").touch()
    result = tick(built, quiet.cursor)
    assert list(requested(result).values()) == [["raw/customer"]]
    assert result.run_requests[0].tags["fs-accelerator/landing-files"] == "1"


def test_a_busy_warehouse_defers_the_ledger_lookup(built: DataPaths) -> None:
    """A writer in another process holds the file: no run, no wait, retried next tick."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
            " sys.stdin.read(); c.close()",
            str(built.warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = settle(built, ticks=2)[-1]
        assert not busy.run_requests
        assert "wait for the ledger" in busy.skip_reason.skip_message
        assert not json.loads(busy.cursor)["known"]
    finally:
        holder.communicate("", timeout=60)
    after = tick(built, busy.cursor)
    assert not after.run_requests and "already ingested" in after.skip_reason.skip_message


def requested_by_automation(
    instance: dg.DagsterInstance, cursor: object
) -> tuple[set[str], object]:
    """One evaluation of every automation condition, as the automation sensor's tick does."""
    from fs_assets.definitions import defs

    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    keys = {r.key.to_user_string() for r in result.results if r.true_subset.size}
    return keys, result.cursor


def test_automation_leaves_a_fresh_build_alone(built: DataPaths) -> None:
    """Eager conditions fire for a dependency updated later than the asset, not for a build.

    The first evaluation records the state it finds; a build that materializes an asset
    after its dependencies leaves nothing to do; a raw table refreshed alone does.
    """
    from io import StringIO

    from fs_assets.app.build import build

    with dg.DagsterInstance.get() as instance:
        first, cursor = requested_by_automation(instance, None)
        again, cursor = requested_by_automation(instance, cursor)
    assert first == again == set()
    # A raw table and all 12 assets below it (raw.customer's 48 would prove the same).
    assert build(built, select="key:raw/campaign+", out=StringIO()).ok
    with dg.DagsterInstance.get() as instance:
        after_build, cursor = requested_by_automation(instance, cursor)
    assert after_build == set()
    assert build(built, select="key:raw/customer", out=StringIO()).ok
    with dg.DagsterInstance.get() as instance:
        after_raw, _ = requested_by_automation(instance, cursor)
    assert {"mastered/customer", "marts/cross_sell"} <= after_raw
