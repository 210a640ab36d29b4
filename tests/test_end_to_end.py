"""End to end through the real command-line tools, on a temporary data folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from fs_assets.definitions import defs
from fs_assets.defs.regional import REGION_PARTITIONS
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.model.paths import PROJECT_ROOT, DataPaths

BIN = Path(sys.executable).parent


def run(cmd: list[str], paths: DataPaths, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(paths.home),
        "DAGSTER_HOME": str(paths.dagster_home),
    }
    return subprocess.run(
        cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_dagster_definitions_validate(home: DataPaths) -> None:
    result = run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], home)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_generate_then_build_cli(home: DataPaths) -> None:
    gen = run([str(BIN / "fs-accelerator"), "generate", "--customers", "3000"], home)
    assert gen.returncode == 0, gen.stderr
    built = run([str(BIN / "fs-accelerator"), "build"], home)
    assert built.returncode == 0, built.stdout + built.stderr
    assert "checks: " in built.stdout and " 0 failed" in built.stdout
    total = len(defs.resolve_asset_graph().get_all_asset_keys())
    assert f"[{total}/{total}]" in built.stdout and "warehouse:" in built.stdout
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        assert conn.execute("select count(*) from mastered.customer").fetchone()[0] == 3000


@pytest.mark.slow
def test_multiprocess_materialize_all_shares_the_warehouse(landed: DataPaths) -> None:
    """The default multiprocess executor: the concurrency pool keeps DuckDB writers apart.

    Dagster's CLI does not mix partitioned and unpartitioned assets in one run, so "all" is
    two commands: every unpartitioned asset, then all region partitions as one run.
    """
    dagster = str(BIN / "dagster")
    region = "mastered/customer_by_region"
    first = run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "fs_assets.definitions",
            "--select",
            f"not key:{region}",
        ],
        landed,
        timeout=900,
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    keys = REGION_PARTITIONS.get_partition_keys()
    second = run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "fs_assets.definitions",
            "--select",
            region,
            "--partition-range",
            f"{keys[0]}...{keys[-1]}",
        ],
        landed,
        timeout=900,
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Could not set lock" not in first.stderr + second.stderr
    with duckdb.connect(str(landed.warehouse), read_only=True) as conn:
        for entity in ENTITY_NAMES:
            assert conn.execute(f'select count(*) from mastered."{entity}"').fetchone()[0] > 0
        regional, mastered = conn.execute(
            "select (select count(*) from mastered.customer_by_region),"
            " (select count(*) from mastered.customer)"
        ).fetchone()
    assert regional == mastered
