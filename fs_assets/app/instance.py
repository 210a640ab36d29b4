"""The project's Dagster instance folder: DAGSTER_HOME inside the data folder.

`fs-accelerator build`, `fs-accelerator ui` and the Makefile all use the same instance, so
runs made from the command line show in the UI afterwards. The instance configuration
(`fs_assets/app/dagster.yaml`) sets the `duckdb_warehouse` concurrency pool to one slot: the
DuckDB file has one writer at a time, across every run and executor process.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from fs_assets.model.paths import DataPaths

INSTANCE_TEMPLATE = Path(__file__).with_name("dagster.yaml")
INIT_LOCK = ".instance-init.lock"
INITIALIZED = ".storage-initialized"
# sha256 of the templates earlier versions copied. A copy still byte for byte one of these
# was never edited, and is replaced by the current template (which names the faster event
# log storage); an edited copy is the user's, and stays.
EARLIER_TEMPLATES = frozenset(
    {
        "01dba4923209e3960220a973d04c8aba1036a8b7ab5858ec50d01c15aeeca7ba",
        "03eedf5cdac07baac7619f47614743e50a2eb2a3416e7911efa5e4b3305f5e87",
    }
)


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
    A configuration copied from an earlier template and never edited is brought up to date.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ.setdefault("FS_ACCELERATOR_HOME", str(paths.home))
    if _earlier_template(home / "dagster.yaml"):
        _refresh_template(home)
    if (home / INITIALIZED).exists():
        return home
    with _init_lock(home):
        target = home / "dagster.yaml"
        if not target.exists():
            _write_template(home)
        if not (home / INITIALIZED).exists():
            from dagster import DagsterInstance

            with DagsterInstance.get():  # creates and stamps the storage, once
                pass
            (home / INITIALIZED).touch()
    return home


def _write_template(home: Path) -> None:
    """The current template as the instance's configuration, in one atomic step."""
    partial = home / "dagster.yaml.partial"
    shutil.copyfile(INSTANCE_TEMPLATE, partial)
    os.replace(partial, home / "dagster.yaml")


def _earlier_template(target: Path) -> bool:
    try:
        return hashlib.sha256(target.read_bytes()).hexdigest() in EARLIER_TEMPLATES
    except OSError:
        return False  # none yet, or unreadable: made or reported where it is used


def _refresh_template(home: Path) -> None:
    """Replace an unedited copy of an earlier template with the current one. A folder that
    cannot be written keeps the earlier one: it works, with Dagster's slower storage."""
    with contextlib.suppress(OSError), _init_lock(home):
        if _earlier_template(home / "dagster.yaml"):
            _write_template(home)
