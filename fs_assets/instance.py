"""The project's Dagster instance folder: DAGSTER_HOME inside the data folder.

`fs-accelerator build`, `fs-accelerator ui` and the Makefile all use the same instance, so
runs made from the command line show in the UI afterwards. The instance configuration
(`fs_assets/dagster.yaml`) sets the `duckdb_warehouse` concurrency pool to one slot: the
DuckDB file has one writer at a time, across every run and executor process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fs_assets.paths import DataPaths

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")


def ensure_dagster_home(paths: DataPaths) -> Path:
    """Point DAGSTER_HOME at the project's instance (unless the caller chose one)."""
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("FS_ACCELERATOR_HOME", str(paths.home))
    return home
