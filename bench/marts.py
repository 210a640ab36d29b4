"""Benchmark: the cross-sell marts and dashboards at N customers (default 1M, ~10M transactions).

Builds raw and mastered once (or reuses a kept data folder), then times, each in its own
process so peak memory is its own:

- every mart statement and the chart rendering, called directly (the work itself);
- `fs-accelerator build --select group:marts`: the five assets and their checks as Dagster
  runs them (wall seconds and per-step seconds).

    python bench/marts.py                                # 1,000,000 customers
    python bench/marts.py --customers 100000 --keep /tmp/fs_marts
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
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import peak_mb, phase_build, phase_generate, run_phase  # noqa: E402


def phase_direct(home: Path) -> dict:
    from fs_assets.defs.marts import reports_dir
    from fs_assets.model.keys import MARTS_SCHEMA
    from fs_assets.transforms.marts.charts import funnel_charts, lead_charts, spend_charts
    from fs_assets.transforms.marts.cross_sell import build_cross_sell
    from fs_assets.transforms.marts.dashboards import (
        build_funnel,
        build_lead_generation,
        build_spend_analysis,
    )
    from fs_assets.transforms.marts.features import build_features
    from fs_assets.transforms.marts.report import write_dashboard
    from resources.warehouse import WarehouseResource

    warehouse = WarehouseResource(home=str(home))
    steps: dict[str, float] = {}
    with warehouse.connect() as conn:
        conn.execute(f"create schema if not exists {MARTS_SCHEMA}")
        transactions = conn.execute("select count(*) from mastered.transaction").fetchall()[0][0]
        for name, fn in (
            ("customer_features", build_features),
            ("cross_sell", build_cross_sell),
            ("campaign_funnel", build_funnel),
            ("lead_generation", build_lead_generation),
            ("spend_analysis", build_spend_analysis),
        ):
            start = time.perf_counter()
            rows = fn(conn)
            steps[f"{name} ({rows:,} rows)"] = time.perf_counter() - start
        start = time.perf_counter()
        charts = {
            "campaign_funnel": funnel_charts(conn),
            "lead_generation": lead_charts(conn),
            "spend_analysis": spend_charts(conn),
        }
        steps["read chart rows"] = time.perf_counter() - start
    start = time.perf_counter()
    for slug, cs in charts.items():
        write_dashboard(reports_dir(warehouse), slug, slug, "", {}, cs)
    steps[f"render {sum(len(c) for c in charts.values())} charts + pages"] = (
        time.perf_counter() - start
    )
    return {"transactions": transactions, "steps": steps, "seconds": sum(steps.values())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--keep", help="data folder to use and keep (reused when already built)")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--select", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        home = Path(args.home)
        if args.phase == "generate":
            result = phase_generate(home, args.customers)
        elif args.phase == "build":
            result = phase_build(home, args.select)
        elif args.phase == "direct":
            result = phase_direct(home)
        else:
            raise SystemExit(f"unknown phase {args.phase}")
        result["peak_mb"] = round(peak_mb(), 1)
        print(json.dumps(result))
        return

    home = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fs_marts_"))
    reuse = (home / "warehouse.duckdb").exists()
    if not reuse:
        (home / "dagster_home").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(
            ROOT / "fs_assets" / "app" / "dagster.yaml", home / "dagster_home" / "dagster.yaml"
        )
    try:
        if not reuse:
            gen = run_phase_here("generate", home, ["--customers", str(args.customers)])
            print(f"generate      {gen['rows']:,} rows in {gen['seconds']:.1f} s")
            base = run_phase_here("build", home, ["--select", "group:raw or group:mastered"])
            print(f"raw+mastered  {base['seconds']:.1f} s, ok={base['ok']}")
        direct = run_phase_here("direct", home, [])
        print(
            f"marts, direct {direct['seconds']:.1f} s for {direct['transactions']:,} mastered "
            f"transactions, peak {direct['peak_mb']:.0f} MB"
        )
        for step, secs in direct["steps"].items():
            print(f"    {step:44} {secs:7.2f} s")
        dag = run_phase_here("build", home, ["--select", "group:marts"])
        print(
            f"marts, dagster {dag['seconds']:.1f} s wall (5 assets + 8 checks), "
            f"peak {dag['peak_mb']:.0f} MB, ok={dag['ok']}"
        )
        for step, secs in dag["steps"].items():
            print(f"    {step:44} {secs:7.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def run_phase_here(name: str, home: Path, extra: list[str]) -> dict:
    return run_phase(name, home, extra, script=__file__)


if __name__ == "__main__":
    main()
