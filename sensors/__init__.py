"""Sensors of the project; the definitions module gathers ALL_SENSORS.

All are on by default, so a fresh `dagster dev` refreshes the data product without a
click: the landing sensor requests raw runs for new files, the automation sensor
materializes what follows (fs_assets/defs/automation.py), and the recovery sensor fails runs
whose process died, so their warehouse slot does not block the queue; the lineage sensors
emit OpenLineage events when a run ends. The one schedule, ALL_SCHEDULES, evaluates every
mastered check in full once a week.
"""

import os

import dagster as dg

from sensors.full_checks import full_checks_schedule
from sensors.landing_sensor import landing_sensor
from sensors.lineage_sensor import LINEAGE_SENSORS
from sensors.recovery_sensor import recovery_sensor

AUTOMATION_INTERVAL_S = 10
# Seconds between automation evaluations, read when the code location loads. The default
# suits production; the end-to-end tests set it lower so the ticks they wait for come
# sooner (the daemon's loop ticks no faster than every 5 s anyway).
AUTOMATION_INTERVAL_ENV = "FS_ACCELERATOR_AUTOMATION_INTERVAL_S"


def automation_interval_s() -> int:
    """The automation sensor's minimum interval: the environment's whole seconds, or 10."""
    raw = os.environ.get(AUTOMATION_INTERVAL_ENV, "").strip()
    if not raw:
        return AUTOMATION_INTERVAL_S
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(
            f"{AUTOMATION_INTERVAL_ENV}={raw!r} must be a whole number of seconds >= 1"
        )
    return int(raw)


# The assets the automation sensor keeps fresh, read when the code location loads: an
# asset selection string (the syntax of `fs-accelerator build --select`); unset, every
# asset. The product keeps every asset; a test that asserts only on mastered narrows it so
# its waits are not spent on the regional partitions and marts below.
AUTOMATION_SELECT_ENV = "FS_ACCELERATOR_AUTOMATION_SELECT"


def automation_target() -> dg.AssetSelection:
    """The environment's selection, or every asset; a selection that does not parse stops
    the code location from loading with the variable's name."""
    raw = os.environ.get(AUTOMATION_SELECT_ENV, "").strip()
    if not raw:
        return dg.AssetSelection.all()
    try:
        return dg.AssetSelection.from_string(raw)
    except dg.DagsterError as exc:
        raise ValueError(
            f"{AUTOMATION_SELECT_ENV}={raw!r} is not an asset selection "
            "(e.g. 'key:mastered/*'); unset it to automate every asset"
        ) from exc


automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=automation_target(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=automation_interval_s(),
)

ALL_SENSORS: list[dg.SensorDefinition] = [
    landing_sensor,
    automation_sensor,
    recovery_sensor,
    *LINEAGE_SENSORS,
]

ALL_SCHEDULES: list[dg.ScheduleDefinition] = [full_checks_schedule]

__all__ = ["ALL_SCHEDULES", "ALL_SENSORS"]
