"""Sensors of the project; the definitions module gathers ALL_SENSORS.

All are on by default, so a fresh `dagster dev` refreshes the data product without a
click: the landing sensor requests raw runs for new files, the automation sensor
materializes what follows (fs_assets/defs/automation.py), and the recovery sensor fails runs
whose process died, so their warehouse slot does not block the queue; the lineage sensors
emit OpenLineage events when a run ends. The one schedule, ALL_SCHEDULES, evaluates every
mastered check in full once a week.
"""

import dagster as dg

from sensors.full_checks import full_checks_schedule
from sensors.landing_sensor import landing_sensor
from sensors.lineage_sensor import LINEAGE_SENSORS
from sensors.recovery_sensor import recovery_sensor

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
)

ALL_SENSORS: list[dg.SensorDefinition] = [
    landing_sensor,
    automation_sensor,
    recovery_sensor,
    *LINEAGE_SENSORS,
]

ALL_SCHEDULES: list[dg.ScheduleDefinition] = [full_checks_schedule]

__all__ = ["ALL_SCHEDULES", "ALL_SENSORS"]
