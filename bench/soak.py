"""Soak: for N minutes, land good and hostile files, kill builds, query and export meanwhile.

Everything runs in a temporary data folder through the real command line
(`fs-accelerator build | export | query | update-customer`, one process group each). Each
iteration lands a few good files (generator subsets, changed customers) and some hostile
ones (bench/soak_files.py: names with spaces, quotes, unicode and glob characters, the same
file twice, a copy, a file still being copied, wrong-typed Parquet, non-UTF-8 bytes,
control characters, empty and header-only files, bad quoting, schema drift, a symlink, a
nested folder), then runs a build and SIGKILLs its process group at a random moment (or
not). A background thread exports, queries and updates customers all along.

At the end, with nothing new landing: a drain build, then one final build that must
succeed within --final-timeout; the mastered tables must equal (rows and a content hash)
a clean build of the good files alone in a fresh folder, no version may be stored twice,
and every file must end as its case requires (good content in raw; a bad file rejected
with a report, warned about, or its rows quarantined with a reason, and never in
mastered). Prints the figures and a verdict per case; exits 1 when the end state is wrong.

    python bench/soak.py                      # 30 minutes
    python bench/soak.py --minutes 2          # a short run
    python bench/soak.py --minutes 2 --keep /tmp/soak --cases empty,symlink
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.soak_check import Verdict, check_files, duplicated_versions, fingerprints  # noqa: E402
from bench.soak_files import HOSTILE_CASES, EntityPool, Factory, Landed  # noqa: E402

CLI = [sys.executable, "-m", "fs_assets.app.cli"]
OP_TIMEOUT_S = 600.0
OPS_ROLE = "analyst"  # the role the ops export and query as
QUERY = f"select count(*) from governed.{OPS_ROLE}_customer"
CHANGE_FILE = re.compile(r"change file (.+)$", re.MULTILINE)


@dataclass
class Figures:
    """What the soak did, printed at the end."""

    builds: Counter = field(default_factory=Counter)  # ok | failed | killed | stuck
    build_seconds: list[float] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)  # (op, outcome)
    op_problems: list[str] = field(default_factory=list)
    landed: list[Landed] = field(default_factory=list)


def env_for(home: Path) -> dict[str, str]:
    env = os.environ.copy()
    env["FS_ACCELERATOR_HOME"] = str(home)
    env["DAGSTER_HOME"] = str(home / "dagster_home")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_build(
    home: Path,
    select: str | None,
    log: Path,
    timeout_s: float,
    kill_after_s: float | None = None,
) -> tuple[str, float]:
    """One `fs-accelerator build` in its own process group: ok, failed, killed or stuck."""
    cmd = [*CLI, "build", *(["--select", select] if select else [])]
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, env=env_for(home), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        outcome = None
        try:
            proc.wait(timeout=kill_after_s if kill_after_s is not None else timeout_s)
        except subprocess.TimeoutExpired:
            outcome = "killed" if kill_after_s is not None else "stuck"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if outcome is None:
        outcome = "ok" if proc.returncode == 0 else "failed"
    return outcome, time.monotonic() - started


class Ops(threading.Thread):
    """Exports, queries and customer updates while builds run (after the first success)."""

    def __init__(self, home: Path, soak: Soak) -> None:
        super().__init__(name="soak-ops", daemon=True)
        self.home, self.soak = home, soak
        self.stop = threading.Event()
        self.started_ops = threading.Event()

    def _run(self, op: str, args: list[str]) -> subprocess.CompletedProcess | None:
        try:
            done = subprocess.run(
                [*CLI, *args],
                env=env_for(self.home),
                capture_output=True,
                text=True,
                timeout=OP_TIMEOUT_S,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            self.soak.figures.ops[(op, "timeout")] += 1
            self.soak.figures.op_problems.append(f"{op}: no answer in {OP_TIMEOUT_S:.0f}s")
            return None
        if done.returncode == 0:
            outcome = "ok"
        elif "Traceback" in done.stderr:
            outcome = "traceback"
            last = done.stderr.strip().splitlines()[-1]
            self.soak.figures.op_problems.append(f"{op}: traceback: {last}")
        else:
            outcome = "clear error"
        self.soak.figures.ops[(op, outcome)] += 1
        return done

    def run(self) -> None:
        rng = random.Random(self.soak.rng.random())
        while not self.stop.is_set():
            if not self.started_ops.wait(timeout=0.5):
                continue
            op = rng.choice(("export", "query", "update-customer"))
            if op == "export":
                self._run(op, ["export", "--role", OPS_ROLE])
            elif op == "query":
                self._run(op, ["query", "--role", OPS_ROLE, QUERY])
            else:
                self._update(rng)
            self.stop.wait(rng.uniform(0.5, 2.0))

    def _update(self, rng: random.Random) -> None:
        pool = self.soak.pools["customer"]
        cust_id = rng.choice(pool.rows)[pool.key_at]
        value = f"Soak Block {rng.randint(1, 10**6)}"
        args = ["update-customer", cust_id, "--set", f"customer_addressline2={value}"]
        done = self._run("update-customer", args)
        match = CHANGE_FILE.search(done.stdout) if done and done.returncode == 0 else None
        if match:
            with self.soak.lock:
                self.soak.figures.landed.append(
                    self.soak.factory.adopt("update-customer", "customer", Path(match.group(1)))
                )


class Soak:
    """One soak run in one work folder."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.home = work / "soak"
        self.rng = random.Random(args.seed)
        self.figures = Figures()
        self.lock = threading.Lock()
        self.cases = list(HOSTILE_CASES) if not args.cases else args.cases.split(",")
        unknown = [c for c in self.cases if c not in HOSTILE_CASES]
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown}; known: {', '.join(HOSTILE_CASES)}")
        self.pools = self._generate_pool()
        self.factory = Factory(self.home / "landing", self.pools, self.rng)
        self.queue: list[str] = []
        self.build_no = itertools.count(1)

    def _generate_pool(self) -> dict[str, EntityPool]:
        from fs_assets.generator import generate_landing
        from fs_assets.model.entities import ENTITIES

        pool_dir = self.work / "pool"
        generate_landing(pool_dir, customers=self.args.customers, seed=self.args.seed)
        return {
            name: EntityPool.read(name, sorted((pool_dir / name).glob("*.csv"))[0], ent.key)
            for name, ent in ENTITIES.items()
        }

    def land(self, items: list[Landed]) -> None:
        self.figures.landed.extend(items)

    def land_initial(self) -> None:
        with self.lock:
            for name, pool in self.pools.items():
                # Not unique: subsets of the same rows may be ingested before it.
                initial = self.factory.good_file(
                    "initial", name, f"{name}_0.csv", pool.rows, unique=False
                )
                self.land([initial])

    def land_batch(self) -> None:
        with self.lock:
            for _ in range(self.rng.randint(1, 3)):
                self.land([self.factory.random_good()])
            if not self.queue and self.figures.builds.total() == 0:
                self.queue = self.rng.sample(self.cases, len(self.cases))
            take = max(3, -(-len(self.cases) // 2)) if self.queue else self.rng.randint(0, 3)
            for _ in range(take):
                case = self.queue.pop() if self.queue else self.rng.choice(self.cases)
                self.land(self.factory.hostile(case))

    def build(self, kill: bool, timeout_s: float) -> str:
        """One build; with `kill`, SIGKILL at a random moment within a typical build's time."""
        durations = self.figures.build_seconds
        kill_after = None
        if kill and durations:  # the first build runs whole, to learn how long one takes
            kill_after = self.rng.uniform(0.5, statistics.median(durations))
        n = next(self.build_no)
        log = self.work / "logs" / f"build_{n:03d}.log"
        outcome, seconds = run_build(self.home, self.args.select, log, timeout_s, kill_after)
        self.figures.builds[outcome] += 1
        if outcome in ("ok", "failed"):
            self.figures.build_seconds.append(seconds)
        print(f"  build {n}: {outcome} after {seconds:.1f}s  ({log})", flush=True)
        return outcome

    def loop(self, ops: Ops) -> None:
        deadline = time.monotonic() + self.args.minutes * 60
        for i in itertools.count(1):
            if time.monotonic() >= deadline or (self.args.iterations and i > self.args.iterations):
                return
            self.land_batch()
            kill = self.rng.random() < self.args.kill_probability
            parallel = self.rng.random() < self.args.parallel_builds
            if parallel:
                side = threading.Thread(target=self.build, args=(False, self.args.build_timeout))
                side.start()
            else:
                side = None
            outcome = self.build(kill, self.args.build_timeout)
            if side:
                side.join()
            if outcome in ("ok", "failed"):
                ops.started_ops.set()
            if outcome == "stuck" or self.figures.builds["stuck"]:
                print("  a build did not finish: ending the loop early", flush=True)
                return

    def reference(self) -> tuple[str, dict]:
        """A clean build of the good files alone, in a fresh folder."""
        import duckdb

        ref = self.work / "reference"
        for n, item in enumerate(self.figures.landed):
            if item.good and item.content is not None:
                suffix = item.path.suffix
                target = ref / "landing" / item.entity / f"good_{n:05d}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.content)
        log = self.work / "logs" / "reference_build.log"
        outcome, seconds = run_build(ref, self.args.select, log, self.args.final_timeout)
        print(f"  reference build: {outcome} after {seconds:.1f}s  ({log})", flush=True)
        if outcome != "ok":
            return outcome, {}
        with duckdb.connect(str(ref / "warehouse.duckdb"), read_only=True) as conn:
            return outcome, fingerprints(conn)


def print_verdicts(verdicts: list[Verdict]) -> int:
    failures = 0
    by_case: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_case.setdefault(v.landed.case, []).append(v)
    for case in sorted(by_case):
        items = by_case[case]
        bad = [v for v in items if not v.ok]
        failures += len(bad)
        if not bad:
            print(f"  PASS {case:20} {len(items):4} file(s): {items[0].detail}")
        for v in bad:
            print(f"  FAIL {case:20} {v.landed.path.name!r}: {v.detail}")
    return failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=30.0, help="how long to land and build")
    p.add_argument("--iterations", type=int, default=0, help="stop after this many (0: no cap)")
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--seed", type=int, default=15)
    p.add_argument("--select", help="asset selection for every build (default: all)")
    p.add_argument("--cases", help=f"comma-separated subset of: {', '.join(HOSTILE_CASES)}")
    p.add_argument("--kill-probability", type=float, default=0.5)
    p.add_argument("--parallel-builds", type=float, default=0.2, help="chance of a 2nd build")
    p.add_argument("--build-timeout", type=float, default=900.0, help="seconds; then 'stuck'")
    p.add_argument("--final-timeout", type=float, default=900.0, help="bound on the final build")
    p.add_argument("--keep", help="work folder to keep (default: a temporary one, removed)")
    args = p.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fs_soak_"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        return soak(args, work, started)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def soak(args: argparse.Namespace, work: Path, started: float) -> int:
    import duckdb

    run = Soak(args, work)
    print(f"soak in {work}: {args.minutes} min, {args.customers} customers, seed {args.seed}")
    run.land_initial()
    ops = Ops(run.home, run)
    ops.start()
    run.loop(ops)
    ops.stop.set()
    ops.join()
    run.factory.wait_for_writers()
    loop_seconds = time.monotonic() - started

    print("final: drain build, then the final build")
    drain = run.build(False, args.final_timeout)
    final_started = time.monotonic()
    final = run.build(False, args.final_timeout) if drain != "stuck" else "stuck"
    final_seconds = time.monotonic() - final_started
    ref_outcome, reference = run.reference()

    problems: list[str] = []
    if final != "ok":
        problems.append(f"final build {final} (bound {args.final_timeout:.0f}s)")
        print(f"  the final build was {final}: what follows is as the last builds left it")
    if ref_outcome != "ok":
        problems.append(f"reference build {ref_outcome}")
    warehouse = run.home / "warehouse.duckdb"
    verdicts: list[Verdict] = []
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            soaked = fingerprints(conn)
            doubles = duplicated_versions(conn)
        print("tables (rows, content hash): soak vs clean build of the good files")
        for table, got in soaked.items():
            want = reference.get(table)
            same = got == want
            print(f"  {'PASS' if same else 'FAIL'} {table:22} {got} vs {want}")
            if not same:
                problems.append(f"{table} differs from the clean build")
        for table, n in doubles.items():
            if n:
                problems.append(f"{table}: {n} (key, modified_at) versions stored twice")
        verdicts = check_files(
            warehouse, run.home / "landing", run.figures.landed, run.work / "logs"
        )
    else:
        problems.append("no warehouse: no build ever succeeded")
    print("files by case:")
    failed_files = print_verdicts(verdicts)
    if failed_files:
        problems.append(f"{failed_files} file(s) not handled as their case requires")
    problems.extend(f"op: {p}" for p in run.figures.op_problems)

    figs = run.figures
    good = sum(1 for x in figs.landed if x.good)
    print(
        f"files landed: {good} good, {len(figs.landed) - good} bad "
        f"({len({x.case for x in figs.landed if not x.good})} bad cases)\n"
        f"builds: {figs.builds.total()} run, {figs.builds['killed']} killed, "
        f"{figs.builds['ok']} succeeded, {figs.builds['failed']} failed, "
        f"{figs.builds['stuck']} stuck\n"
        f"ops: {', '.join(f'{op} {o} {n}' for (op, o), n in sorted(figs.ops.items())) or 'none'}\n"
        f"seconds: loop {loop_seconds:.0f}, final build {final_seconds:.1f}, "
        f"total {time.monotonic() - started:.0f}"
    )
    if problems:
        print("RESULT: FAIL")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("RESULT: PASS (final build ok, tables equal the clean build, every file accounted for)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
