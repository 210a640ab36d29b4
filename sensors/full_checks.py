"""The weekly full evaluation of every mastered check: the independent proof behind the
incremental evaluations (asset_checks/check_scope.py), on every row of every table."""

import dagster as dg

from fs_assets.defs.keys import mastered_checks_name, mastered_key
from fs_assets.model.entities import ENTITIES

# Sunday 03:00 UTC, when no business day lands files.
FULL_CHECKS_CRON = "0 3 * * 0"

mastered_checks_full = dg.define_asset_job(
    "mastered_checks_full",
    selection=dg.AssetSelection.checks_for_assets(*(mastered_key(e) for e in ENTITIES)),
    description="Every mastered check on every row (full_checks), not only the changed keys.",
    config={"ops": {mastered_checks_name(e): {"config": {"full_checks": True}} for e in ENTITIES}},
)

full_checks_schedule = dg.ScheduleDefinition(
    name="mastered_checks_full_weekly",
    job=mastered_checks_full,
    cron_schedule=FULL_CHECKS_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
