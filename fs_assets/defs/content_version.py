"""Which run last changed an asset's table, as a materialization's metadata.

An asset that runs on every automation tick (the identity assets: golden ids and golden
customers) materializes whether or not its table changed. A reader that rebuilds in full
whenever its input materializes (the customer features) would then rebuild on every tick.
So such an asset records `content_version`: the run id of the run that last changed its
table. A run that wrote nothing carries the previous materialization's version forward;
a reader compares versions instead of materialization times.
"""

from __future__ import annotations

import dagster as dg

CONTENT_VERSION = "content_version"


def content_version(
    instance: dg.DagsterInstance, key: dg.AssetKey, run_id: str, changed: bool
) -> str:
    """This run's id when it changed the table; else the previous version (if recorded)."""
    if not changed:
        previous = recorded_version(instance.get_latest_materialization_event(key))
        if previous is not None:
            return previous
    return run_id


def recorded_version(event: dg.EventLogEntry | None) -> str | None:
    """The `content_version` a materialization recorded, None when it recorded none."""
    mat = event.asset_materialization if event is not None else None
    value = mat.metadata.get(CONTENT_VERSION) if mat is not None else None
    return value.value if isinstance(value, dg.TextMetadataValue) else None


def version_stamp(event: dg.EventLogEntry | None) -> str:
    """What a reader compares: the content version, or (an asset that records none, or
    never materialized) the materialization time, which changes on every materialization."""
    if event is None:
        return "-"
    return recorded_version(event) or str(event.timestamp)
