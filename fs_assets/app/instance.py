"""The project's Dagster instance folder: DAGSTER_HOME inside the data folder.

`fs-accelerator build`, `fs-accelerator ui` and the Makefile all use the same instance, so
runs made from the command line show in the UI afterwards. The instance configuration
(`fs_assets/app/dagster.yaml`) sets the `duckdb_warehouse` concurrency pool to one slot: the
DuckDB file has one writer at a time, across every run and executor process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from fs_assets.model.paths import DataPaths

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")
INIT_LOCK = ".instance-init.lock"
INITIALIZED = ".storage-initialized"


@contextlib.contextmanager
def _init_lock(home: Path) -> Iterator[None]:
    """One process at a time sets up an instance folder (held for a moment, once)."""
    with open(home / INIT_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_dagster_home(paths: DataPaths) -> Path:
    """Point DAGSTER_HOME at the project's instance (unless the caller chose one).

    The first process creates the configuration and the SQLite storage under a lock: two
    commands started at once on a new data folder would otherwise both create the schema
    and leave Dagster's storage with two migration heads, which fails every later run.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("FS_ACCELERATOR_HOME", str(paths.home))
    if (home / INITIALIZED).exists():
        return home
    with _init_lock(home):
        target = home / "dagster.yaml"
        if not target.exists():
            partial = home / "dagster.yaml.partial"
            shutil.copyfile(INSTANCE_TEMPLATE, partial)
            os.replace(partial, target)
        if not (home / INITIALIZED).exists():
            from dagster import DagsterInstance

            with DagsterInstance.get():  # creates and stamps the storage, once
                pass
            (home / INITIALIZED).touch()
    return home
