"""The Spark engine's assets on a real standalone cluster: one master, two workers.

The master and the workers are started on 127.0.0.1 by
`fs_assets.engines.spark_cluster.standalone_cluster` (the pyspark package's own
`bin/spark-class`, which needs only Java 17), which returns once both workers are
registered and kills every process at the end, whatever happens. Dagster then
materializes the raw and mastered assets of every entity with the warehouse resource
pointed at the cluster (`spark_master='spark://127.0.0.1:<port>'`, 512 MB and one core
per executor), and the results must equal the DuckDB engine's built from the same
landing files. The work must have run on the two workers' executors, not in local mode.

The graph is the part that runs on Spark (tests/spark_graph.py): raw, mastered, every
role's governed tables, every mart (with its dashboard), the lead list, the customer
profile and the catalog scanner. Every table version a manifest names must be read alike
by plain PySpark, pyarrow and DuckDB, with the DuckDB build's row counts, and the
scanner's catalog must give those counts too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")

from fs_assets.defs.marts import MART_ASSETS
from fs_assets.engines.publish import BUILDS, current_build
from fs_assets.engines.spark_cluster import (
    EXECUTOR_CLASS,
    alive_workers,
    executor_pids,
    session_conf,
    standalone_cluster,
)
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import MARTS_SCHEMA
from fs_assets.transforms.governance import GOVERNED_SCHEMA

CUSTOMERS = 200
EXECUTOR_CONF = {
    **session_conf(executor_memory="512m"),
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
}


def _stop_active_session() -> None:
    """A session left by another test would be reused by getOrCreate, in local mode."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """spark://127.0.0.1:<port> with two one-core workers; every process killed after."""
    with standalone_cluster(tmp_path_factory.mktemp("cluster")) as running:
        _stop_active_session()
        try:
            yield running.url
        finally:
            # A broken driver (a JVM gone after a timeout) must not keep the cluster
            # running: the block ends, and the processes are killed, whatever this raises.
            with contextlib.suppress(Exception):
                _stop_active_session()


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_executor_pids_are_the_applications_executors() -> None:
    """An executor is found by its JVM class and its application id on the command line
    (the engines benchmark counts their memory); another application's is not."""
    sleeper = [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"]
    fake = subprocess.Popen(
        [*sleeper, EXECUTOR_CLASS, "--app-id", "app-bench-1"], stdout=subprocess.PIPE, text=True
    )
    try:
        # Until the child has exec'd, /proc shows the parent's command line (a CI failure).
        assert fake.stdout is not None and fake.stdout.readline().strip() == "up"
        assert executor_pids("app-bench-1") == [fake.pid]
        assert executor_pids("app-bench-2") == []
    finally:
        fake.kill()
        fake.wait()


@pytest.mark.slow
def test_the_cluster_starts_registered_and_stops_whatever_happens() -> None:
    """Both workers are registered with the master when the block starts; a block that
    raises still stops the master and the workers and deletes the temporary folder."""
    with pytest.raises(RuntimeError, match="the block failed"), standalone_cluster() as running:
        folder, pids = running.folder, running.pids
        assert running.url.startswith("spark://127.0.0.1:")
        assert alive_workers(running.ui_url) == 2
        assert len(pids) == 3 and all(_running(pid) for pid in pids)
        assert (folder / "master.log").exists() and (folder / "worker1.log").exists()
        raise RuntimeError("the block failed")
    assert not any(_running(pid) for pid in pids)
    assert not folder.exists()


# A process that starts the cluster, prints its JVMs' pids and waits to be terminated.
HOLDER = """
import sys, time
from fs_assets.engines.spark_cluster import standalone_cluster
with standalone_cluster() as running:
    print(" ".join(map(str, running.pids)), running.folder, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
def test_a_terminated_holder_stops_the_cluster() -> None:
    """SIGTERM to the process that holds the cluster (a `timeout`, a scheduler) kills the
    master and the workers and removes the folder: they do not outlive it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        line = holder.stdout.readline()
        assert line, f"the cluster did not start (exit {holder.poll()})"
        *pids, folder = line.split()
        assert len(pids) == 3 and all(_running(int(p)) for p in pids)
        holder.terminate()
        assert holder.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        holder.kill()
    assert not any(_running(int(p)) for p in pids)
    assert not Path(folder).exists()


def _plain_readers(spark, duck: duckdb.DuckDBPyConnection, folder: Path) -> int:
    """The rows of one table version as plain PySpark, pyarrow and DuckDB read it (the
    folder a manifest names); they must agree."""
    import pyarrow.parquet as pq

    files = sorted(str(p) for p in folder.iterdir() if p.suffix == ".parquet")
    by_spark = spark.read.parquet(str(folder)).count()
    by_arrow = pq.read_table(files).num_rows
    (by_duckdb,) = duck.execute("select count(*) from read_parquet(?)", [files]).fetchone()
    assert by_spark == by_arrow == by_duckdb, (folder, by_spark, by_arrow, by_duckdb)
    return by_duckdb


@pytest.mark.slow
def test_the_assets_on_a_standalone_cluster_equal_duckdb(
    cluster: str, tmp_path: Path, record_property
) -> None:
    import dagster as dg
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from fs_assets.generator import generate_landing
    from resources.warehouse import WarehouseResource
    from tests.spark_graph import materialize_graph, step_seconds

    landing = tmp_path / "landing"
    generate_landing(landing, customers=CUSTOMERS, seed=13)
    duck_home, spark_home = tmp_path / "duck", tmp_path / "spark"
    for home in (duck_home, spark_home):
        shutil.copytree(landing, home / "landing")
    materialize_graph(duck_home)
    started = time.monotonic()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_graph(
        spark_home,
        instance=instance,
        engine="spark",
        spark_master=cluster,
        spark_conf=EXECUTOR_CONF,
    )
    wall = time.monotonic() - started
    steps = step_seconds(instance, result.run_id)
    context = SparkContext._active_spark_context
    assert context is not None and context.master == cluster
    # The driver and two executors, one per worker.
    assert context._jsc.sc().getExecutorMemoryStatus().size() == 3
    record_property("cluster_wall_s", round(wall, 1))
    record_property("cluster_step_s", steps)
    logging.getLogger(__name__).warning(
        "raw, mastered, governed, marts, profile and scanner of %d customers "
        "on the cluster: %.1f s; steps: %s",
        CUSTOMERS,
        wall,
        steps,
    )

    spark = SparkSession.getActiveSession()
    spark_root = WarehouseResource(home=str(spark_home)).export_dir
    duck_db = WarehouseResource(home=str(duck_home)).path
    with duckdb.connect(str(duck_db), read_only=True) as conn:
        for name, ent in ENTITIES.items():
            cols = ", ".join(f'"{c}"' for c in ent.column_names)
            ours = conn.execute(f'select {cols} from mastered."{name}" order by all').fetchall()
            folder = current_build(spark_root, name).get(f"mastered/{name}")
            assert folder is not None, name
            assert _plain_readers(spark, conn, folder) == len(ours), name
            theirs = conn.execute(
                f"select {cols} from read_parquet(?) order by all", [str(folder / "*.parquet")]
            ).fetchall()
            assert ours and ours == theirs, name
        # Every governed table and every mart: the DuckDB build's row counts, read alike
        # by the three plain readers from the version its manifest names.
        builds = sorted(p.stem for p in (spark_root / BUILDS).glob("*.json"))
        shared = [b for b in builds if b.split(".", 1)[0] in (GOVERNED_SCHEMA, MARTS_SCHEMA)]
        marts = {f"{MARTS_SCHEMA}.{k.path[-1]}" for a in MART_ASSETS for k in a.keys}
        assert len(shared) > 10 and marts <= set(shared), sorted(marts - set(shared))
        for build in shared:
            schema, name = build.split(".", 1)
            folder = current_build(spark_root, build)[f"{schema}/{name}"]
            (rows,) = conn.execute(f'select count(*) from {schema}."{name}"').fetchone()
            assert _plain_readers(spark, conn, folder) == rows > 0, build
        duck_catalog = dict(
            conn.execute(
                "select table_schema || '.' || table_name, row_count from catalog.tables"
            ).fetchall()
        )
    # The scanner ran on the cluster over those tables: their row counts in its catalog.
    with duckdb.connect(str(WarehouseResource(home=str(spark_home)).path), read_only=True) as c:
        spark_catalog = dict(
            c.execute(
                "select table_schema || '.' || table_name, row_count from catalog.tables"
            ).fetchall()
        )
        (profiled,) = c.execute("select count(*) from catalog.customer_profile").fetchone()
    assert profiled > 0
    assert {f"{b.split('.', 1)[0]}.{b.split('.', 1)[1]}" for b in shared} <= set(spark_catalog)
    for name, rows in spark_catalog.items():
        assert rows == duck_catalog[name], name
