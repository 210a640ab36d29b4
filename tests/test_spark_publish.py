"""Atomic publish on the Spark engine: a writer SIGKILLed mid-publish changes nothing.

The fast tests pin the pointer's rules (names, retention, a broken pointer, the local
commit). The slow ones start a writer in a subprocess (its own SparkSession), let it
write a new version and SIGKILL it at the step that would make it current, or right
after it: a mastering build (five tables, one manifest), ingesting a file (batch renamed
in, ledger row not yet committed) and replacing region partitions. Plain readers
(pyarrow, DuckDB) and the engine see the previous version or, after the commit, the whole
next one, never a mix; the next run succeeds and drops what the killed writer left.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from fs_assets.engines.publish import (
    LOCK_FILE,
    POINTER,
    PointerError,
    commit_local,
    current_batches,
    current_build,
    current_folder,
    current_partitions,
    expired,
    new_version,
    parse_pointer,
    version_time,
)

NOW = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.UTC)


def test_versions_sort_by_time_and_expire_after_the_retention() -> None:
    old, mid, new = (new_version(NOW - dt.timedelta(hours=h)) for h in (3, 2, 0))
    assert old < mid < new and version_time(new) == NOW
    names = [new, old, mid, "_SUCCESS", "version-garbage", "country=IN"]
    # A version's age counts from when the next one replaced it: mid was current until now.
    assert expired(names, keep={new}, retention_s=3600, now=NOW) == [old]
    assert expired(names, keep={new}, retention_s=3 * 3600, now=NOW) == []
    assert expired(names, keep={old}, retention_s=0, now=NOW) == [mid, new]  # kept: never


def test_a_version_written_long_ago_but_replaced_just_now_is_kept() -> None:
    """A daily rebuild: the version just replaced is a day old, yet a reader may be scanning
    it; it stays for the whole retention after the pointer moved."""
    before, now = new_version(NOW - dt.timedelta(days=2)), new_version(NOW)
    assert expired([before, now], keep={now}, retention_s=86_400, now=NOW) == []
    later = NOW + dt.timedelta(days=1, seconds=1)
    assert expired([before, now], keep={now}, retention_s=86_400, now=later) == [before]


def test_a_broken_pointer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PointerError, match="not a version pointer"):
        parse_pointer('{"version": "version-1', "t/_CURRENT")
    with pytest.raises(PointerError, match="names no version"):
        parse_pointer("[]", "t/_CURRENT")
    (tmp_path / POINTER).write_text("garbage", encoding="utf-8")
    with pytest.raises(PointerError, match="restore it or rebuild"):
        current_folder(tmp_path)


def test_local_commit_replaces_the_pointer_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    table = tmp_path / "it's a [table] ünï"
    assert current_folder(table) is None
    commit_local(table / POINTER, json.dumps({"version": "version-a"}))
    commit_local(table / POINTER, json.dumps({"version": "version-b"}))
    assert current_folder(table) == table / "version-b"
    assert sorted(p.name for p in table.iterdir()) == [POINTER]


# Two writers of the regional manifest at once (processes; the commit needs no JVM): each
# reads the manifest, then waits (up to 3 s) until the other has read it too, so without
# a lock both would write back what they read plus their own pair and one would be lost.
MANIFEST_WRITER = """
import json, sys, time
from pathlib import Path
from fs_assets.engines import spark_regions as sr, spark_warehouse as sw

root, me, other, pair = sys.argv[1:5]
read = sw.SparkWarehouse.read_pointer
def read_then_wait(self, folder):
    doc = read(self, folder)
    Path(root, me).touch()
    deadline = time.monotonic() + 3
    while not Path(root, other).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return doc
sw.SparkWarehouse.read_pointer = read_then_wait
country, state = json.loads(pair)
folder = f"country={country}/state={state}/version-{me}"
sr.commit_partitions(sw.SparkWarehouse(None, root, None), f"{root}/layout",
                     [(country, state)], {(country, state): folder})
"""


def test_two_partition_writers_at_once_both_keep_their_entries(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    commit_local(layout / POINTER, json.dumps({"partitions": [["IN", "Goa", "country=IN/x"]]}))
    pairs = {"a": ["IN", "Tamil Nadu"], "b": ["US", "it's [ü]*"]}
    argv = [sys.executable, "-c", MANIFEST_WRITER, str(tmp_path)]
    procs = [
        subprocess.Popen([*argv, me, other, json.dumps(pairs[me])], stderr=subprocess.PIPE)
        for me, other in (("a", "b"), ("b", "a"))
    ]
    errors = [proc.communicate(timeout=60)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    assert set(current_partitions(layout)) == {("IN", "Goa"), *(tuple(p) for p in pairs.values())}
    assert sorted(p.name for p in layout.iterdir()) == [LOCK_FILE, POINTER]


# --- a writer killed mid-publish (a subprocess with its own SparkSession) ----------------

pytest.importorskip("pyspark")

CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.driver.memory": "512m",
}
# The writer: one step, SIGKILLed at the line that would make its work current.
WRITER = """
import json, os, signal, sys
from pathlib import Path
from fs_assets.engines import spark_ingest as si, spark_mastering as sm
from fs_assets.engines import spark_regions as sr, spark_warehouse as sw
from fs_assets.model.entities import CUSTOMER
from fs_assets.transforms import raw_history as rh
from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL

root, control, step, arg = sys.argv[1:5]
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
commit = sw.commit_local
def commit_then_die(*args, **kwargs):
    commit(*args, **kwargs)
    die()
with sw.spark_warehouse(root, Path(control), "local[1]", json.loads(os.environ["CONF"])) as wh:
    if step == "build":  # killed at the first local commit of the build, or just after it
        sw.commit_local = commit_then_die if arg == "after" else die
        sm.build_mastered(wh, CUSTOMER, full_refresh=True)  # nothing new: only a full build writes
    elif step == "ingest":
        rh.record_outcome = die  # the batch is renamed in, its ledger row not committed
        si.ingest_file(wh, CUSTOMER, Path(arg))
    else:
        sw.SparkWarehouse.commit_doc = die  # partition folders moved in, no manifest
        sr.write_partitions(wh, [tuple(p) for p in json.loads(arg)], REGION_SELECT_SQL,
                            EXPORT_NAME)
print("the writer was not killed")
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[Path]]]:
    """A Spark warehouse with one customer file ingested, mastered and partitioned."""
    from fs_assets.engines import spark_ingest as si
    from fs_assets.engines import spark_mastering as sm
    from fs_assets.engines import spark_regions as sr
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.generator import generate_landing
    from fs_assets.model.entities import CUSTOMER
    from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL

    base = tmp_path_factory.mktemp("publish")
    generate_landing(base / "landing", customers=200, seed=5, chunk_customers=100)
    files = sorted((base / "landing" / "customer").glob("*.csv"))
    assert len(files) >= 2, "the generator must deliver customers in more than one file"
    home = base / "home"
    with sw.spark_warehouse(str(home / "wh"), home / "control.duckdb", "local[1]", CONF) as wh:
        wh.spark.sparkContext.setLogLevel("ERROR")
        si.ingest_file(wh, CUSTOMER, files[0])
        sm.build_mastered(wh, CUSTOMER)
        wh.register("mastered", CUSTOMER.name)
        pairs = [tuple(r) for r in wh.sql("select distinct country, state from mastered.customer")
                 .collect()]  # fmt: skip
        sr.write_partitions(wh, pairs, REGION_SELECT_SQL, EXPORT_NAME)
    yield home, files


def _kill_writer(home: Path, step: str, arg: str = "") -> None:
    import os

    env = {**os.environ, "CONF": json.dumps(CONF)}
    argv = [sys.executable, "-c", WRITER, str(home / "wh"), str(home / "control.duckdb")]
    proc = subprocess.run([*argv, step, arg], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr[-2000:]


def _copy(built: tuple[Path, list[Path]], tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(built[0], home)
    return home


def _plain_rows(folder: Path) -> list[tuple]:
    """The rows of one version folder, read by pyarrow and by DuckDB (which must agree)."""
    by_arrow = sorted(pq.read_table(folder).column("cust_id").to_pylist())
    with duckdb.connect() as conn:
        by_duck = conn.execute(
            "select cust_id from read_parquet(?) order by 1", [str(folder / "*.parquet")]
        ).fetchall()
    assert by_arrow == [r[0] for r in by_duck]
    return by_duck


def _engine_view(home: Path) -> dict[str, str | None]:
    """The engine's own reader: the current folder of every table of a customer build."""
    from pyspark.sql import SparkSession

    from fs_assets.engines import spark_warehouse as sw

    with duckdb.connect() as control:
        wh = sw.SparkWarehouse(SparkSession.builder.getOrCreate(), str(home / "wh"), control)
        return {f"{s}/{n}": wh.current_path(s, n) for s, n in sw.build_tables("customer")}


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["before", "after"])
def test_a_killed_build_leaves_all_old_or_all_new_tables(built, tmp_path: Path, kill) -> None:
    """A mastering build replaces five tables. Killed before its first commit, readers see
    the whole previous build; killed right after it, the whole new one: never the new
    mastered table with the old history or quarantine (what moving a pointer per table
    left). The next build succeeds and leaves only its own versions."""
    from fs_assets.engines import spark_mastering as sm
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import CUSTOMER

    home = _copy(built, tmp_path)
    before = _engine_view(home)
    assert all(before.values()) and len(set(before.values())) == 5
    rows = _plain_rows(current_build(home / "wh", "customer")["mastered/customer"])
    _kill_writer(home, "build", kill)
    after = _engine_view(home)
    unchanged = {t for t in after if after[t] == before[t]}
    assert unchanged == (set(after) if kill == "before" else set()), (before, after)
    plain = current_build(home / "wh", "customer")
    assert {t: str(f) for t, f in plain.items()} == after  # plain readers agree
    assert _plain_rows(plain["mastered/customer"]) == rows
    with sw.spark_warehouse(str(home / "wh"), home / "control.duckdb", "local[1]", CONF) as wh:
        wh.retention_s = 0  # the next build drops every version it does not name
        sm.build_mastered(wh, CUSTOMER)
    final = current_build(home / "wh", "customer")
    assert _plain_rows(final["mastered/customer"]) == rows
    for folder in final.values():
        assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]


def _raw_count(home: Path) -> int:
    """raw.customer as the engine reads it (a fresh reader on the writer's ledger)."""
    from pyspark.sql import SparkSession

    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import CUSTOMER

    with duckdb.connect(str(home / "control.duckdb"), read_only=True) as control:
        wh = sw.SparkWarehouse(SparkSession.builder.getOrCreate(), str(home / "wh"), control)
        return wh.read("raw", CUSTOMER.name, sw.raw_ddl(CUSTOMER)).count()


@pytest.mark.slow
def test_a_killed_ingest_is_invisible_dropped_and_read_again(built, tmp_path: Path) -> None:
    """Killed after its batch folder is renamed in but before its ledger row commits: no
    reader sees the batch; the next ingest drops it and reads the file exactly once."""
    from fs_assets.engines import spark_ingest as si
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import CUSTOMER

    home, second = _copy(built, tmp_path), built[1][1]
    raw = home / "wh" / "raw" / "customer"
    batches, rows = sorted(p.name for p in raw.iterdir()), _raw_count(home)
    committed = current_batches(raw)
    _kill_writer(home, "ingest", str(second))
    assert len(sorted(p.name for p in raw.iterdir())) == len(batches) + 1  # renamed in whole
    assert _raw_count(home) == rows, "a batch the ledger lacks must not be read"
    assert current_batches(raw) == committed
    with sw.spark_warehouse(str(home / "wh"), home / "control.duckdb", "local[1]", CONF) as wh:
        outcome = si.ingest_file(wh, CUSTOMER, second)
        assert outcome.status == "ingested" and outcome.rows_inserted > 0
        wh.register("raw", CUSTOMER.name, sw.raw_ddl(CUSTOMER))  # with the new batch
        counts = wh.execute(
            "select count(*), count(distinct (cust_id, _modified_ts)) from raw.customer"
        ).fetchone()
        # The killed attempt's batch is gone: every version once, the file counted once.
        assert counts[0] == counts[1] == rows + outcome.rows_inserted
        (ledgered,) = wh.control.execute(
            "select count(*) from meta.ingest_ledger where file_name = ?", [second.name]
        ).fetchone()
        assert ledgered == 1
    assert len(list(raw.iterdir())) == len(batches) + 1
    assert not (raw / "_staging").exists()
    assert len(current_batches(raw)) == len(committed) + 1


class _Killed(BaseException):
    """Stands for a SIGKILL at one line: nothing after it runs."""


@pytest.mark.slow
def test_an_ingest_killed_after_its_ledger_commit_is_read_once(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the ledger row commits but before the batch manifest is rewritten: the
    engine reads the batch (the ledger commits it), a plain reader sees the batches before
    it (never a half state), and the next ingest skips the file and catches the manifest up."""
    from fs_assets.engines import spark_ingest as si
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.model.entities import CUSTOMER

    home, second = _copy(built, tmp_path), built[1][1]
    raw = home / "wh" / "raw" / "customer"
    committed, rows = current_batches(raw), _raw_count(home)
    publish, calls = si.publish_batches, []

    def killed_after_commit(wh, ent) -> None:
        calls.append(ent.name)
        if len(calls) == 2:  # the first call catches up at the start; this one follows the commit
            raise _Killed
        publish(wh, ent)

    monkeypatch.setattr(si, "publish_batches", killed_after_commit)
    home_wh, control = str(home / "wh"), home / "control.duckdb"
    with sw.spark_warehouse(home_wh, control, "local[1]", CONF) as wh, pytest.raises(_Killed):
        si.ingest_file(wh, CUSTOMER, second)
    monkeypatch.setattr(si, "publish_batches", publish)
    assert current_batches(raw) == committed
    inserted = _raw_count(home) - rows
    assert inserted > 0
    with sw.spark_warehouse(str(home / "wh"), home / "control.duckdb", "local[1]", CONF) as wh:
        assert si.ingest_file(wh, CUSTOMER, second).status == "skipped"
    assert _raw_count(home) == rows + inserted
    assert len(current_batches(raw)) == len(committed) + 1
    with duckdb.connect() as conn:
        (plain,) = conn.execute(
            "select count(*) from read_parquet(?)",
            [[str(b / "*.parquet") for b in current_batches(raw)]],
        ).fetchone()
    assert plain == rows + inserted


@pytest.mark.slow
def test_a_killed_partition_write_leaves_every_partition_readable(built, tmp_path: Path) -> None:
    from fs_assets.engines import spark_regions as sr
    from fs_assets.engines import spark_warehouse as sw
    from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL

    home = _copy(built, tmp_path)
    layout = home / "wh" / EXPORT_NAME
    before = current_partitions(layout)
    rows = {pair: _plain_rows(folder) for pair, folder in before.items()}
    pairs = sorted(before)[:3]
    _kill_writer(home, "regions", json.dumps(pairs))
    assert current_partitions(layout) == before
    assert {pair: _plain_rows(folder) for pair, folder in before.items()} == rows
    with sw.spark_warehouse(str(home / "wh"), home / "control.duckdb", "local[1]", CONF) as wh:
        wh.retention_s = 0
        written = sr.write_partitions(wh, pairs, REGION_SELECT_SQL, EXPORT_NAME)
    after = current_partitions(layout)
    for pair in pairs:
        assert after[pair] != before[pair] and _plain_rows(after[pair]) == rows[pair]
        assert written[pair] == len(rows[pair])
        # Only the current version is left in the partition folder.
        assert [p.name for p in after[pair].parent.iterdir()] == [after[pair].name]
    assert {p: f for p, f in after.items() if p not in pairs} == {
        p: f for p, f in before.items() if p not in pairs
    }


@pytest.mark.slow
@pytest.mark.parametrize("object_store", [False, True])
def test_the_hadoop_pointer_commit_replaces_the_pointer(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, object_store: bool
) -> None:
    """The HDFS branch (temporary file renamed with OVERWRITE) and the object-store branch
    (one PUT), run through Hadoop's local filesystem: each replaces the pointer whole."""
    from pyspark.sql import SparkSession

    from fs_assets.engines import spark_warehouse as sw

    monkeypatch.setattr(sw, "local_path", lambda _uri: None)
    monkeypatch.setattr(sw, "is_object_store", lambda _uri: object_store)
    session = SparkSession.builder.getOrCreate()  # the fixture's, still running
    with duckdb.connect() as control:
        wh = sw.SparkWarehouse(session, str(tmp_path), control)
        table = f"file://{tmp_path}/t"
        assert wh.read_pointer(table) is None
        wh.commit_doc(f"{table}/{POINTER}", {"version": "version-a"})
        wh.commit_doc(f"{table}/{POINTER}", {"version": "version-b"})
        assert wh.read_pointer(table) == {"version": "version-b"}
    assert current_folder(tmp_path / "t") == tmp_path / "t" / "version-b"
    left = sorted(p.name for p in (tmp_path / "t").iterdir() if not p.name.endswith(".crc"))
    assert left == [POINTER]


@pytest.mark.slow
def test_a_region_layout_without_its_manifest_is_refused_with_advice(built, tmp_path: Path) -> None:
    """Partition folders without `_CURRENT` (written before versions) are never guessed
    at: replacing some of them would silently drop the others from the table."""
    from pyspark.sql import SparkSession

    from fs_assets.engines import spark_regions as sr
    from fs_assets.engines import spark_warehouse as sw

    (tmp_path / "customer_overview" / "country=IN" / "state=Goa").mkdir(parents=True)
    with duckdb.connect() as control:
        wh = sw.SparkWarehouse(SparkSession.builder.getOrCreate(), str(tmp_path), control)
        with pytest.raises(RuntimeError, match=r"no _CURRENT manifest.*delete the folder"):
            sr.partition_folders(wh, str(tmp_path / "customer_overview"))
        assert sr.partition_folders(wh, str(tmp_path / "absent")) == {}
