"""The landing sensor with a real (ephemeral) Dagster instance and an explicit cursor."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from asset_checks.integrity_checks import LANDING_CHECKS
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.model.keys import LEDGER
from fs_assets.model.paths import DataPaths
from resources import LandingZoneResource, WarehouseResource, default_resources
from sensors import (
    ALL_SENSORS,
    AUTOMATION_INTERVAL_ENV,
    AUTOMATION_INTERVAL_S,
    AUTOMATION_SELECT_ENV,
    automation_interval_s,
    automation_sensor,
    automation_target,
)
from sensors.landing_retry import LOST_AFTER_S, MAX_ATTEMPTS
from sensors.landing_sensor import landing_sensor


def tick(
    paths: DataPaths, cursor: str | None, instance: dg.DagsterInstance | None = None
) -> dg.SensorResult:
    """One evaluation of the landing sensor (on a fresh instance unless one is given)."""
    with contextlib.ExitStack() as stack:
        if instance is None:
            instance = stack.enter_context(dg.DagsterInstance.ephemeral())
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


def run_as_sensor_would(
    home: DataPaths, instance: dg.DagsterInstance, request: dg.RunRequest, fail: bool = False
) -> dg.ExecuteInProcessResult:
    """The requested raw.customer run, executed in process under the request's run key.

    `fail`: its warehouse is a folder it cannot open, so it fails before reading a file.
    """
    resources = default_resources(str(home.home))
    if fail:
        broken = DataPaths(home.home.parent / "broken_home")
        broken.warehouse.mkdir(parents=True, exist_ok=True)
        resources["warehouse"] = WarehouseResource(home=str(broken.home))
    return dg.materialize(
        [RAW_ASSETS[0], LANDING_CHECKS[0]],
        instance=instance,
        resources=resources,
        tags={"dagster/run_key": request.run_key, "dagster/sensor_name": "landing_sensor"},
        raise_on_error=False,
    )


def ledger_files(home: DataPaths) -> list[str]:
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        return [r[0] for r in conn.execute(f"select file_name from {LEDGER}").fetchall()]


def test_a_run_that_ended_without_ingesting_has_its_file_requested_again(
    home: DataPaths, one_file: Path
) -> None:
    """The run dies before it reads the file (here: the warehouse cannot be opened): the
    next tick asks again under a new run key; once a run succeeds, the sensor is quiet."""
    one_file.with_name(one_file.name + ".done").touch()
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(home, None, instance)
        [request] = first.run_requests
        waiting = tick(home, first.cursor, instance)  # no run yet: nothing asked again
        assert not waiting.run_requests
        assert not run_as_sensor_would(home, instance, request, fail=True).success
        again = tick(home, waiting.cursor, instance)
        [retry] = again.run_requests
        assert retry.run_key != request.run_key
        assert retry.asset_selection == request.asset_selection
        assert not tick(home, again.cursor, instance).run_requests  # pending, not doubled
        assert run_as_sensor_would(home, instance, retry).success
        assert ledger_files(home) == [one_file.name]
        done = tick(home, again.cursor, instance)
        assert not done.run_requests
        cursor = json.loads(done.cursor)
        assert not cursor["pending"] and not cursor["attempts"]
        assert list(cursor["requested"]) == [str(one_file)]


def test_a_request_whose_run_never_appeared_is_made_again(home: DataPaths, one_file: Path) -> None:
    one_file.with_name(one_file.name + ".done").touch()
    first = tick(home, None)
    cursor = json.loads(first.cursor)
    [entry] = cursor["pending"].values()
    entry["at"] -= LOST_AFTER_S + 1
    again = tick(home, json.dumps(cursor))
    assert len(again.run_requests) == 1
    assert again.run_requests[0].run_key != first.run_requests[0].run_key


def test_a_file_whose_runs_keep_failing_is_given_up_until_it_changes(
    home: DataPaths, one_file: Path
) -> None:
    one_file.with_name(one_file.name + ".done").touch()
    keys = []
    with dg.DagsterInstance.ephemeral() as instance:
        result = tick(home, None, instance)
        for _ in range(MAX_ATTEMPTS):
            [request] = result.run_requests
            keys.append(request.run_key)
            assert not run_as_sensor_would(home, instance, request, fail=True).success
            result = tick(home, result.cursor, instance)
        assert not result.run_requests
        assert "given up" in result.skip_reason.skip_message
        assert "touch the file" in result.skip_reason.skip_message
        assert len(set(keys)) == MAX_ATTEMPTS
        quiet = tick(home, result.cursor, instance)
        assert not quiet.run_requests
        assert str(one_file) in json.loads(quiet.cursor)["given_up"]
        one_file.touch()
        os.utime(one_file, ns=(10**18, 10**18))
        fresh = tick(home, quiet.cursor, instance)
        [request] = fresh.run_requests
        assert request.run_key not in keys
        assert run_as_sensor_would(home, instance, request).success
