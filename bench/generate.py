"""Benchmark the landing-data generator: throughput per entity and peak memory.

    .venv/bin/python bench/generate.py                      # 1M customers, CSV
    .venv/bin/python bench/generate.py --customers 250000 --format parquet
    .venv/bin/python bench/generate.py --scaling            # 250k vs 1M peak memory

Targets on the 2-core reference machine: >= 400k rows/s overall, >= 500k customer rows/s,
peak memory <= 1 GB, and peak memory flat as the customer count grows.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fs_assets.generator import generate_landing
from fs_assets.model.entities import ENTITY_NAMES

SCALING_SIZES = (250_000, 1_000_000)


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(customers: int, seed: int, out: Path | None, fmt: str, chunk: int) -> None:
    target = out or Path(tempfile.mkdtemp(prefix="fs-generate-"))
    try:
        stats = generate_landing(target, customers, seed=seed, fmt=fmt, chunk_customers=chunk)
        size_mb = sum(f.stat().st_size for f in stats.files) / 1e6
        print(f"customers={customers:,} format={fmt} chunk={chunk:,} out={target}")
        print(f"{'entity':<12}{'rows':>14}{'seconds':>10}{'rows/s':>14}")
        for name in ENTITY_NAMES:
            rows, seconds = stats.rows[name], stats.seconds[name]
            rate = stats.rows_per_second(name)
            print(f"{name:<12}{rows:>14,}{seconds:>10.2f}{rate:>14,.0f}")
        print(
            f"{'total':<12}{stats.total_rows:>14,}{stats.total_seconds:>10.2f}"
            f"{stats.rows_per_second():>14,.0f}"
        )
        print(f"files={len(stats.files)} size={size_mb:,.0f} MB peak_memory={peak_mb():,.0f} MB")
    finally:
        if out is None:
            shutil.rmtree(target, ignore_errors=True)


def scaling(seed: int, fmt: str, chunk: int) -> None:
    """Each size in a fresh process, so each peak is that run's own."""
    for customers in SCALING_SIZES:
        command = [
            sys.executable, __file__, "--customers", str(customers), "--seed", str(seed),
            "--format", fmt, "--chunk", str(chunk),
        ]  # fmt: skip
        result = subprocess.run(command, check=True, capture_output=True, text=True)
        lines = result.stdout.strip().splitlines()
        _, rows, seconds, rate = next(line for line in lines if line.startswith("total")).split()
        peak = lines[-1].split("peak_memory=")[-1]
        print(
            f"customers={customers:>10,}  rows={rows:>11}  seconds={seconds:>6}  "
            f"rows/s={rate:>10}  peak_memory={peak}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="kept; default: temp, removed")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--chunk", type=int, default=100_000, help="customers per part file")
    parser.add_argument("--scaling", action="store_true", help="peak memory at 250k and 1M")
    args = parser.parse_args()
    if args.scaling:
        scaling(args.seed, args.format, args.chunk)
    else:
        run(args.customers, args.seed, args.out, args.format, args.chunk)


if __name__ == "__main__":
    main()
