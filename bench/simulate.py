"""Benchmark the live sources: seconds per simulated business day, as days accumulate.

    .venv/bin/python bench/simulate.py                        # 1M customers, 10 days
    .venv/bin/python bench/simulate.py --customers 100000 --days 10
    .venv/bin/python bench/simulate.py --no-build             # landing only
    .venv/bin/python bench/simulate.py --error-rate 0.003      # with faults on the days

Generates the population, builds raw and mastered once, then per day lands the day's
batches (`simulate`) and builds raw and mastered incrementally, printing each day's
seconds for both and the build's slowest steps. The figures should stay flat as days
accumulate: a day's cost follows the population and the day's volume, not the number of
days already landed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fs_assets.app.instance import ensure_dagster_home
from fs_assets.generator import generate_landing
from fs_assets.generator.simulate import simulate
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.model.paths import DataPaths

SELECTION = " or ".join(f"key:raw/{e} or key:mastered/{e}" for e in ENTITY_NAMES)
SLOWEST_STEPS = 3  # printed per day


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_seconds(run_ids: list[str]) -> dict[str, float]:
    """Seconds per step of the build's runs (the Dagster event log's step durations)."""
    from dagster import DagsterEventType, DagsterInstance

    seconds: dict[str, float] = {}
    with DagsterInstance.get() as instance:
        for run_id in run_ids:
            for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS):
                event = record.dagster_event
                if event is None or event.step_key is None:
                    continue
                duration = getattr(event.event_specific_data, "duration_ms", 0) or 0
                seconds[event.step_key] = seconds.get(event.step_key, 0.0) + duration / 1000
    return seconds


def _build(paths: DataPaths) -> tuple[float, str]:
    """The build's seconds, and its slowest steps as text."""
    from fs_assets.app.build import build

    started = time.perf_counter()
    report = build(paths, select=SELECTION, out=StringIO())
    if not report.ok:
        raise SystemExit(f"build failed: {report.checks_failed} {report.step_failures}")
    elapsed = time.perf_counter() - started
    steps = sorted(step_seconds(report.run_ids or [report.run_id]).items(), key=lambda s: -s[1])
    return elapsed, ", ".join(f"{k} {v:.1f}s" for k, v in steps[:SLOWEST_STEPS])


def run(
    customers: int, days: int, seed: int, with_build: bool, keep: Path | None, error_rate: float
) -> None:
    root = keep or Path(tempfile.mkdtemp(prefix="fs-simulate-bench-"))
    paths = DataPaths(root)
    os.environ["FS_ACCELERATOR_HOME"] = str(root)
    os.environ["DAGSTER_HOME"] = str(paths.dagster_home)
    try:
        started = time.perf_counter()
        generate_landing(paths.landing, customers, seed=seed)
        print(f"customers={customers:,} generated in {time.perf_counter() - started:.1f}s")
        if with_build:
            ensure_dagster_home(paths)
            seconds, slowest = _build(paths)
            print(f"initial build (raw + mastered): {seconds:.1f}s ({slowest})")
        print(
            f"{'day':<12}{'new':>6}{'changed':>9}{'rescored':>10}{'payments':>10}"
            f"{'land s':>9}{'build s':>9}{'total s':>9}"
        )
        totals = []
        for _ in range(days):
            (report,) = simulate(paths.landing, days=1, seed=seed, error_rate=error_rate)
            build_s, slowest = _build(paths) if with_build else (0.0, "")
            total = report.seconds + build_s
            totals.append(total)
            print(
                f"{report.day!s:<12}{len(report.new_customers):>6}"
                f"{len(report.changed_customers):>9}{len(report.rescores):>10}"
                f"{report.rows.get('transaction', 0):>10}{report.seconds:>9.2f}"
                f"{build_s:>9.2f}{total:>9.2f}  peak {peak_mb():,.0f} MB  {slowest}",
                flush=True,
            )
        half = max(1, len(totals) // 2)
        first, last = totals[:half], totals[-half:]
        print(
            f"seconds per day: first {half} days {sum(first) / len(first):.2f}, last {half} "
            f"days {sum(last) / len(last):.2f}; peak_memory={peak_mb():,.0f} MB"
        )
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-build", action="store_true", help="time the landing only")
    p.add_argument("--keep", type=Path, help="data folder to use and keep (default: temporary)")
    p.add_argument("--error-rate", type=float, default=0.0, help="the days' fault rate")
    args = p.parse_args()
    run(args.customers, args.days, args.seed, not args.no_build, args.keep, args.error_rate)


if __name__ == "__main__":
    main()
