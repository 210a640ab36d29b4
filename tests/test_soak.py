"""The soak (bench/soak.py): its hostile files are what they claim, its checks can fail, and a
short run through the real command line ends with tables equal to a clean build."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from bench.soak import OPS_ROLE
from bench.soak_check import check_files
from bench.soak_files import HOSTILE_CASES, REJECTED, EntityPool, Factory
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.generator import generate_landing
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import PROJECT_ROOT
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS

# Every hostile case; the second build is killed, so recovery is part of the smoke run.
SMOKE_CASES = tuple(HOSTILE_CASES)
SMOKE_SELECT = (  # raw, mastered with its history, and the governed views of the one role
    # the ops read (the other roles' views are the same SQL and only add steps to every
    # build): no marts, no regions, no identity resolution (no golden customer's view)
    f"key:raw/* or (key:governed/{OPS_ROLE}_* and not key:governed/*_golden_customer) or "
    + " or ".join(f"key:mastered/{e} or key:mastered/{e}_history" for e in ENTITIES)
)


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, EntityPool]:
    out = tmp_path_factory.mktemp("soak_pool")
    generate_landing(out, customers=40, seed=5)
    return {
        name: EntityPool.read(name, sorted((out / name).glob("*.csv"))[0], ent.key)
        for name, ent in ENTITIES.items()
    }


@pytest.fixture
def factory(tmp_path: Path, pools: dict[str, EntityPool]) -> Factory:
    return Factory(tmp_path / "landing", pools, random.Random(3))


def test_every_hostile_case_lands_what_it_claims(factory: Factory) -> None:
    factory.good_file("initial", "customer", "customer_0.csv", factory.pools["customer"].rows)
    pool_keys = {r[factory.pools["customer"].key_at] for r in factory.pools["customer"].rows}
    landed = {case: factory.hostile(case) for case in HOSTILE_CASES}
    factory.wait_for_writers()
    folder = factory.landing / "customer"
    names = {p.name for p in folder.iterdir()}
    assert {"cust[1]_" in n for n in names} >= {True}
    assert any(n.startswith("g*_") for n in names) and any(n.startswith("what?_") for n in names)
    assert any("клиент" in n for n in names) and any("'single'" in n for n in names)
    assert landed["symlink"][0].path.is_symlink()
    assert not landed["symlink"][0].path.resolve().is_relative_to(factory.landing)
    assert landed["nested-folder"][0].path.parent.parent == folder
    assert landed["empty"][0].path.stat().st_size == 0
    with pytest.raises(UnicodeDecodeError):
        landed["non-utf8-value"][0].path.read_bytes().decode("utf-8")
    assert b"\x00" in landed["control-nul"][0].path.read_bytes()
    slow = landed["slow-copy"][0]
    assert slow.path.read_bytes() == slow.content  # complete once its writer finished
    for case, items in landed.items():
        for item in items:
            keys = {k for k, _ in item.pairs}
            if item.good:
                assert item.expect == {"ingested"}, case
            else:
                assert not keys & pool_keys, f"{case} reuses a good key"
    assert landed["typed-parquet"][0].expect == {REJECTED}


def test_checks_flag_a_leaked_bad_file_and_a_lost_good_file(
    tmp_path: Path, factory: Factory
) -> None:
    """Real ingestion into a real DuckDB file; mastered is then made to leak one bad file."""
    good = factory.good_file("change", "customer", "good.csv", factory.change_rows())
    lost = factory.good_file("change", "customer", "lost.csv", factory.change_rows())
    misnamed = factory.good_file("change", "customer", "cust[1].csv", factory.change_rows())
    decoy = misnamed.path.with_name("cust1.csv")  # what a glob of the name would read
    decoy.write_bytes(misnamed.content or b"")
    (empty,) = factory.hostile("empty")
    (leaky,) = factory.hostile("control-nul")
    original = factory.good_file("change", "customer", "zz_original.csv", factory.change_rows())
    copy = original.path.with_name("aa_copy.csv")  # ingested first: the original is a duplicate
    copy.write_bytes(original.content or b"")
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as conn:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for path in (good.path, decoy, empty.path, leaky.path, copy, original.path):
            ingest_file(conn, CUSTOMER, path)
        conn.execute("create table mastered.customer as select * from raw.customer")
        # The NUL rows never reach raw (ingest quarantine): plant their keys in mastered,
        # as a mastering defect would, so the checker has a leak to find.
        conn.executemany(
            "insert into mastered.customer (cust_id) values (?)",
            [[k] for k in sorted({k for k, _ in leaky.pairs})],
        )
        conn.execute(
            "create table quarantine.customer_rejects as "
            "select *, []::varchar[] as _failed_rules from raw.customer limit 0"
        )
    landed = [good, lost, misnamed, empty, leaky, original]
    verdicts = {v.landed.path.name: v for v in check_files(warehouse, factory.landing, landed)}
    assert verdicts["good.csv"].ok
    assert original.unique and verdicts["zz_original.csv"].ok  # its rows under the copy's name
    assert not verdicts["lost.csv"].ok and "did not all reach raw" in verdicts["lost.csv"].detail
    assert not verdicts["cust[1].csv"].ok
    assert "under another _source_file" in verdicts["cust[1].csv"].detail
    assert verdicts[empty.path.name].ok and REJECTED in verdicts[empty.path.name].seen
    assert not verdicts[leaky.path.name].ok
    assert "reached mastered.customer" in verdicts[leaky.path.name].detail


@pytest.mark.slow
def test_short_soak_ends_equal_to_a_clean_build(tmp_path: Path) -> None:
    """Two iterations through the real CLI: builds, exports, queries, updates, then checks."""
    done = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "bench" / "soak.py"),
            "--minutes",
            "2",
            "--iterations",
            "2",
            "--customers",
            "60",
            "--kill-probability",
            "1",  # the first build runs whole; the second is SIGKILLed mid-way
            "--parallel-builds",
            "0",
            "--select",
            SMOKE_SELECT,
            "--cases",
            ",".join(SMOKE_CASES),
            "--keep",
            str(tmp_path / "soak"),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "RESULT: PASS" in out
    for case in SMOKE_CASES:
        assert f"PASS {case}" in out, case
    for table in ("customer", "product", "account", "transaction"):
        assert f"PASS mastered.{table}" in out
    assert "FAIL" not in out
    assert "builds:" in out and "files landed:" in out
