"""Benchmark: the interactive dashboard pages at N customers (size, render and check seconds).

Materializes the page assets with their checks (`fs-accelerator build --select`,
in a process of its own, so its peak memory is its own) on a built data folder, then prints
per page: the asset's and its checks' seconds (from Dagster's event log) and the HTML size
in bytes.

    python bench/pages.py --home /tmp/fs_bench            # a folder bench/pipeline.py kept
    python bench/pages.py --customers 2000                # generate and build one first
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import DASHBOARD_PAGES as PAGES  # noqa: E402
from bench.pipeline import run_phase, step_seconds  # noqa: E402
from fs_assets.defs.marts import DASHBOARDS_STEP  # noqa: E402

SELECTION = " or ".join(f"key:marts/{slug}" for slug in PAGES)


def phase_pages(home: Path) -> dict:
    """Materialize the pages and their checks; seconds per step and each page's size."""
    import io

    from fs_assets.app.build import build
    from fs_assets.model.paths import DataPaths

    paths = DataPaths(home)
    start = time.perf_counter()
    report = build(paths, select=SELECTION, out=io.StringIO())
    seconds = time.perf_counter() - start
    steps: dict[str, float] = {}
    for run_id in report.run_ids:
        steps.update(step_seconds(run_id))
    pages = {}
    for slug in PAGES:
        page = paths.reports / f"{slug}.html"
        pages[slug] = {
            "bytes": page.stat().st_size if page.exists() else 0,
            "check_s": round(
                sum(v for k, v in steps.items() if k.startswith(f"marts__{slug}_")), 2
            ),
        }
    # The four pages are one step (`dashboards`): its seconds are theirs together.
    step = round(steps.get(DASHBOARDS_STEP, 0.0), 2)
    return {"seconds": seconds, "ok": report.ok, "dashboards_s": step, "pages": pages}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", help="a built data folder (default: generate and build one)")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "pages":
        from bench.pipeline import peak_mb

        result = phase_pages(Path(args.home))
        result["peak_mb"] = round(peak_mb(), 1)
        print(json.dumps(result))
        return

    made = args.home is None
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="fs_pages_"))
    try:
        if made:
            (home / "dagster_home").mkdir(parents=True)
            shutil.copyfile(
                ROOT / "fs_assets" / "app" / "dagster.yaml", home / "dagster_home" / "dagster.yaml"
            )
            from fs_assets.transforms.governance.masking_key import (
                create_sample_key,
                sample_key_path,
            )

            create_sample_key(sample_key_path(home))
            run_phase("generate", home, ["--customers", str(args.customers)])
            run_phase("build", home, [])
        result = run_phase("pages", home, [], script=__file__)
        print(
            f"pages         {result['seconds']:.1f} s wall (the pages and their checks), "
            f"peak {result['peak_mb']:.0f} MB, ok={result['ok']}; the pages' one step "
            f"{result['dashboards_s']:.2f} s"
        )
        for slug, p in result["pages"].items():
            print(f"    {slug:18} {p['bytes']:>12,} bytes  checks {p['check_s']:6.2f} s")
    finally:
        if made:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
