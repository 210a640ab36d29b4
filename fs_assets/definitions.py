"""The code location: one Definitions gathering the defs layer's assets, every check in
`asset_checks/`, every sensor and schedule in `sensors/` and every resource in `resources/`."""

import dagster as dg

from asset_checks import ALL_CHECKS
from fs_assets.defs.catalog import build_catalog_assets
from fs_assets.defs.event_store import quick_in_process_executor
from fs_assets.defs.governed import GOVERNED_ASSETS
from fs_assets.defs.identity import IDENTITY_ASSETS
from fs_assets.defs.marts import MART_ASSETS
from fs_assets.defs.mastered import MASTERED_ASSETS
from fs_assets.defs.mock_sources import mock_sources
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.defs.regional import REGIONAL_ASSETS
from fs_assets.defs.seed_names import SEED_NAME_ASSETS
from fs_assets.defs.sources import SOURCE_ASSETS
from resources import default_resources
from sensors import ALL_SCHEDULES, ALL_SENSORS

DATA_ASSETS = [
    mock_sources,
    *RAW_ASSETS,
    *MASTERED_ASSETS,
    *SOURCE_ASSETS,
    *REGIONAL_ASSETS,
    *SEED_NAME_ASSETS,
    *GOVERNED_ASSETS,
    *MART_ASSETS,
    *IDENTITY_ASSETS,
]
ASSET_CHECKS = ALL_CHECKS
# The catalog is built from everything above: its scanner depends on every asset that
# writes a warehouse table, and its manifest lists their checks.
ALL_ASSETS = [*DATA_ASSETS, *build_catalog_assets(DATA_ASSETS, ASSET_CHECKS)]

# Every run executes its steps in one process. The warehouse pool lets one step write at a
# time anyway, and a process per step (the multiprocess default) cost 5-10 s of start-up
# per step and check: a one-file refresh took minutes in the UI. Its events are written
# without a disk flush each (event_store.py).
defs = dg.Definitions(
    executor=quick_in_process_executor,
    assets=ALL_ASSETS,
    asset_checks=ASSET_CHECKS,
    resources=default_resources(),
    sensors=ALL_SENSORS,
    schedules=ALL_SCHEDULES,
)
