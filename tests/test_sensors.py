"""The landing sensor with a real (ephemeral) Dagster instance and an explicit cursor."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from fs_assets.paths import DataPaths
from resources import LandingZoneResource
from sensors import ALL_SENSORS
from sensors.landing_sensor import landing_sensor


def tick(paths: DataPaths, cursor: str | None) -> dg.SensorResult:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"landing": LandingZoneResource(home=str(paths.home))},
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
