"""End to end through the real command-line tools, on a temporary data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance

from fs_assets.definitions import defs
from fs_assets.defs.regional import REGION_PARTITIONS
from fs_assets.model.entities import ENTITIES, ENTITY_NAMES
from fs_assets.model.paths import PROJECT_ROOT, DataPaths

BIN = Path(sys.executable).parent
# The CLI round trip: what it proves (exit codes, the progress and summary lines, every
# check passing, each generated customer mastered) does not depend on the size.
CLI_CUSTOMERS = 300


def cli_env(paths: DataPaths) -> dict[str, str]:
    """The environment of a command pointed at the data folder and its Dagster instance."""
    return {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(paths.home),
        "DAGSTER_HOME": str(paths.dagster_home),
    }


def run(cmd: list[str], paths: DataPaths, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=PROJECT_ROOT,
        env=cli_env(paths),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_dagster_definitions_validate(home: DataPaths) -> None:
    result = run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], home)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_generate_then_build_cli(home: DataPaths) -> None:
    customers = str(CLI_CUSTOMERS)
    gen = run([str(BIN / "fs-accelerator"), "generate", "--customers", customers], home)
    assert gen.returncode == 0, gen.stderr
    built = run([str(BIN / "fs-accelerator"), "build"], home)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "checks: " in built.stdout and " 0 failed" in built.stdout
    total = len(defs.resolve_asset_graph().get_all_asset_keys())
    assert f"[{total}/{total}]" in built.stdout and "warehouse:" in built.stdout
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from mastered.customer").fetchone()[0] == CLI_CUSTOMERS


@pytest.mark.slow
def materialize(paths: DataPaths, *selection: str) -> subprocess.Popen:
    """`dagster asset materialize -m fs_assets.definitions <selection...>`, started."""
    cmd = [str(BIN / "dagster"), "asset", "materialize", "-m", "fs_assets.definitions"]
    return subprocess.Popen(
        [*cmd, *selection],
        cwd=PROJECT_ROOT,
        env=cli_env(paths),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen, timeout: int = 600) -> str:
    """Wait for a started command; fail with its output unless it exited 0."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-3000:] + err[-3000:]
    return err


def test_two_cli_runs_at_once_share_the_warehouse_and_ingest_each_file_once(
    landed: DataPaths,
) -> None:
    """Two writers at once, the same files twice: two `dagster asset materialize` processes
    ingest every raw table at the same moment. The warehouse pool keeps them apart (no lock
    error), the ingest ledger makes the second ingest of each file a no-op, and mastering
    and all region partitions (one run: the CLI does not mix partitioned and unpartitioned
    assets) then build on raw history without a duplicate version.
    """
    # Dagster's own CLI does not serialize creating a new instance's storage (two at once
    # can leave two migration heads); `fs-accelerator` commands do (test_instance_init).
    with DagsterInstance.get():
        pass
    raw = " or ".join(f"key:raw/{e}" for e in ENTITY_NAMES)
    first, second = (materialize(landed, "--select", raw) for _ in range(2))
    errors = finished(first) + finished(second)
    mastered = " or ".join(f"key:mastered/{e}" for e in ENTITY_NAMES)
    errors += finished(materialize(landed, "--select", mastered))
    keys = REGION_PARTITIONS.get_partition_keys()
    region = ["--select", "mastered/customer_by_region", "--partition-range"]
    errors += finished(materialize(landed, *region, f"{keys[0]}...{keys[-1]}"))
    assert "Could not set lock" not in errors
    with duckdb.connect(str(landed.warehouse), read_only=True) as conn:
        for name in ENTITY_NAMES:
            key = ENTITIES[name].key
            rows, versions = conn.execute(
                f'select count(*), count(distinct ("{key}", modified_at)) from raw."{name}"'
            ).fetchone()
            assert rows == versions > 0, name
            assert conn.execute(f'select count(*) from mastered."{name}"').fetchone()[0] > 0
        regional, customers = conn.execute(
            "select (select count(*) from mastered.customer_by_region),"
            " (select count(*) from mastered.customer)"
        ).fetchone()
    assert regional == customers
