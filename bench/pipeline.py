"""Benchmark: generate + full build at N customers, then a 1,000-customer update.

Each phase runs in its own process so its peak memory (ru_maxrss, which includes DuckDB's
native allocations) is its own. Prints wall seconds, rows/s and peak MB per phase, and the
update run's whole-run seconds with every step (from Dagster's event log): raw and mastered
customer, their checks, the customer features and the catalog scanner.

    python bench/pipeline.py                       # 1,000,000 customers
    python bench/pipeline.py --customers 100000 --keep /tmp/fs_bench
    python bench/pipeline.py --keep /tmp/fs_bench --update-only   # another update run
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The update run: the changed customers through raw and mastered, every check of both, and
# the catalog, and the customer features (per customer: updated for the changed ones). The
# other marts rebuild in full and are left out.
UPDATE_SELECTION = (
    "key:raw/customer or key:mastered/customer or key:marts/customer_features "
    "or key:catalog/scanner"
)
# The dashboard pages whose size and seconds the full build reports (bench/pages.py too).
DASHBOARD_PAGES = ("campaign_funnel", "campaign_uplift", "lead_generation", "spend_analysis")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _mb(value: float | None) -> str:
    return "not measured" if value is None else f"{value:,.0f} MB"


class WorkerPeak:
    """The chart-image worker's own peak resident memory (MB), read from its /proc status
    (VmHWM: this process image's high-water mark) every half second while the phase runs;
    None where there is no /proc or no worker ran. Not RUSAGE_CHILDREN: Linux counts into a
    child's ru_maxrss the memory of the parent it was forked from, so that figure is the
    build process's size at the fork, not the worker's."""

    MODULE = b"fs_assets.transforms.marts.chart_images"

    def __init__(self) -> None:
        self.mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WorkerPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            for status in self._worker_status():
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        mb = int(line.split()[1]) / 1024
                        self.mb = max(self.mb or 0.0, mb)

    def _worker_status(self) -> list[str]:
        """The status of each chart-image worker this process started (directly or not)."""
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if self.MODULE in (proc / "cmdline").read_bytes() and _ours(int(proc.name)):
                    found.append((proc / "status").read_text())
            except (OSError, ValueError):  # ended meanwhile, or not ours to read
                continue
        return found


def _ours(pid: int) -> bool:
    """Whether `pid` descends from this process (another run's worker is not measured)."""
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    return False


def phase_generate(home: Path, customers: int) -> dict:
    from fs_assets.generator import generate_landing

    start = time.perf_counter()
    stats = generate_landing(home / "landing", customers=customers, seed=42)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": stats.total_rows, "rows_per_s": stats.total_rows / seconds}


@dataclass
class RunTimes:
    """What one pass over a run's event log tells: each succeeded step's seconds, each
    failed step's first error line, and the run's own wall time (RUN_START to its end)."""

    steps: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    run_seconds: float = 0.0


def run_times(run_id: str) -> RunTimes:
    from dagster import DagsterEventType, DagsterInstance

    from fs_assets.app.build_progress import ERROR_LINE_LIMIT, step_error_line

    ends = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE)
    out = RunTimes()
    starts: dict[str, float] = {}
    run_start = run_end = 0.0
    for rec in DagsterInstance.get().get_records_for_run(run_id, limit=100_000).records:
        ev, at = rec.event_log_entry.dagster_event, rec.event_log_entry.timestamp
        if ev is None:
            continue
        if ev.event_type == DagsterEventType.STEP_START:
            starts[ev.step_key] = at
        elif ev.event_type == DagsterEventType.STEP_SUCCESS:
            out.steps[ev.step_key] = at - starts.get(ev.step_key, 0.0)
        elif ev.event_type == DagsterEventType.STEP_FAILURE:
            error = getattr(ev.event_specific_data, "error", None)
            out.failures[ev.step_key or "?"] = step_error_line(error)
        elif ev.event_type == DagsterEventType.RUN_START:
            run_start = at
        elif ev.event_type in ends:
            run_end = at
            if ev.event_type == DagsterEventType.RUN_FAILURE:  # the run's own reason
                out.failures.setdefault("(run)", (ev.message or "").strip()[:ERROR_LINE_LIMIT])
    # A step that started and never ended: its process died (killed, out of memory).
    for step in starts.keys() - out.steps.keys() - out.failures.keys():
        out.failures[step] = "started and never ended (its process died?)"
    out.run_seconds = max(run_end - run_start, 0.0)
    return out


def step_seconds(run_id: str) -> dict[str, float]:
    return run_times(run_id).steps


def check_modes(run_id: str) -> dict[str, int]:
    """How many check evaluations of the run ran in each mode (metadata `check_mode`)."""
    from dagster import DagsterEventType, DagsterInstance

    modes: dict[str, int] = {}
    records = DagsterInstance.get().get_records_for_run(
        run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION, limit=100_000
    )
    for rec in records.records:
        meta = rec.event_log_entry.dagster_event.event_specific_data.metadata
        mode = meta["check_mode"].value if "check_mode" in meta else "unrecorded"
        modes[mode] = modes.get(mode, 0) + 1
    return modes


def phase_build(home: Path, select: str | None) -> dict:
    from fs_assets.app.build import build
    from fs_assets.model.paths import DataPaths

    start = time.perf_counter()
    import fs_assets.definitions  # noqa: F401  (timed apart: a code server loads it once)

    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = build(DataPaths(home), select=select, out=io.StringIO())
    seconds = time.perf_counter() - start
    steps: dict[str, float] = {}
    modes: dict[str, int] = {}
    failures: dict[str, str] = {}
    run_seconds = 0.0
    for run_id in report.run_ids:
        times = run_times(run_id)
        steps.update(times.steps)
        failures.update(times.failures)
        run_seconds += times.run_seconds
        for mode, n in check_modes(run_id).items():
            modes[mode] = modes.get(mode, 0) + n
    return {
        "seconds": seconds,
        "load_seconds": load_seconds,
        "run_seconds": run_seconds,
        "ok": report.ok,
        "checks_failed": report.checks_failed,
        "steps_failed": failures,
        "check_modes": modes,
        "steps": {k: round(v, 2) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])},
    }


def write_update_file(home: Path, n: int) -> Path:
    """n customers' latest raw versions with a changed risk category and a new modified_at.

    Each call lands a file of its own, a minute after the previous one's versions, so an
    update run can be repeated on a kept data folder (`--update-only`)."""
    import duckdb

    from fs_assets.model.entities import CUSTOMER

    folder = home / "landing" / "customer"
    earlier = len(list(folder.glob("customer_bench_update*.csv")))
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        # Every k-th customer, shifted by one at each update: a spread-out, repeatable set
        # of n, other customers each time (the same ones again would give each key one
        # more version per run: a history that grows with the runs, not a day's update).
        # Sample clauses take no parameters.
        total = conn.execute("select count(*) from mastered.customer").fetchone()[0]
        step = max(total // n, 1)
        cur = conn.execute(
            "select * from mastered.customer "
            "qualify (row_number() over (order by cust_id) + ?) % ? = 0 limit ?",
            [earlier, step, n],
        )
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    stamp = dt.datetime(2025, 1, 1, 12, 0, 0) + dt.timedelta(minutes=earlier)
    suffix = f"_{earlier}" if earlier else ""
    path = folder / f"customer_bench_update{suffix}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
        for i, row in enumerate(rows):
            row["customer_risk_category"] = (
                "High" if row["customer_risk_category"] != "High" else "Low"
            )
            row["modified_at"] = stamp
            writer.writerow([i, *("" if row[c] is None else row[c] for c in CUSTOMER.column_names)])
    return path


def phase_partition(home: Path) -> dict:
    """Refresh one partition (the largest) the way the asset does, table and Parquet."""
    from fs_assets.transforms.duckdb_file import connect_with_retry
    from fs_assets.transforms.regional import write_partition

    conn = connect_with_retry(home / "warehouse.duckdb")
    try:
        country, state, rows = conn.execute(
            "select country, state, count(*) from mastered.customer group by all "
            "order by 3 desc limit 1"
        ).fetchone()
        start = time.perf_counter()
        write_partition(conn, home / "warehouse", country, state)
        seconds = time.perf_counter() - start
    finally:
        conn.close()
    return {"seconds": seconds, "partition": f"{country}|{state}", "rows": rows}


def run_phase(name: str, home: Path, extra: list[str], script: str = __file__) -> dict:
    """Run one phase of `script` in a fresh process; its JSON result."""
    env = {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
    }
    out = subprocess.run(
        [sys.executable, script, "--phase", name, "--home", str(home), *extra],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def update_run(home: Path, customers: int) -> None:
    """Land `customers` changed customers and run UPDATE_SELECTION; print every step."""
    from fs_assets.transforms.landing_files import SETTLE_S

    run_phase("update-file", home, ["--update-customers", str(customers)])
    # The sensor takes a file once it is unchanged across two ticks, so a sensor's run never
    # waits for it to settle; a build started at once would (wait_until_settled).
    time.sleep(SETTLE_S)
    upd = run_phase("build", home, ["--select", UPDATE_SELECTION])
    refresh = upd["steps"].get("raw__customer", 0) + upd["steps"].get("mastered__customer", 0)
    print(
        f"update        {customers:,} changed customers: raw+mastered customer steps "
        f"{refresh:.2f} s; whole run with checks, catalog and features {upd['seconds']:.1f} s "
        f"(the Dagster run {upd['run_seconds']:.1f} s; loading the definitions before it "
        f"{upd['load_seconds']:.1f} s), peak {upd['peak_mb']:.0f} MB, ok={upd['ok']}, "
        f"check evaluations by mode {upd['check_modes']}"
    )
    for step, secs in upd["steps"].items():
        print(f"    {step:40} {secs:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--update-customers", type=int, default=1_000)
    parser.add_argument("--keep", help="data folder to use and keep (default: a temp folder)")
    parser.add_argument(
        "--update-only",
        action="store_true",
        help="only land another update and run it, on the data folder of --keep",
    )
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--select", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        home = Path(args.home)
        if args.phase == "generate":
            result = phase_generate(home, args.customers)
        elif args.phase == "build":
            with WorkerPeak() as worker:
                result = phase_build(home, args.select)
            result["chart_worker_peak_mb"] = worker.mb and round(worker.mb, 1)
        elif args.phase == "partition":
            result = phase_partition(home)
        elif args.phase == "update-file":
            start = time.perf_counter()
            write_update_file(home, args.update_customers)
            result = {"seconds": time.perf_counter() - start}
        else:
            raise SystemExit(f"unknown phase {args.phase}")
        result["peak_mb"] = round(peak_mb(), 1)
        print(json.dumps(result))
        return

    if args.update_only:
        if not args.keep or not (Path(args.keep) / "warehouse.duckdb").exists():
            raise SystemExit("--update-only needs --keep DIR of an earlier full run")
        update_run(Path(args.keep), args.update_customers)
        return
    home = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fs_bench_"))
    if home.exists() and args.keep:
        shutil.rmtree(home)
    (home / "dagster_home").mkdir(parents=True)
    shutil.copyfile(
        ROOT / "fs_assets" / "app" / "dagster.yaml", home / "dagster_home" / "dagster.yaml"
    )
    from fs_assets.transforms.governance.masking_key import create_sample_key, sample_key_path

    create_sample_key(sample_key_path(home))  # the governed views need a key, as run.sh makes
    try:
        gen = run_phase("generate", home, ["--customers", str(args.customers)])
        print(
            f"generate      {args.customers:>9,} customers, {gen['rows']:,} rows: "
            f"{gen['seconds']:.1f} s, {gen['rows_per_s']:,.0f} rows/s, peak {gen['peak_mb']:.0f} MB"
        )
        full = run_phase("build", home, [])
        print(
            f"full build    {full['seconds']:.1f} s wall (all assets and checks), "
            f"peak {full['peak_mb']:.0f} MB (the chart-image worker's own: "
            f"{_mb(full['chart_worker_peak_mb'])}), ok={full['ok']}; the runs "
            f"{full['run_seconds']:.1f} s, their {len(full['steps'])} steps "
            f"{sum(full['steps'].values()):.1f} s; loading the definitions before it "
            f"{full['load_seconds']:.1f} s"
        )
        for step, secs in list(full["steps"].items())[:10]:
            print(f"    {step:40} {secs:7.2f} s")
        from fs_assets.defs.marts import DASHBOARDS_STEP

        steps = full["steps"]
        print(
            f"pages         the four dashboards, one step: "
            f"{steps.get(DASHBOARDS_STEP, 0):.2f} s (marts, filter data, rendering)"
        )
        for slug in DASHBOARD_PAGES:
            page = home / "reports" / f"{slug}.html"
            size = page.stat().st_size if page.exists() else 0
            checks = sum(v for k, v in steps.items() if k.startswith(f"marts__{slug}_"))
            print(f"page          {slug}.html {size:,} bytes; checks {checks:.2f} s")
        part = run_phase("partition", home, [])
        print(
            f"partitions    backfill of all region partitions (one run): "
            f"{full['steps'].get('mastered__customer_by_region', 0):.2f} s; single-partition "
            f"refresh of {part['partition']} ({part['rows']:,} rows): {part['seconds']:.2f} s"
        )
        update_run(home, args.update_customers)
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
