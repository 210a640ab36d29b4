"""Several commands starting at once on a new data folder share one clean instance."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fs_assets.app.instance import EARLIER_TEMPLATES, INSTANCE_TEMPLATE, ensure_dagster_home
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from tests.test_event_log_storage import STORAGE_BLOCK

OPEN_INSTANCE = """
import sys, time
from pathlib import Path
from fs_assets.app.instance import ensure_dagster_home
from fs_assets.model.paths import DataPaths
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.01)
ensure_dagster_home(DataPaths(Path(sys.argv[1])))
from dagster import DagsterInstance
with DagsterInstance.get() as instance:
    print(len(instance.get_runs()))
"""


def test_commands_started_together_leave_one_migration_head(tmp_path: Path) -> None:
    root, go = tmp_path / "fs_home", tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "FS_ACCELERATOR_HOME")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_INSTANCE, str(root), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    time.sleep(2.0)  # every process imported and is waiting for the same moment
    go.touch()
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-2000:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["0", "0", "0"]
    home = root / "dagster_home"
    assert (home / "dagster.yaml").read_text() == (
        PROJECT_ROOT / "fs_assets" / "app" / "dagster.yaml"
    ).read_text()
    for db in (home / "history" / "runs.db", home / "schedules" / "schedules.db"):
        with sqlite3.connect(db) as conn:
            heads = conn.execute("select count(*) from alembic_version").fetchone()[0]
        assert heads == 1, f"{db.name} has {heads} migration heads"


def test_an_unedited_earlier_configuration_is_brought_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data folder made before the template named the faster event log storage gets the
    current template, if its copy was never edited; an edited copy is left as it is."""
    current = INSTANCE_TEMPLATE.read_text()
    assert hashlib.sha256(current.encode()).hexdigest() not in EARLIER_TEMPLATES
    # The template of the previous version: today's without its header's last two lines and
    # the event log storage it names.
    header = "(copied into $DAGSTER_HOME when absent,\n"
    head, rest = current.split(STORAGE_BLOCK)[0].split(header)
    previous = head + "(copied into $DAGSTER_HOME when absent).\n" + rest.split("\n", 2)[2]
    assert hashlib.sha256(previous.encode()).hexdigest() in EARLIER_TEMPLATES
    for name, text, expected in (
        ("unedited", previous, current),
        ("edited", previous + "# mine\n", previous + "# mine\n"),
    ):
        root = tmp_path / name
        (root / "dagster_home").mkdir(parents=True)
        (root / "dagster_home" / "dagster.yaml").write_text(text)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)  # restored after the test
        monkeypatch.delenv("FS_ACCELERATOR_HOME", raising=False)
        home = ensure_dagster_home(DataPaths(root))
        assert (home / "dagster.yaml").read_text() == expected, name
