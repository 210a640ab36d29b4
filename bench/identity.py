"""Benchmark identity resolution: the generator's multi-source data, linked with Splink.

    .venv/bin/python bench/identity.py --people 100000
    .venv/bin/python bench/identity.py --people 480000      # about 1M source records

Writes core customers only (no accounts or transactions), the CRM and card platform
files, then links them all into a DuckDB file in an owner-only temporary folder (the
tables hold PII; removed at the end unless --keep). Prints record and candidate-pair
counts, seconds per phase, peak MB and pairwise precision/recall against the truth file
(counts and rates only, never a record). Targets (issue 20): precision >= 0.99, recall
>= 0.98 at 100k people; 1M source records in at most 3 minutes and 6 GB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fs_assets.generator.customers import build_customers
from fs_assets.generator.names import build_pools
from fs_assets.generator.sources import generate_sources
from fs_assets.generator.writer import write_part
from fs_assets.identity.evaluate import pairwise_score
from fs_assets.identity.mapping import load_mappings
from fs_assets.identity.model import Training
from fs_assets.identity.pipeline import run_linkage
from fs_assets.model.entities import CUSTOMER


def peak_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_core(landing: Path, people: int, seed: int) -> None:
    """The core banking customer file alone (the rest of the landing zone is not needed)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    chunk = build_customers(rng, 0, people, build_pools(seed))
    write_part(landing / CUSTOMER.name, CUSTOMER, seed, 0, "csv", chunk.columns)


def run(people: int, seed: int, keep: bool, u_pairs: float) -> None:
    work = Path(tempfile.mkdtemp(prefix="fs-identity-"))  # 0700: the tables hold PII
    landing = work / "landing"
    try:
        started = time.perf_counter()
        (landing / CUSTOMER.name).mkdir(parents=True)
        write_core(landing, people, seed)
        stats = generate_sources(landing, seed)
        generated = time.perf_counter() - started
        con = duckdb.connect(str(work / "warehouse.duckdb"))
        con.execute("set enable_progress_bar = false")
        report = run_linkage(
            con, landing, load_mappings(), work / "model.json",
            training=Training(seed=seed, u_max_pairs=u_pairs),
        )  # fmt: skip
        score = pairwise_score(con, stats.truth)
        con.close()
        total = sum(report.seconds.values())
        print(f"people={people:,} seed={seed} (generated in {generated:.1f}s)")
        print("records read: " + ", ".join(f"{s}={n:,}" for s, n in report.records_read.items()))
        print(
            f"records={report.records:,} candidate_pairs={report.candidate_pairs:,} "
            f"scored_pairs={report.scored_pairs:,} review_pairs={report.review_pairs:,} "
            f"golden_customers={report.golden_customers:,} (true people {stats.people:,})"
        )
        for phase, seconds in report.seconds.items():
            print(f"  {phase:<14}{seconds:>8.1f} s")
        print(f"  {'linkage total':<14}{total:>8.1f} s   peak {peak_mb():,.0f} MB")
        print(
            f"pairs: true={score.true_pairs:,} predicted={score.predicted_pairs:,} "
            f"correct={score.correct_pairs:,} unlinked_records={score.records_not_linked}"
        )
        print(f"precision={score.precision:.4f} recall={score.recall:.4f}")
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=100_000, help="core customers")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--u-pairs", type=float, default=Training().u_max_pairs)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    run(args.people, args.seed, args.keep, args.u_pairs)


if __name__ == "__main__":
    main()
