"""Benchmark: the same raw + mastered build on DuckDB and on Spark, same landing files.

Generates N customers once, then runs each engine's phases in their own processes:
ingest every landing file into raw (each entity's files as one batch, with the ledger),
master every entity (the first build: every key), then an update: a file of 1,000
changed customers ingested and every entity mastered again (incremental where the engine
can). Prints wall seconds and peak memory per phase side by side. Peak memory is the
phase process's ru_maxrss (DuckDB is in-process); for Spark it is the Python driver's
plus the JVM's own high-water mark (VmHWM of the gateway JVM, read from /proc just
before the session stops), so the JVM heap counts.

    python bench/engines.py                         # 1,000,000 customers
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pipeline  # noqa: E402  (the shared phase runner and peak-memory reading)


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
    home: Path, step: str, master: str, memory: str, partitions: int, full_update: bool = False
) -> dict:
    from fs_assets.engines import spark_ingest as si
    from fs_assets.engines import spark_mastering as sm
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import ENTITIES

    conf = {
        "spark.driver.memory": memory,
        "spark.sql.shuffle.partitions": str(partitions),
    }
    started = time.perf_counter()
    with sw.spark_warehouse(
        str(home / "spark" / "warehouse"), home / "spark" / "control.duckdb", master, conf
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
        wh.spark.stop()
    driver_mb = pipeline.peak_mb()
    return {
        "seconds": seconds,
        "session_seconds": session_s,
        "rows": out,
        "modes": modes,
        "jvm_peak_mb": jvm_mb,
        "driver_peak_mb": driver_mb,
        "peak_mb": jvm_mb + driver_mb,
    }


STEPS = ("raw", "mastered", "update")


def run_phase(name: str, home: Path, args: list[str]) -> dict:
    """One phase of this script in a fresh process (pipeline.run_phase), its JSON result."""
    return pipeline.run_phase(name, home, args, script=__file__)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=("csv", "parquet"))
    parser.add_argument("--keep", help="data folder to use and keep (default: a temp folder)")
    parser.add_argument("--master", default=f"local[{os.cpu_count() or 2}]")
    parser.add_argument("--spark-memory", default="4g", help="spark.driver.memory")
    parser.add_argument("--duckdb-memory", default="2GB", help="DuckDB memory_limit (default)")
    parser.add_argument("--shuffle-partitions", type=int, default=2 * (os.cpu_count() or 2))
    parser.add_argument(
        "--full-update", action="store_true", help="Spark masters the update with every key"
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--step", help=argparse.SUPPRESS)
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
                args.spark_memory,
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
        f"--master={args.master}",
        f"--spark-memory={args.spark_memory}",
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
        print(f"cores {os.cpu_count()}, spark master {args.master}, driver memory "
              f"{args.spark_memory}, DuckDB memory_limit {args.duckdb_memory}")  # fmt: skip
        results: dict[tuple[str, str], dict] = {}
        for step in STEPS:
            results["duckdb", step] = run_phase("duckdb", home, ["--step", step, *common])
            results["spark", step] = run_phase("spark", home, ["--step", step, *common])
            for engine in ("duckdb", "spark"):
                got = results[engine, step]
                print(f"  {engine:6} {step:8} {got['seconds']:.1f} s, rows: {got['rows']}",
                      flush=True)  # fmt: skip
            if results["duckdb", step]["rows"] != results["spark", step]["rows"]:
                print(f"  WARNING: row counts differ after {step}")
        print()
        print(f"{'phase':10} {'DuckDB s':>9} {'Spark s':>9} {'ratio':>6}   "
              f"{'DuckDB MB':>9} {'Spark MB':>9} {'(JVM)':>7}")  # fmt: skip
        for step in STEPS:
            d, s = results["duckdb", step], results["spark", step]
            print(
                f"{step:10} {d['seconds']:9.1f} {s['seconds']:9.1f} "
                f"{s['seconds'] / d['seconds']:5.1f}x   {d['peak_mb']:9.0f} {s['peak_mb']:9.0f} "
                f"{s['jvm_peak_mb']:7.0f}"
            )
        d_total = sum(results["duckdb", s]["seconds"] for s in ("raw", "mastered"))
        s_total = sum(results["spark", s]["seconds"] for s in ("raw", "mastered"))
        print(
            f"{'total':10} {d_total:9.1f} {s_total:9.1f} {s_total / d_total:5.1f}x (raw+mastered)"
        )
        print(f"Spark's update builds: {results['spark', 'update']['modes']}")
        starts = [results["spark", s]["session_seconds"] for s in STEPS]
        shown = ", ".join(f"{x:.1f}" for x in starts)
        print(f"(Spark session start-up per phase, not in the figures: {shown} s)")
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
