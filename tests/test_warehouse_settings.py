"""DuckDB's memory_limit, threads and temp_directory: from the warehouse resource's config
(or its environment variables) to every build connection, and a clear error naming the
setting when a build needs more memory than it allows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fs_assets.defs.mastered import MASTERED_ASSETS
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.model.paths import DataPaths
from fs_assets.transforms import duckdb_file
from fs_assets.transforms.duckdb_file import ENV_MEMORY_LIMIT, WarehouseWriteError
from resources import default_resources
from resources.landing_zone import LandingZoneResource
from resources.warehouse import ENV_TEMP_DIRECTORY, ENV_THREADS, WarehouseResource

SETTINGS_SQL = (
    "select current_setting('memory_limit'), current_setting('threads'), "
    "current_setting('temp_directory')"
)
LIMIT_AND_RESERVE_SQL = (
    "select current_setting('memory_limit'), current_setting('block_allocator_memory')"
)


@dg.asset
def warehouse_settings(warehouse: WarehouseResource) -> dg.MaterializeResult:
    """What a build step's connection runs with."""
    with warehouse.connect() as conn:
        limit, threads, temp = conn.execute(SETTINGS_SQL).fetchone()
    return dg.MaterializeResult(
        metadata={"memory_limit": limit, "threads": int(threads), "temp_directory": temp}
    )


def test_environment_settings_reach_a_step_connection(
    home: DataPaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spill = tmp_path / "spill dir ü"
    monkeypatch.setenv(ENV_MEMORY_LIMIT, "300MiB")
    monkeypatch.setenv(ENV_THREADS, "1")
    monkeypatch.setenv(ENV_TEMP_DIRECTORY, str(spill))
    result = dg.materialize(
        [warehouse_settings],
        resources=default_resources(str(home.home)),
        instance=dg.DagsterInstance.ephemeral(),
    )
    meta = result.asset_materializations_for_node("warehouse_settings")[0].metadata
    assert meta["memory_limit"].value == "300.0 MiB"
    assert meta["threads"].value == 1
    assert meta["temp_directory"].value == str(spill.resolve())
    assert spill.is_dir()


def test_defaults_bound_memory_and_spill_beside_the_file(tmp_path: Path) -> None:
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"))
    with warehouse.connect() as conn:
        limit, threads, temp = conn.execute(SETTINGS_SQL).fetchone()
    assert limit == "1.8 GiB"  # 2GB, as DuckDB prints it
    assert int(threads) >= 1
    assert temp == str(tmp_path / "w.duckdb.tmp")


@pytest.mark.parametrize("memory_limit", ["2GB", "300MiB", "50%"])
def test_the_block_allocator_is_sized_to_the_memory_limit(
    tmp_path: Path, memory_limit: str
) -> None:
    """Writers and readers keep their buffers' pages in one reserve as large as their
    memory limit (DuckDB's default, 0, returns them to the system after every task). A
    share of memory ('50%', a limit DuckDB takes but not as a reserve) counts as resolved.
    """
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"), memory_limit=memory_limit)
    for read_only in (False, True):
        with warehouse.connect(read_only=read_only) as conn:
            limit, reserve = conn.execute(LIMIT_AND_RESERVE_SQL).fetchone()
        (limit_size, limit_unit), (size, unit) = limit.split(), reserve.split()
        assert unit == limit_unit  # e.g. GiB: DuckDB prints a size in its largest unit
        # DuckDB prints one decimal, so the reserve read back from the printed limit may
        # be 0.1 of that unit below it
        assert float(limit_size) - 0.1 <= float(size) <= float(limit_size)


def test_running_out_of_memory_names_the_setting_to_raise(tmp_path: Path) -> None:
    warehouse = WarehouseResource(database=str(tmp_path / "w.duckdb"), memory_limit="16MB")
    with pytest.raises(WarehouseWriteError) as err, warehouse.connect() as conn:
        # One 100 MB string: an aggregate state DuckDB cannot spill.
        conn.execute("select length(string_agg(repeat('x', 1000), ',')) from range(100000)")
    message = str(err.value)
    assert "memory_limit (15.2 MiB)" not in message  # the configured value, not DuckDB's
    assert "memory_limit (16MB)" in message
    assert ENV_MEMORY_LIMIT in message
    assert isinstance(err.value.__cause__, duckdb.OutOfMemoryException)


def test_a_small_build_under_64MB_spills_and_matches_the_default(
    landed: DataPaths, tmp_path: Path
) -> None:
    """raw and mastered for 1,500 customers (about 40,000 rows) under a 64 MB limit."""
    spill = tmp_path / "spill"

    def build(database: Path, **settings: object) -> list[tuple]:
        result = dg.materialize(
            [*RAW_ASSETS, *MASTERED_ASSETS],
            resources={
                "warehouse": WarehouseResource(database=str(database), **settings),
                "landing": LandingZoneResource(home=str(landed.home)),
            },
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
        with duckdb.connect(str(database), read_only=True) as conn:
            tables = conn.execute(
                "select schema_name, table_name from duckdb_tables() order by all"
            ).fetchall()
            return [
                (schema, name, conn.execute(f'select count(*) from "{schema}"."{name}"').fetchone())
                for schema, name in tables
            ]

    small = build(
        tmp_path / "small.duckdb", memory_limit="64MB", threads=1, temp_directory=str(spill)
    )
    assert small == build(tmp_path / "default.duckdb")
    assert sum(n for _, _, (n,) in small) > 40_000


def test_a_connection_that_fails_its_setup_releases_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Opened, then failing before it is handed over (here: making the file owner-only),
    the connection is closed: another process can take the file at once."""
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()

    def refuse(target: Path) -> None:
        raise PermissionError(f"cannot change the mode of {target}")

    monkeypatch.setattr(duckdb_file, "make_owner_only", refuse)
    # The error is kept, as a caller's log keeps it: its traceback holds the frames.
    with pytest.raises(PermissionError) as failed:
        duckdb_file.connect_with_retry(path, timeout_s=1)
    opens = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"
    other = subprocess.run(
        [sys.executable, "-c", opens, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 0, other.stderr
    assert "cannot change the mode" in str(failed.value)
