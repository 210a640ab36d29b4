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

The catalog tests share that build (one Spark build of the graph in the suite, not one
per file): the scanner's catalog on the cluster must list the same tables with the same
columns, types (DuckDB's names), row counts and profile values as DuckDB's, a second
scan with nothing rebuilt keeps every profile, a role's export equals DuckDB's, and two
region partitions written on the cluster are scanned as their own table. What differs by
design: a governed table is a VIEW on DuckDB and a BASE TABLE on Spark, every Parquet
column is nullable, and approximate distinct counts come from two different sketches.
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
from typing import Any, NamedTuple

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
from fs_assets.generator import generate_landing
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import MARTS_SCHEMA
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.marts.features import WRITTEN_AT
from tests.spark_graph import MASKING_KEY, materialize_graph, step_seconds

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


class Built(NamedTuple):
    """The graph built from one landing folder on DuckDB and on the cluster."""

    duck: Path
    spark: Path
    engine: dict[str, Any]  # the warehouse settings of the cluster build
    wall: float  # the cluster build's seconds
    steps: dict[str, float]  # its steps' seconds


@pytest.fixture(scope="module")
def built(cluster: str, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The Spark part of the graph (tests/spark_graph.py) materialized through Dagster on
    DuckDB and on the cluster from the same landing files."""
    import dagster as dg

    base = tmp_path_factory.mktemp("graph")
    generate_landing(base / "landing", customers=CUSTOMERS, seed=13)
    duck, spark = base / "duck", base / "spark"
    for home in (duck, spark):
        shutil.copytree(base / "landing", home / "landing")
    materialize_graph(duck)
    engine = {"engine": "spark", "spark_master": cluster, "spark_conf": EXECUTOR_CONF}
    started = time.monotonic()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_graph(spark, instance=instance, **engine)
    wall = time.monotonic() - started
    return Built(duck, spark, engine, wall, step_seconds(instance, result.run_id))


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
    cluster: str, built: Built, record_property
) -> None:
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from resources.warehouse import WarehouseResource

    duck_home, spark_home = built.duck, built.spark
    context = SparkContext._active_spark_context
    assert context is not None and context.master == cluster
    # The driver and two executors, one per worker.
    assert context._jsc.sc().getExecutorMemoryStatus().size() == 3
    record_property("cluster_wall_s", round(built.wall, 1))
    record_property("cluster_step_s", built.steps)
    logging.getLogger(__name__).warning(
        "raw, mastered, governed, marts, profile and scanner of %d customers "
        "on the cluster: %.1f s; steps: %s",
        CUSTOMERS,
        built.wall,
        built.steps,
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


def catalog(home: Path) -> tuple[dict, dict, list]:
    """catalog.tables by name, catalog.columns by (table, column), catalog.customer_profile."""
    from resources.warehouse import WarehouseResource

    with duckdb.connect(str(WarehouseResource(home=str(home)).path), read_only=True) as conn:
        tables = {
            f"{s}.{t}": (kind, rows, fp)
            for s, t, kind, rows, fp in conn.execute(
                "select table_schema, table_name, table_type, row_count, content_fingerprint "
                "from catalog.tables"
            ).fetchall()
        }
        columns = {
            (f"{s}.{t}", c): rest
            for s, t, c, *rest in conn.execute(
                "select table_schema, table_name, column_name, ordinal_position, data_type, "
                "null_count, distinct_count, min_value, max_value, pii_tag from catalog.columns"
            ).fetchall()
        }
        profile = conn.execute(
            "select slice, column_name, data_type, row_count, null_count, distinct_count, "
            "min_value, max_value, top_values from catalog.customer_profile order by 1, 2"
        ).fetchall()
    return tables, columns, profile


def _same_value(a: str | None, b: str | None) -> bool:
    """Min and max as text: numbers compare as numbers (1e-05 and 1.0E-5 are one value)."""
    if a == b:
        return True
    try:
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return False


def _near(a: int | None, b: int | None) -> bool:
    """Two sketches' approximate distinct counts (DuckDB's HyperLogLog, Spark's HLL++):
    within 20% (or 5) of each other; on a few hundred values each errs by up to ~10%."""
    if a is None or b is None:
        return a == b
    return abs(a - b) <= max(5, 0.2 * max(a, b))


# Integer widths: a mart's expression is typed INTEGER by one engine, BIGINT by the other.
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
# Values of one build, not of the data: landing paths, ingest and write times, run ids.
_PER_BUILD = {"_source_file", "_ingested_at", WRITTEN_AT}
# Tables only the DuckDB engine has: its history's past rows apart from the current ones
# (a view joins them; Spark writes one history table), its change record (Spark keeps it
# in the build manifests), and ingest rejects it creates empty (Spark: on a first reject).
_DUCKDB_ONLY = ("meta.master_", "meta.reference_changes", "_history_past", "_ingest_rejects")


def _type(name: str) -> str:
    """Integer widths as one; a decimal's precision aside (a sum's precision is each
    engine's own rule), its scale kept."""
    if name.startswith("DECIMAL(") and "," in name:
        return f"DECIMAL(*,{name.rsplit(',', 1)[1]}"
    return "INTEGER" if name in _INTEGERS else name


@pytest.mark.slow
def test_the_spark_catalog_equals_duckdbs(built: Built) -> None:
    duck_tables, duck_cols, duck_profile = catalog(built.duck)
    spark_tables, spark_cols, spark_profile = catalog(built.spark)
    # Every table on both, with the same row counts, but DuckDB's own storage tables;
    # a governed or history view is a table on Spark.
    assert set(spark_tables) <= set(duck_tables), sorted(set(spark_tables) - set(duck_tables))
    for name in set(duck_tables) - set(spark_tables):
        assert any(part in name for part in _DUCKDB_ONLY), name
        assert "_ingest_rejects" not in name or duck_tables[name][1] == 0, name
    for name, (kind, rows, fp) in spark_tables.items():
        assert (kind, rows) == ("BASE TABLE", duck_tables[name][1]), name
        assert name.startswith("meta.") or fp.startswith("folders:"), name
    assert {"governed.sales_leads", "marts.customer_features", "marts.cross_sell"} <= set(
        spark_tables
    )
    assert sum(n.startswith("governed.") for n in spark_tables) > 10
    # The same columns, positions, types and PII tags; the same profile values.
    assert set(spark_cols) == {k for k in duck_cols if k[0] in spark_tables}
    compared = 0
    for key, (pos, dtype, nulls, distinct, lo, hi, pii) in spark_cols.items():
        d_pos, d_dtype, d_nulls, d_distinct, d_lo, d_hi, d_pii = duck_cols[key]
        assert (pos, _type(dtype), pii) == (d_pos, _type(d_dtype), d_pii), key
        if key[0].startswith("meta.") or key[1] in _PER_BUILD:
            continue
        assert nulls == d_nulls, key
        assert _near(distinct, d_distinct), (key, distinct, d_distinct)
        assert _same_value(lo, d_lo) and _same_value(hi, d_hi), (key, lo, d_lo, hi, d_hi)
        compared += nulls is not None
    assert compared > 500
    # The customer profile: exact counts, so the same values row for row.
    assert duck_profile and len(spark_profile) == len(duck_profile)
    for ours, theirs in zip(duck_profile, spark_profile, strict=True):
        assert ours[:6] == theirs[:6], (ours, theirs)
        assert _same_value(ours[6], theirs[6]) and _same_value(ours[7], theirs[7])
        assert ours[8] == theirs[8], ours[1]


@pytest.mark.slow
def test_a_second_spark_scan_keeps_unchanged_profiles(built: Built) -> None:
    """Nothing rebuilt: every Spark table's folders are the same, so every profile is
    kept (no Spark job); the catalog is unchanged."""
    from fs_assets.defs.keys import SCANNER_KEY

    before = catalog(built.spark)
    result = materialize_graph(built.spark, [SCANNER_KEY], **built.engine)
    meta = result.asset_materializations_for_node("catalog__scanner")[0].metadata
    reused = set(meta["tables_reused"].value)
    spark_names = {n for n in before[0] if not n.startswith("meta.")}
    assert spark_names and spark_names <= reused
    after = catalog(built.spark)
    assert after[1] == before[1]


def _export_rows(home: Path, role: str, parquet=None) -> dict[str, list[tuple]]:
    from fs_assets.model.paths import data_paths
    from fs_assets.transforms.governance.export import export_role, query_role
    from fs_assets.transforms.governance.masking_key import MaskingKey

    paths = data_paths(str(home))
    export_role(paths, role, key=MaskingKey(MASKING_KEY.encode()), parquet=parquet)
    _, tables = query_role(paths, role, "select table_name from duckdb_tables() order by 1")
    return {
        t: sorted(query_role(paths, role, f'select * from "{t}"')[1], key=repr)
        for (t,) in tables
        if t != "_export_info"
    }


@pytest.mark.slow
def test_a_roles_export_on_spark_equals_duckdbs(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fs-accelerator export` on the spark engine copies each governed table from the
    Parquet files of the version its manifest names: the same rows and masked values as
    the DuckDB build's export; a newer folder no manifest names (a writer killed before
    its commit) is never read."""
    from fs_assets.engines import ENGINE_ENV
    from fs_assets.engines.publish import new_version
    from resources.warehouse import resolved_warehouse

    duck, spark = built.duck, built.spark
    role = "restricted-acess"
    assert resolved_warehouse(str(spark)).governed_parquet() is None  # engine unset: DuckDB
    monkeypatch.setenv(ENGINE_ENV, "spark")
    parquet = resolved_warehouse(str(spark)).governed_parquet()
    assert parquet is not None
    ours = _export_rows(duck, role)
    assert ours and all(ours.values())
    # A half-written version beside the current one: rows no reader may see.
    view = next(iter(ours))
    stray = resolved_warehouse(str(spark)).export_dir / "governed" / view / new_version()
    stray.mkdir()
    with duckdb.connect() as conn:
        conn.execute("copy (select 'stray' as x) to ? (format parquet)", [str(stray / "p.parquet")])
    assert _export_rows(spark, role, parquet) == ours


@pytest.mark.slow
def test_the_spark_scan_reads_the_hive_region_layout(built: Built) -> None:
    """Two region partitions written by the engine: the scan lists them as
    mastered.customer_by_region (country and state from the folder names, as text) with
    exactly their customers, from the folders the layout's manifest names."""
    from fs_assets.catalog.spark_scan import scan_spark
    from fs_assets.engines.publish import current_build
    from resources.warehouse import WarehouseResource

    home = built.spark
    warehouse = WarehouseResource(home=str(home), **built.engine)
    folder = current_build(warehouse.export_dir, "customer")["mastered/customer"]
    with duckdb.connect() as conn:
        counts = conn.execute(
            "select country, state, count(*) from read_parquet(?) group by all "
            "order by 3 desc, 1, 2 limit 2",
            [str(folder / "*.parquet")],
        ).fetchall()
    pairs = [(c, s) for c, s, _ in counts]
    with warehouse.open_engine() as engine:
        written = engine.write_partitions(pairs, home / "landing")
    assert written == {(c, s): n for c, s, n in counts}
    with warehouse.spark() as wh:
        scans = {t.name: t for t in scan_spark(wh, {}, {}).tables}
    region = scans["mastered.customer_by_region"]
    assert region.row_count == sum(n for _, _, n in counts) > 0
    columns = {c.name: c for c in region.columns}
    assert columns["country"].data_type == columns["state"].data_type == "VARCHAR"
    assert columns["state"].distinct_count == len({s for _, s in pairs})
    assert {columns["country"].min_value, columns["country"].max_value} == {c for c, _ in pairs}
