"""Sensors of the project; the definitions module gathers ALL_SENSORS."""

import dagster as dg

ALL_SENSORS: list[dg.SensorDefinition] = []

__all__ = ["ALL_SENSORS"]
