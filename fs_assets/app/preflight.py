"""Before a build starts anything: can it write where it must?

A read-only data folder otherwise surfaces deep inside Dagster as a bare
`sqlite3.OperationalError: unable to open database file`. Writability is probed by
creating and removing a file (permission bits say nothing on a read-only mount, and
nothing for root), for the data folder, the Dagster instance folder and the files the
build rewrites in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fs_assets.model.paths import DataPaths

# The instance's SQLite files a build writes, relative to DAGSTER_HOME.
INSTANCE_FILES = ("history/runs.db", "storage/index.db", "schedules/schedules.db")


class DataFolderNotWritable(RuntimeError):
    """A folder or file the build must write cannot be written; says which and what to do."""


def _existing(folder: Path) -> Path:
    """The folder, or its nearest ancestor that exists (where it would be created)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _probe_folder(folder: Path) -> OSError | None:
    try:
        with tempfile.NamedTemporaryFile(dir=_existing(folder), prefix=".write-probe-"):
            return None
    except OSError as exc:
        return exc


def _probe_file(path: Path) -> OSError | None:
    if not path.exists():
        return None
    try:
        with path.open("r+b"):
            return None
    except OSError as exc:
        return exc


def check_writable(paths: DataPaths) -> None:
    """Raise DataFolderNotWritable naming the first place the build could not write."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or paths.dagster_home)
    problems = [(f, _probe_folder(f)) for f in (paths.home, dagster_home, paths.lineage)]
    problems += [(f, _probe_file(f)) for f in (paths.warehouse,)]
    problems += [(dagster_home / f, _probe_file(dagster_home / f)) for f in INSTANCE_FILES]
    for place, error in problems:
        if error is not None:
            reason = error.strerror or str(error)
            raise DataFolderNotWritable(
                f"cannot write to {place} ({reason}); the build needs the data folder "
                f"{paths.home} and the Dagster instance {dagster_home} writable: fix their "
                "permissions or mount, or point FS_ACCELERATOR_HOME (and DAGSTER_HOME) at "
                "a writable folder. Nothing was started."
            )
