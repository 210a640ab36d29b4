"""The engine seam: one Engine interface, chosen once by the warehouse resource from its
config (EnvVar), a Dagster-free core that does not import resources, and the lineage sink
as a resource (same OPENLINEAGE_* variables)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from fs_assets.engines import ENGINE_ENV
from fs_assets.engines.base import Engine
from fs_assets.engines.duckdb_engine import DuckDBEngine
from fs_assets.lineage.emitter import DeliveryReport, HttpTarget, LineageSink
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from resources.lineage_sink import (
    API_KEY_ENV,
    ENDPOINT_ENV,
    TIMEOUT_ENV,
    URL_ENV,
    LineageSinkResource,
    lineage_sink_from_env,
    resolved_lineage_sink,
)
from resources.warehouse import (
    ENV_SPARK_MASTER,
    ENV_SPARK_WAREHOUSE,
    WarehouseResource,
    warehouse_from_env,
)

# The Dagster-free core modules the seam touches: none may import dagster or resources.
CORE = (
    "fs_assets.transforms.duckdb_file",
    "fs_assets.transforms.raw_history",
    "fs_assets.transforms.mastering",
    "fs_assets.engines",
    "fs_assets.engines.base",
    "fs_assets.engines.duckdb_engine",
    "fs_assets.engines.spark_warehouse",
    "fs_assets.engines.spark_ingest",
    "fs_assets.engines.spark_mastering",
    "fs_assets.engines.spark_regions",
    "fs_assets.engines.spark_governed",
    "fs_assets.engines.spark_marts",
    "fs_assets.engines.spark_engine",
)


def implements_engine(engine: object) -> bool:
    """Every method of the interface is there and callable (not shadowed by a setting)."""
    return isinstance(engine, Engine) and all(callable(getattr(engine, m)) for m in METHODS)


METHODS = (
    "ingest",
    "master",
    "write_partitions",
    "for_checks",
    "for_region_checks",
    "write_governed",
    "build_mart",
    "reading",
    "present",
    "pages_data",
    "close",
)


def test_the_warehouse_resource_builds_the_configured_engine(tmp_path: Path) -> None:
    duck = WarehouseResource(home=str(tmp_path))
    with duck.open_engine() as engine:
        assert isinstance(engine, DuckDBEngine) and implements_engine(engine)
        assert engine.file.path == duck.path and engine.export_dir == duck.export_dir
    spark = WarehouseResource(home=str(tmp_path), engine=" Spark ", spark_warehouse="/x/y")
    with spark.open_engine() as engine:  # no session is started until a step needs one
        assert implements_engine(engine) and engine.name == "spark"
        assert engine.root == "/x/y" and engine.spark_master == "local[*]"
    with pytest.raises(ValueError, match=r"unknown warehouse engine 'sparc'.*duckdb, spark"):
        WarehouseResource(home=str(tmp_path), engine="sparc").open_engine().__enter__()


def test_engine_settings_come_from_config_not_the_environment_at_use_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENGINE_ENV, "spark")
    monkeypatch.setenv(ENV_SPARK_MASTER, "local[1]")
    monkeypatch.setenv(ENV_SPARK_WAREHOUSE, str(tmp_path / "parquet"))
    # A resource built without those settings does not read the environment by itself.
    assert WarehouseResource(home=str(tmp_path)).resolved_engine == "duckdb"
    configured = warehouse_from_env(str(tmp_path))
    assert isinstance(configured.engine, dg.EnvVar) and configured.engine == ENGINE_ENV
    resolved = configured.process_config_and_initialize()
    assert resolved.resolved_engine == "spark"
    with resolved.open_engine() as engine:
        assert engine.spark_master == "local[1]" and engine.root == str(tmp_path / "parquet")


def test_the_duckdb_engine_ingests_masters_and_reports_through_the_interface(
    tmp_path: Path, small_landing: Path
) -> None:
    warehouse = WarehouseResource(home=str(tmp_path))
    paths = sorted((small_landing / "customer").glob("*.csv"))
    with warehouse.open_engine() as engine:
        ingested = engine.ingest(CUSTOMER, paths, "run-1")
        again = engine.ingest(CUSTOMER, paths, "run-2")
        built = engine.master(CUSTOMER, full_refresh=False, reporting_currency="INR")
        with engine.for_region_checks() as region:
            assert not region.region_exists and not region.hive_is_table
        with engine.for_checks([("mastered", CUSTOMER.name)]) as reader:
            (mastered,) = reader.execute("select count(*) from mastered.customer").fetchone()
    assert [o.status for o in ingested.outcomes] == ["ingested"] * len(paths)
    assert [o.status for o in again.outcomes] == ["skipped"] * len(paths)
    assert ingested.rows == again.rows == sum(o.rows_inserted for o in ingested.outcomes) > 0
    assert built.stats.mode == "full" and built.rows == mastered
    assert built.rows + built.rejected == ingested.keys


def test_core_modules_import_neither_dagster_nor_resources() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} "
        "& {'dagster', 'resources', 'pyspark'})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    )
    assert json.loads(out.stdout) == []


def test_no_asset_branches_on_the_engine() -> None:
    """The engine is chosen in one place: WarehouseResource.open_engine."""
    pattern = re.compile(r"resolved_engine|engine ==|engine !=")
    hits = [
        f"{path.relative_to(PROJECT_ROOT)}:{n}"
        for folder in ("fs_assets", "resources", "asset_checks", "sensors")
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line) and "def resolved_engine" not in line
    ]
    assert hits == ["resources/warehouse.py:" + hits[0].rsplit(":", 1)[-1]], hits
    # The marts, the lead lists' counts and the k-anonymity check go through the engine.
    for path in ("fs_assets/defs/marts.py", "fs_assets/defs/governed.py"):
        assert "on_spark" not in (PROJECT_ROOT / path).read_text(encoding="utf-8"), path
    checks = (PROJECT_ROOT / "asset_checks/governance_checks.py").read_text(encoding="utf-8")
    assert "on_spark" not in checks


def test_the_lineage_sink_reads_the_openlineage_variables_through_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in (URL_ENV, API_KEY_ENV, ENDPOINT_ENV, TIMEOUT_ENV):
        monkeypatch.delenv(env, raising=False)
    home = DataPaths(tmp_path)
    plain = resolved_lineage_sink(str(tmp_path))
    assert plain.http_target() is None and plain.lineage_folder == home.lineage
    monkeypatch.setenv(URL_ENV, "http://marquez:5000")
    monkeypatch.setenv(API_KEY_ENV, "k")
    monkeypatch.setenv(ENDPOINT_ENV, "api/v2/lineage")
    monkeypatch.setenv(TIMEOUT_ENV, "2.5")
    url = lineage_sink_from_env().url
    assert isinstance(url, dg.EnvVar) and url == URL_ENV  # resolved by Dagster, not here
    target = resolved_lineage_sink(str(tmp_path)).http_target()
    assert target == HttpTarget("http://marquez:5000", "k", "api/v2/lineage", "2.5")
    explicit = LineageSinkResource(folder=str(tmp_path / "elsewhere"))
    assert explicit.lineage_folder == (tmp_path / "elsewhere").resolve()


def test_a_bad_lineage_timeout_is_a_delivery_failure_and_the_file_keeps_the_event(
    tmp_path: Path,
) -> None:
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-01-01T00:00:00Z",
        run=Run(runId="01890000-0000-7000-8000-000000000000"),
        job=Job(namespace="fs", name="job"),
        producer="https://example.invalid/fs-accelerator",
    )
    report = DeliveryReport(run_id="r")
    LineageSink(tmp_path, HttpTarget("http://127.0.0.1:9", timeout="soon")).deliver([event], report)
    assert report.events == 1 and report.http_delivered == 0
    assert any("HTTP transport" in f and "soon" in f for f in report.failures), report.failures
    assert len((tmp_path / "openlineage.jsonl").read_text().splitlines()) == 1


def test_spark_reads_files_only_where_their_paths_are_escaped() -> None:
    """Hadoop globs a path: a warehouse folder is read only through `read_folders` (which
    escapes it) and a landing file only by the ingest (which escapes its name), so no new
    reader can forget it (tests/test_engines.py reads a warehouse under `wh [1]`)."""
    reader = re.compile(r"\.read\.|\.read$")
    hits = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for folder in ("fs_assets", "resources", "asset_checks", "sensors")
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if reader.search(line.split("#")[0])
    )
    assert sorted(set(hits)) == [
        "fs_assets/engines/spark_ingest.py",
        "fs_assets/engines/spark_warehouse.py",
    ], hits
