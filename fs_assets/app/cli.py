"""`fs-accelerator`: generate sample data, build the asset graph, update a customer, open the UI."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from fs_assets.model.file_modes import owner_only_umask
from fs_assets.model.paths import PROJECT_ROOT, data_paths

if TYPE_CHECKING:
    from fs_assets.generator.simulate import DayReport

DEMO_INTERVAL_S = 20.0  # a day every 20 s: the sensors (5-10 s) and runs keep up on 2 cores
SIMULATION_STOP_S = 60.0  # a day being written is finished (or removed) within this


def _generate(args: argparse.Namespace) -> int:
    from fs_assets.generator import generate_landing

    paths = data_paths(args.home)
    out = Path(args.out) if args.out else paths.landing
    stats = generate_landing(
        out,
        customers=args.customers,
        seed=args.seed,
        fmt=args.format,
        error_rate=args.error_rate,
    )
    for entity, rows in stats.rows.items():
        print(f"{entity:12} {rows:>12,} rows")
    print(f"wrote {len(stats.files)} files to {out} in {stats.total_seconds:.1f}s")
    if stats.faults is not None:
        kinds = Counter(f.fault for f in stats.faults.faults)
        listed = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        print(f"planted {len(stats.faults.faults)} faults ({listed}); truth: {stats.faults.truth}")
    if args.sources:
        from fs_assets.generator.sources import generate_sources

        more = generate_sources(out, seed=args.seed)
        listed = ", ".join(f"{source} {rows:,}" for source, rows in more.rows.items())
        print(f"other sources: {listed} records of {more.people:,} people; truth: {more.truth}")
    return 0


def _error_rate(text: str) -> float:
    """A share of faulty rows: a number from 0 up to (not including) 1."""
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= rate < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {text}")
    return rate


def _simulate(args: argparse.Namespace) -> int:
    import datetime as dt

    from fs_assets.generator.simulate import SimulationError, simulate

    paths = data_paths(args.home)
    try:
        start = dt.date.fromisoformat(args.start) if args.start else None
        simulate(
            paths.landing,
            days=args.days,
            seed=args.seed,
            start=start,
            fmt=args.format,
            error_rate=args.error_rate,
            on_day=_say_day,
        )
    except (SimulationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _build(args: argparse.Namespace) -> int:
    from fs_assets.app.build import build, print_summary
    from fs_assets.app.run_guard import BuildStopped

    paths = data_paths(args.home)
    try:
        report = build(paths, select=args.select)
    except BuildStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print_summary(report, paths)
    return 0 if report.ok else 1


def _update(args: argparse.Namespace) -> int:
    from fs_assets.app.update_customer import UpdateError, parse_assignments, update_customer

    paths = data_paths(args.home)
    try:
        changes = parse_assignments(args.set) if args.set else None
        result = update_customer(
            paths, args.cust_id, changes, on_wait=lambda msg: print(msg, file=sys.stderr)
        )
    except UpdateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncancelled: nothing was written", file=sys.stderr)
        return 130
    if result is None:
        print("Nothing to update.")
        return 0
    for name, (old, new) in result.changes.items():
        print(f"  {name}: {old!r} -> {new!r}")
    print(f"Updated: change file {result.path}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    from fs_assets.app.instance import ensure_dagster_home
    from fs_assets.app.process_group import run_group

    paths = data_paths(args.home)
    home = ensure_dagster_home(paths)
    print(
        f"Dagster UI on http://{args.host}:{args.port} (instance {home}); Ctrl-C stops it",
        flush=True,
    )
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    # Own process group: Ctrl-C or SIGTERM to this process stops webserver, daemon and
    # code servers too (fs_assets/app/process_group.py).
    if not args.simulate:
        return run_group(cmd, cwd=PROJECT_ROOT, env=os.environ.copy())
    return _ui_with_simulation(args, paths.landing, cmd)


def _say_day(report: DayReport) -> None:
    faults = f"; {len(report.faults)} faults planted" if report.faults else ""
    print(
        f"{report.day}: {len(report.new_customers)} new, {len(report.changed_customers)} changed,"
        f" {len(report.closed_customers)} closed, {len(report.rescores)} re-scored customers;"
        f" {report.rows.get('transaction', 0)} transactions; {len(report.files)} files{faults}"
        f" ({report.seconds:.1f}s)",
        flush=True,
    )


def _ui_with_simulation(args: argparse.Namespace, landing: Path, cmd: list[str]) -> int:
    """The UI, and one simulated day landing every `--interval` seconds while it runs.

    The simulation is a thread of this process: when the UI stops (Ctrl-C, SIGTERM), the
    clock stops with it; killed outright, the process takes the thread along.
    """
    import threading

    from fs_assets.app.process_group import run_group
    from fs_assets.generator.simulate import simulate_every

    stop = threading.Event()
    clock = threading.Thread(
        target=simulate_every,
        name="simulate",
        args=(landing, args.interval, stop, args.seed, args.error_rate),
        kwargs={
            "on_day": _say_day,
            "on_error": lambda exc: print(f"simulate: {exc}", file=sys.stderr, flush=True),
        },
        daemon=True,
    )
    print(f"landing one simulated day every {args.interval:g}s into {landing}", flush=True)
    clock.start()
    try:
        return run_group(cmd, cwd=PROJECT_ROOT, env=os.environ.copy())
    finally:
        stop.set()
        clock.join(timeout=SIMULATION_STOP_S)


def _paths(args: argparse.Namespace) -> int:
    paths = data_paths(args.home)
    for name in ("home", "landing", "warehouse", "dagster_home", "lineage", "reports"):
        print(f"{name:13} {getattr(paths, name)}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fs-accelerator", description=__doc__)
    p.add_argument("--home", help="data folder (default $FS_ACCELERATOR_HOME, else ./data)")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write mock landing files for all entities")
    g.add_argument("--customers", type=int, default=10_000)
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--format", choices=("csv", "parquet"), default="csv")
    g.add_argument("--out", help="folder to write into (default: the landing zone)")
    g.add_argument(
        "--error-rate",
        type=_error_rate,
        default=0.0,
        metavar="R",
        help="plant about R faulty rows per customer (typos, wrong pins, late corrections, "
        "a duplicate file, ...) and list them in <out>.faults.truth.csv beside the folder",
    )
    g.add_argument(
        "--sources",
        action="store_true",
        help="also write the other source systems of sources/*.yaml (a CRM, a card platform) "
        "holding the same people with silo noise, and <out>.sources.truth.csv (ids only)",
    )
    g.set_defaults(func=_generate)

    sim = sub.add_parser(
        "simulate", help="land simulated business days of source changes after what has landed"
    )
    sim.add_argument("--days", type=int, default=1, help="business days to land (default 1)")
    sim.add_argument("--seed", type=int, default=42)
    sim.add_argument("--start", help="first day, YYYY-MM-DD (default: after the last landed)")
    sim.add_argument("--format", choices=("csv", "parquet"), default="csv")
    sim.add_argument(
        "--error-rate",
        type=_error_rate,
        default=0.0,
        metavar="R",
        help="plant about R faulty rows per clean row of each day (rejected new customers, "
        "invalid newer versions, late corrections, wrong currencies, a resent file) and "
        "append them to <landing>.faults.truth.csv beside the folder (default 0)",
    )
    sim.set_defaults(func=_simulate)

    b = sub.add_parser("build", help="materialize the asset graph with all checks")
    b.add_argument("--select", help="Dagster asset selection, e.g. 'key:mastered/customer+'")
    b.set_defaults(func=_build)

    u = sub.add_parser("update-customer", help="change one customer by landing a change file")
    u.add_argument("cust_id")
    u.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="a change; repeat for more; without --set, prompts per attribute",
    )
    u.set_defaults(func=_update)

    ui = sub.add_parser("ui", help="start the Dagster UI on the project's instance")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument(
        "--simulate",
        action="store_true",
        help="land one simulated business day every --interval seconds while the UI runs",
    )
    ui.add_argument("--interval", type=float, default=DEMO_INTERVAL_S, help="seconds per day")
    ui.add_argument("--seed", type=int, default=42, help="the simulation's seed")
    ui.add_argument(
        "--error-rate",
        type=_error_rate,
        default=0.0,
        metavar="R",
        help="the simulated days' fault rate (as simulate --error-rate; make demo passes the "
        "main command's ERROR_RATE)",
    )
    ui.set_defaults(func=_ui)

    pa = sub.add_parser("paths", help="print where the project keeps its data")
    pa.set_defaults(func=_paths)

    from fs_assets.app.governance_cli import add_governance_commands
    from fs_assets.app.lineage_cli import add_lineage_commands

    add_governance_commands(sub)
    add_lineage_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    owner_only_umask()  # the warehouse, exports and reports it writes are owner-only
    if args.home:
        os.environ["FS_ACCELERATOR_HOME"] = str(Path(args.home).resolve())
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
