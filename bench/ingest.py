"""Benchmark: 1,000-row customer files merged into raw histories of growing size.

The history is synthetic (the generator's rows, copied under new keys) so that a 1M-row
history takes seconds to make. A file holds 500 new versions of keys spread over the
whole history, 250 of its versions delivered again unchanged and 250 new keys, so no
zone map or statistic can skip the history. `--files N` lands N such files at once (one
batch). Each figure is the median of `--repeat` ingests, each into a fresh copy of the
same history file.

    python bench/ingest.py                      # histories of 100,000 and 1,000,000 rows
    python bench/ingest.py --sizes 100000 --repeat 5 --files 20
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FILE_ROWS = 1_000
SYNTHETIC_KEY_BASE = 5_000_000_000  # above the generator's ids: no clash with its keys


def make_history(db: Path, template: Path, rows: int) -> None:
    """A raw.customer of `rows` versions: the template's rows under new, ordered keys."""
    import duckdb

    from fs_assets.engines.duckdb_engine import ingest_file
    from fs_assets.model.entities import CUSTOMER
    from fs_assets.model.keys import raw_table

    conn = duckdb.connect(str(db))
    conn.execute("set enable_progress_bar = false")
    for schema in ("raw", "quarantine", "meta"):
        conn.execute(f"create schema if not exists {schema}")
    ingest_file(conn, CUSTOMER, template)
    table = raw_table(CUSTOMER)
    n = conn.execute(f"select count(*) from {table}").fetchone()[0]
    conn.execute(
        f"""insert into {table}
        select * exclude (i) replace (cast(? + i as varchar) as cust_id)
        from (select t.*, row_number() over () - 1 as i
              from {table} t, range(cast(ceil(? / ?) as bigint)) r(rep))
        where i < ?""",
        [SYNTHETIC_KEY_BASE, rows - n, n, rows - n],
    )
    conn.execute("checkpoint")
    conn.close()


def make_change_files(history: Path, folder: Path, files: int) -> list[Path]:
    """`files` files of 1,000 rows from raw history's every k-th key, each with other
    keys: 500 new versions, 250 versions delivered again as stored (already present),
    250 new keys."""
    import duckdb

    from fs_assets.model.entities import CUSTOMER

    per_file = FILE_ROWS * 3 // 4  # stored rows each file draws on
    with duckdb.connect(str(history), read_only=True) as conn:
        total = conn.execute("select count(*) from raw.customer").fetchone()[0]
        stored = conn.execute(
            f"select {', '.join(CUSTOMER.column_names)} from raw.customer "
            "qualify row_number() over (order by cust_id) % ? = 0 limit ?",
            [max(1, total // (per_file * files)), per_file * files],
        ).fetchall()
    key = CUSTOMER.column_names.index("cust_id")
    modified = CUSTOMER.column_names.index("modified_at")
    paths = []
    for n in range(files):
        rows = []
        for i in range(FILE_ROWS):
            row = list(stored[n * per_file + i % per_file])
            if i < FILE_ROWS // 2:
                row[modified] = "2024-06-01 00:00:00"  # a new version
            elif i >= per_file:
                row[key] = str(SYNTHETIC_KEY_BASE * 2 + n * FILE_ROWS + i)  # a new key
            rows.append(["" if v is None else v for v in row])
        path = folder / f"change_{n:03d}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([[c.source_header for c in CUSTOMER.columns], *rows])
        paths.append(path)
    return paths


def time_ingest(history: Path, changes: list[Path], work: Path) -> float:
    import duckdb

    from fs_assets.engines.duckdb_engine import ingest_files
    from fs_assets.model.entities import CUSTOMER

    db = work / "run.duckdb"
    shutil.copyfile(history, db)
    conn = duckdb.connect(str(db))
    start = time.perf_counter()
    outcomes = ingest_files(conn, CUSTOMER, changes)
    seconds = time.perf_counter() - start
    conn.close()
    for outcome in outcomes:
        assert (outcome.rows_inserted, outcome.rows_already_present) == (750, 250), outcome
    db.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--files", type=int, default=1, help="1,000-row files landed at once")
    args = parser.parse_args()

    from fs_assets.generator import generate_landing

    with tempfile.TemporaryDirectory(prefix="fs_bench_ingest_") as tmp:
        work = Path(tmp)
        generate_landing(work / "landing", customers=2_000, seed=42)
        template = sorted((work / "landing" / "customer").glob("*.csv"))[0]
        rows = FILE_ROWS * args.files
        print(f"{args.files} file(s) of {FILE_ROWS:,} rows at once")
        print(f"{'history rows':>14} {'median s':>9} {'rows/s':>9}  runs")
        for size in args.sizes:
            history = work / f"history_{size}.duckdb"
            make_history(history, template, size)
            folder = work / f"changes_{size}"
            folder.mkdir()
            changes = make_change_files(history, folder, args.files)
            runs = [time_ingest(history, changes, work) for _ in range(args.repeat)]
            median = statistics.median(runs)
            print(
                f"{size:>14,} {median:>9.3f} {rows / median:>9,.0f}  "
                + ", ".join(f"{r:.3f}" for r in runs)
            )
            history.unlink()


if __name__ == "__main__":
    main()
