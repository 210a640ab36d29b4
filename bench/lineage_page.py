"""Benchmark: redrawing the lineage page after a run, as the events file grows.

Takes a data folder's `lineage/openlineage.jsonl` (a build's; bench/pipeline.py --keep
leaves one), makes it `--times` times longer by repeating its events (as a year of runs
would: the same datasets, ever more events), and prints the seconds to read the graph back
after one more run's events: from every line (what each run did before the stored graph),
and from the stored graph plus the new lines (graph_state.py). Then the page's render, and
the check each run makes that its events are not in the file yet, with the memory it
allocates: from the stored run ids (graph_state.load_lineage), and from every line (what the
`lineage` command did before).

    python bench/lineage_page.py --home /tmp/fs_bench --times 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fs_assets.lineage.emitter import EVENTS_FILE, emitted_run_ids  # noqa: E402
from fs_assets.lineage.graph import LineageGraph  # noqa: E402
from fs_assets.lineage.graph_state import load_graph, load_lineage  # noqa: E402
from fs_assets.lineage.html import render  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, help="a built data folder")
    parser.add_argument("--times", type=int, default=10, help="repeat its events this often")
    parser.add_argument("--run-lines", type=int, default=20, help="lines of the one more run")
    args = parser.parse_args()
    lines = (Path(args.home) / "lineage" / EVENTS_FILE).read_bytes().splitlines(keepends=True)
    work = Path(tempfile.mkdtemp(prefix="fs_lineage_bench_"))
    try:
        events, state = work / EVENTS_FILE, work / "state.json"
        events.write_bytes(b"".join(lines) * args.times)
        load_graph(events, state)  # the state after the runs so far
        with events.open("ab") as handle:
            handle.write(b"".join(lines[-args.run_lines :]))
        os.sync()  # the file's writeback would land in the timings
        mb = events.stat().st_size / 1e6
        start = time.perf_counter()
        full = LineageGraph.from_file(events)
        full_s = time.perf_counter() - start
        start = time.perf_counter()
        kept = load_graph(events, state)
        kept_s = time.perf_counter() - start
        start = time.perf_counter()
        page = render(kept)
        render_s = time.perf_counter() - start
        assert len(full.datasets) == len(kept.datasets)
        checks = {}
        for name, run_ids in (
            ("stored", lambda: load_lineage(events, state).run_ids),
            ("every line", lambda: emitted_run_ids(events)),
        ):
            start = time.perf_counter()
            assert "00000000-0000-0000-0000-000000000000" not in run_ids()
            seconds = time.perf_counter() - start
            tracemalloc.start()  # again, for its memory (tracing slows it down)
            run_ids()
            checks[name] = (seconds, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        print(
            f"events file {mb:,.1f} MB ({len(lines) * args.times + args.run_lines:,} lines), "
            f"one more run of {args.run_lines} lines: graph from every line {full_s:.3f} s, "
            f"from the stored graph {kept_s:.3f} s (state {state.stat().st_size / 1e6:.1f} MB); "
            f"page render {render_s:.3f} s ({len(page) / 1e6:.1f} MB); "
            "already emitted? "
            + ", ".join(f"from {k} {t:.3f} s, {m / 1e6:.0f} MB" for k, (t, m) in checks.items())
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
