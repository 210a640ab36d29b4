"""Benchmark: generate + full build at several sizes, and whether cost grows linearly.

Each size gets a fresh data folder; each phase runs in its own process (bench/pipeline.py's
phases), so its peak memory (ru_maxrss, DuckDB's native allocations included) is its own.
Prints seconds and peak MB per phase, writes the table to bench/results/scaling.csv and
draws seconds against rows (log-log) with a linear reference through the smallest size
to bench/results/scaling.png (Vega-Lite, rendered by vl-convert: no browser, no network).
Every build step's seconds per size go to bench/results/scaling_steps.csv, and the
largest are printed after each size: where the time of a size goes.

    python bench/scaling.py                          # 100,000, 1,000,000, 10,000,000
    python bench/scaling.py 20000 50000 --memory-limit 1GB
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RESULTS = ROOT / "bench" / "results"
DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
FIELDS = ("customers", "rows", "phase", "seconds", "peak_mb", "rows_per_s", "disk_mb")
STEP_FIELDS = ("customers", "step", "seconds")
STEPS_SHOWN = 12  # the largest steps printed per size
# Build steps summed into a phase of their own, by step-key prefix.
STEP_GROUPS = {"raw ingest": "raw__", "mastering": "mastered__"}


def measure(size: int, work: Path) -> tuple[list[dict[str, object]], dict[str, float]]:
    """Generate and build `size` customers in a fresh data folder; one row per phase, and
    the build's seconds per step."""
    from pipeline import run_phase

    from fs_assets.transforms.governance.masking_key import create_sample_key, sample_key_path

    home = work / f"home_{size}"
    (home / "dagster_home").mkdir(parents=True)
    shutil.copyfile(
        ROOT / "fs_assets" / "app" / "dagster.yaml", home / "dagster_home" / "dagster.yaml"
    )
    create_sample_key(sample_key_path(home))  # the governed views need a key, as run.sh makes
    gen = run_phase("generate", home, ["--customers", str(size)])
    build = run_phase("build", home, [])
    if not build["ok"]:
        raise SystemExit(
            f"the build of {size:,} customers failed: steps {build['steps_failed']}; checks "
            f"failed or warned {build['checks_failed']}; its data folder is kept: {home} "
            f"(DAGSTER_HOME={home / 'dagster_home'} shows the runs in the UI)"
        )
    rows = int(gen["rows"])
    table: list[dict[str, object]] = [
        row(size, rows, "generate", gen["seconds"], gen["peak_mb"]),
        {**row(size, rows, "build", build["seconds"], build["peak_mb"]), "disk_mb": disk_mb(home)},
    ]
    for name, prefix in STEP_GROUPS.items():
        seconds = sum(
            s
            for k, s in build["steps"].items()
            if k.startswith(prefix) and "check" not in k and "by_region" not in k
        )
        table.append(row(size, rows, f"build: {name}", seconds, None))
    shutil.rmtree(home, ignore_errors=True)
    return table, build["steps"]


def disk_mb(home: Path) -> int:
    """What the data folder holds after the build: landing files, warehouse, Dagster's."""
    files = (p for p in home.rglob("*") if p.is_file() and not p.is_symlink())
    return round(sum(p.stat().st_size for p in files) / 2**20)


def row(
    size: int, rows: int, phase: str, seconds: float, peak_mb: float | None
) -> dict[str, object]:
    return {
        "customers": size,
        "rows": rows,
        "phase": phase,
        "seconds": round(seconds, 2),
        "peak_mb": "" if peak_mb is None else round(peak_mb),
        "rows_per_s": round(rows / seconds) if seconds else "",
        "disk_mb": "",
    }


def chart_spec(table: list[dict[str, object]]) -> dict[str, object]:
    """Seconds per phase against rows, log-log, with a linear reference for the build."""
    builds = sorted((r for r in table if r["phase"] == "build"), key=lambda r: r["rows"])
    base = builds[0]
    reference = [
        {
            "rows": r["rows"],
            "seconds": float(base["seconds"]) * int(r["rows"]) / int(base["rows"]),
            "phase": "linear from the smallest build",
        }
        for r in builds
    ]
    axis_x = {"field": "rows", "type": "quantitative", "scale": {"type": "log"}}
    axis_x["title"] = "Rows generated (all entities, log scale)"
    axis_y = {"field": "seconds", "type": "quantitative", "scale": {"type": "log"}}
    axis_y["title"] = "Wall seconds (log scale)"
    color = {"field": "phase", "type": "nominal", "title": "Phase"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {
            "text": "fs-accelerator: generate and full build against size",
            "subtitle": "dashed: linear growth from the smallest build",
        },
        "width": 520,
        "height": 340,
        "layer": [
            {
                "data": {"values": [r for r in table if float(r["seconds"]) > 0]},
                "mark": {"type": "line", "point": True},
                "encoding": {"x": axis_x, "y": axis_y, "color": color},
            },
            {
                "data": {"values": reference},
                "mark": {"type": "line", "strokeDash": [6, 4], "color": "gray"},
                "encoding": {"x": axis_x, "y": axis_y, "detail": {"field": "phase"}},
            },
        ],
    }


def write_results(table: list[dict[str, object]], out: Path) -> tuple[Path, Path]:
    import vl_convert as vlc

    out.mkdir(parents=True, exist_ok=True)
    table_path, chart_path = out / "scaling.csv", out / "scaling.png"
    _write_csv(table_path, FIELDS, table)
    chart_path.write_bytes(vlc.vegalite_to_png(json.dumps(chart_spec(table)), scale=1))
    return table_path, chart_path


def write_steps(steps: list[dict[str, object]], out: Path) -> Path:
    path = out / "scaling_steps.csv"
    _write_csv(path, STEP_FIELDS, steps)
    return path


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def read_table(out: Path) -> list[dict[str, object]]:
    """The table a previous run wrote to `out` (none yet: empty)."""
    return [{**r, "rows": int(r["rows"])} for r in _read_csv(out / "scaling.csv")]


def read_steps(out: Path) -> list[dict[str, object]]:
    """The step table a previous run wrote to `out` (none yet: empty)."""
    return _read_csv(out / "scaling_steps.csv")


def _read_csv(path: Path) -> list[dict[str, object]]:
    """A results file's rows, `customers` as a number (no file yet: none)."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [{**r, "customers": int(r["customers"])} for r in csv.DictReader(handle)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="*", default=list(DEFAULT_SIZES))
    parser.add_argument(
        "--memory-limit", help="the warehouse's DuckDB memory_limit for the builds (e.g. 4GB)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--work",
        type=Path,
        help="folder for the sizes' data folders (default: a temporary one, removed at the "
        "end); a size whose build fails keeps its folder here",
    )
    parser.add_argument(
        "--add",
        action="store_true",
        help="keep the other sizes' rows of the table in --out (measure one more size)",
    )
    parser.add_argument(
        "--replot", action="store_true", help="redraw the chart from the table in --out"
    )
    args = parser.parse_args()
    if args.replot:
        print(f"chart: {write_results(read_table(args.out), args.out)[1]}")
        return
    if args.memory_limit:  # the phases' processes inherit it (resources/warehouse.py)
        os.environ["FS_ACCELERATOR_DUCKDB_MEMORY_LIMIT"] = args.memory_limit
    table: list[dict[str, object]] = []
    steps: list[dict[str, object]] = []
    if args.add:
        measured = set(args.sizes)
        table = [r for r in read_table(args.out) if r["customers"] not in measured]
        steps = [r for r in read_steps(args.out) if r["customers"] not in measured]
    head = ("customers", "rows", "phase", "seconds", "peak MB", "rows/s", "disk MB")
    print("{:>11} {:>12} {:<20} {:>8} {:>8} {:>10} {:>8}".format(*head))
    with (
        nullcontext(str(args.work))
        if args.work
        else tempfile.TemporaryDirectory(prefix="fs_bench_scaling_")
    ) as tmp:
        for size in sorted(args.sizes):
            rows, seconds = measure(size, Path(tmp))
            for r in rows:
                table.append(r)
                print(
                    f"{r['customers']:>11,} {r['rows']:>12,} {r['phase']:<20} "
                    f"{r['seconds']:>8.1f} {r['peak_mb']!s:>8} {r['rows_per_s']!s:>10} "
                    f"{r['disk_mb']!s:>8}",
                    flush=True,
                )
            largest = sorted(seconds.items(), key=lambda kv: -kv[1])
            print(f"{'':>11} the build's largest steps at {size:,} customers:")
            for step, secs in largest[:STEPS_SHOWN]:
                print(f"{'':>13}{step:<45} {secs:>8.1f}", flush=True)
            steps += [{"customers": size, "step": k, "seconds": v} for k, v in largest]
            # Written after every size, so a long run stopped at its largest size keeps
            # the sizes it measured.
            table.sort(key=lambda r: int(r["customers"]))  # stable: phases keep their order
            steps.sort(key=lambda r: int(r["customers"]))
            table_path, chart_path = write_results(table, args.out)
            steps_path = write_steps(steps, args.out)
    print(f"table: {table_path}\nsteps: {steps_path}\nchart: {chart_path}")


if __name__ == "__main__":
    main()
