"""Benchmark: the same raw + mastered build on DuckDB and on Spark, same landing files.

Generates N customers once, then runs each engine's phases in their own processes:
ingest every landing file into raw (each entity's files as one batch, with the ledger),
master every entity (the first build: every key), then an update: a file of 1,000
changed customers ingested and every entity mastered again (incremental where the engine
can). Spark runs on `--master` (default local[<cores>]) and, with `--cluster`, also on a
standalone cluster started here (fs_assets.engines.spark_cluster: a master and two
one-core workers on 127.0.0.1, an executor of `--executor-memory` each, stopped at the
end), each into a warehouse of its own. Prints one table per phase: wall seconds, the
ratio to DuckDB and peak memory of every engine. Peak memory is the phase process's
ru_maxrss (DuckDB is in-process); for Spark it is the Python driver's plus the JVM's own
high-water mark (VmHWM of the gateway JVM, read from /proc just before the session
stops), so the JVM heap counts, plus on the cluster every executor JVM's VmHWM (read at
the same moment); the master's and the workers' daemon JVMs are not counted (printed
apart).

    python bench/engines.py                         # 1,000,000 customers
    python bench/engines.py --cluster               # Spark on local[N] and on the cluster
    python bench/engines.py --customers 200000 --keep /tmp/fs_engines
    python bench/engines.py --customers 100000 --full-update  # Spark masters the update
                                                              # with every key (compare)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pipeline  # noqa: E402  (the shared phase runner and peak-memory reading)

from fs_assets.engines import spark_cluster  # noqa: E402


def proc_hwm_mb(pid: int) -> float:
    """Peak resident memory of another live process (Linux /proc), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def landing_files(home: Path, entity: str) -> list[Path]:
    from fs_assets.transforms.landing_files import is_landing_file

    return sorted(p for p in (home / "landing" / entity).iterdir() if is_landing_file(p))


def phase_generate(home: Path, customers: int, fmt: str) -> dict:
    from fs_assets.generator import generate_landing

    start = time.perf_counter()
    stats = generate_landing(home / "landing", customers=customers, seed=42, fmt=fmt)
    return {"seconds": time.perf_counter() - start, "rows": stats.rows}


def phase_duckdb(home: Path, step: str, memory_limit: str) -> dict:
    from fs_assets.engines import duckdb_engine
    from fs_assets.model.entities import ENTITIES
    from fs_assets.transforms import mastering
    from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS, connect_with_retry

    if step == "update":
        update_file(home)  # before the warehouse is opened: it reads it on its own
    conn = connect_with_retry(home / "duckdb" / "warehouse.duckdb", memory_limit=memory_limit)
    for schema in LAYER_SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    start = time.perf_counter()
    out: dict = {}
    try:
        for name, ent in ENTITIES.items():
            if step == "raw":
                duckdb_engine.ingest_files(conn, ent, landing_files(home, name))
                out[name] = conn.execute(f"select count(*) from raw.{name}").fetchone()[0]
            else:
                if step == "update" and name == "customer":
                    duckdb_engine.ingest_files(conn, ent, [update_file(home)])
                mastering.build_mastered(conn, ent)
                out[name] = conn.execute(f"select count(*) from mastered.{name}").fetchone()[0]
    finally:
        conn.close()
    return {"seconds": time.perf_counter() - start, "rows": out, "peak_mb": pipeline.peak_mb()}


UPDATE_CUSTOMERS = 1_000
# Each cluster executor (one core, one per worker): the 4 GB driver plus two of these stay
# well inside the machine's 24 GB, and each task has a little more heap than local[2]'s
# two task threads sharing the driver's 4 GB.
CLUSTER_EXECUTOR_MEMORY = "3g"


def update_file(home: Path) -> Path:
    """The update's landing file (bench/pipeline.py's: changed risk categories, a newer
    modified_at), written once from DuckDB's mastered customers, then read by both."""
    path = home / "landing" / "customer" / "customer_bench_update.csv"
    if not path.exists():
        link = home / "warehouse.duckdb"  # where pipeline.write_update_file reads
        link.unlink(missing_ok=True)
        link.symlink_to(home / "duckdb" / "warehouse.duckdb")
        pipeline.write_update_file(home, UPDATE_CUSTOMERS)
        link.unlink()
    return path


def phase_spark(
    home: Path,
    step: str,
    master: str,
    folder: str,
    memory: str,
    executor_memory: str,
    partitions: int,
    full_update: bool = False,
) -> dict:
    """One step on Spark at `master`, the warehouse in `home/folder`; on a standalone
    master (spark://), one executor of `executor_memory` per worker."""
    from fs_assets.engines import spark_ingest as si
    from fs_assets.engines import spark_mastering as sm
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import ENTITIES

    conf = {
        "spark.driver.memory": memory,
        "spark.sql.shuffle.partitions": str(partitions),
    }
    if master.startswith("spark://"):
        conf.update(spark_cluster.session_conf(executor_memory))
    started = time.perf_counter()
    with sw.spark_warehouse(
        str(home / folder / "warehouse"), home / folder / "control.duckdb", master, conf
    ) as wh:
        wh.spark.sparkContext.setLogLevel("ERROR")
        session_s = time.perf_counter() - started
        start = time.perf_counter()
        out: dict = {}
        modes: dict[str, str] = {}
        for name, ent in ENTITIES.items():
            if step == "raw":
                si.ingest_files(wh, ent, landing_files(home, name))
                out[name] = wh.read("raw", name, sw.raw_ddl(ent)).count()
            else:
                if step == "update" and name == "customer":
                    si.ingest_files(wh, ent, [update_file(home)])
                full = full_update and step == "update"
                modes[name] = sm.build_mastered(wh, ent, full_refresh=full).mode
                out[name] = wh.read("mastered", name).count()
        seconds = time.perf_counter() - start
        jvm = wh.spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
        jvm_mb = proc_hwm_mb(jvm)
        executors = spark_cluster.executor_pids(wh.spark.sparkContext.applicationId)
        executor_mb = sum(proc_hwm_mb(pid) for pid in executors)
        wh.spark.stop()
    driver_mb = pipeline.peak_mb()
    return {
        "seconds": seconds,
        "session_seconds": session_s,
        "rows": out,
        "modes": modes,
        "jvm_peak_mb": jvm_mb,
        "driver_peak_mb": driver_mb,
        "executors": len(executors),
        "executor_peak_mb": executor_mb,
        "peak_mb": jvm_mb + driver_mb + executor_mb,
    }


STEPS = ("raw", "mastered", "update")
STEP_TITLES = {
    "raw": "raw (every landing file)",
    "mastered": "mastered (every entity, every key: the first build)",
    "update": f"update ({UPDATE_CUSTOMERS:,} customers: ingest + master every entity)",
}
DUCKDB = "DuckDB"


@dataclass(frozen=True)
class SparkRun:
    """Spark on one master, into a warehouse folder of its own under the data folder."""

    label: str  # its column in the tables
    master: str
    folder: str


def run_phase(name: str, home: Path, args: list[str]) -> dict:
    """One phase of this script in a fresh process (pipeline.run_phase), its JSON result."""
    return pipeline.run_phase(name, home, args, script=__file__)


def counted(got: dict) -> str:
    """What a Spark phase's peak MB adds up."""
    parts = f"Python {got['driver_peak_mb']:,.0f} + driver JVM {got['jvm_peak_mb']:,.0f}"
    if got["executors"]:
        parts += f" + {got['executors']} executor JVMs {got['executor_peak_mb']:,.0f}"
    return parts


def print_phase(step: str, results: dict[tuple[str, str], dict], runs: list[SparkRun]) -> None:
    """One phase's table: seconds, ratio to DuckDB and peak MB per engine."""
    duck = results[DUCKDB, step]
    print(f"\n{STEP_TITLES[step]}")
    print(f"  {'engine':24} {'seconds':>8} {'/ DuckDB':>8} {'peak MB':>8}   peak MB counts")
    print(f"  {DUCKDB:24} {duck['seconds']:8.1f} {'':8} {duck['peak_mb']:8,.0f}   the process")
    for run in runs:
        got = results[run.label, step]
        ratio = got["seconds"] / duck["seconds"]
        print(
            f"  {run.label:24} {got['seconds']:8.1f} {ratio:7.1f}x {got['peak_mb']:8,.0f}   "
            + counted(got)
        )


def print_summary(results: dict[tuple[str, str], dict], runs: list[SparkRun]) -> None:
    """The raw + mastered totals, Spark's update builds and its session start-ups."""
    first_build = ("raw", "mastered")
    duck = sum(results[DUCKDB, s]["seconds"] for s in first_build)
    print(f"\ntotal (raw + mastered): {DUCKDB} {duck:.1f} s", end="")
    for run in runs:
        total = sum(results[run.label, s]["seconds"] for s in first_build)
        print(f"; {run.label} {total:.1f} s ({total / duck:.1f}x)", end="")
    print()
    for run in runs:
        print(f"{run.label}'s update builds: {results[run.label, 'update']['modes']}")
        shown = ", ".join(f"{results[run.label, s]['session_seconds']:.1f}" for s in STEPS)
        print(f"  (its session start-up per phase, not in the figures: {shown} s)")


def run_steps(home: Path, runs: list[SparkRun], common: list[str]) -> dict[tuple[str, str], dict]:
    """Every step on DuckDB, then on each Spark run; a line per phase as it ends."""
    results: dict[tuple[str, str], dict] = {}
    for step in STEPS:
        results[DUCKDB, step] = run_phase("duckdb", home, ["--step", step, *common])
        for run in runs:
            where = [f"--master={run.master}", f"--spark-dir={run.folder}"]
            results[run.label, step] = run_phase("spark", home, ["--step", step, *where, *common])
        for label in (DUCKDB, *(run.label for run in runs)):
            got = results[label, step]
            print(f"  {label:24} {step:8} {got['seconds']:.1f} s, rows: {got['rows']}", flush=True)
            if got["rows"] != results[DUCKDB, step]["rows"]:
                print(f"  WARNING: {label}'s row counts differ from DuckDB's after {step}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=("csv", "parquet"))
    parser.add_argument("--keep", help="data folder to use and keep (default: a temp folder)")
    parser.add_argument("--master", default=f"local[{os.cpu_count() or 2}]")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="also run Spark on a standalone master and two one-core workers on 127.0.0.1",
    )
    parser.add_argument("--spark-memory", default="4g", help="spark.driver.memory")
    parser.add_argument(
        "--executor-memory",
        default=CLUSTER_EXECUTOR_MEMORY,
        help="each cluster executor's spark.executor.memory (and its worker's memory)",
    )
    parser.add_argument("--duckdb-memory", default="2GB", help="DuckDB memory_limit (default)")
    parser.add_argument("--shuffle-partitions", type=int, default=2 * (os.cpu_count() or 2))
    parser.add_argument(
        "--full-update", action="store_true", help="Spark masters the update with every key"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--spark-dir", default="spark", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        home = Path(args.home)
        if args.phase == "generate":
            result = phase_generate(home, args.customers, args.format)
        elif args.phase == "duckdb":
            result = phase_duckdb(home, args.step, args.duckdb_memory)
        else:
            result = phase_spark(
                home,
                args.step,
                args.master,
                args.spark_dir,
                args.spark_memory,
                args.executor_memory,
                args.shuffle_partitions,
                args.full_update,
            )
        print(json.dumps(result))
        return

    home = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fs_engines_"))
    if home.exists() and args.keep:
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    common = [
        f"--spark-memory={args.spark_memory}",
        f"--executor-memory={args.executor_memory}",
        f"--duckdb-memory={args.duckdb_memory}",
        f"--shuffle-partitions={args.shuffle_partitions}",
        *(["--full-update"] if args.full_update else []),
    ]
    try:
        gen = run_phase("generate", home, ["--customers", str(args.customers), "--format",
                                           args.format])  # fmt: skip
        rows = gen["rows"]
        print(
            f"{args.customers:,} customers ({args.format}): "
            + ", ".join(f"{k} {v:,}" for k, v in rows.items())
            + f" rows; generated in {gen['seconds']:.1f} s"
        )
        print(f"cores {os.cpu_count()}, Spark driver memory {args.spark_memory}, "
              f"DuckDB memory_limit {args.duckdb_memory}")  # fmt: skip
        runs = [SparkRun(f"Spark {args.master}", args.master, "spark")]
        with ExitStack() as stack:
            if args.cluster:
                started = time.perf_counter()
                cluster = stack.enter_context(
                    spark_cluster.standalone_cluster(worker_memory=args.executor_memory)
                )
                runs.append(SparkRun("Spark cluster", cluster.url, "spark_cluster"))
                print(f"cluster {cluster.url}: {spark_cluster.WORKERS} workers of "
                      f"{spark_cluster.WORKER_CORES} core, an executor of "
                      f"{args.executor_memory} each; workers registered in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            results = run_steps(home, runs, common)
            for step in STEPS:
                print_phase(step, results, runs)
            print_summary(results, runs)
            if args.cluster:
                daemons = sum(proc_hwm_mb(pid) for pid in cluster.pids)
                print(f"(the cluster's master and worker daemons, not counted: {daemons:,.0f} MB)")
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
