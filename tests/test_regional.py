"""The country/state partitioned layout: keys, atomic partitions, Hive Parquet, unknown pairs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fs_assets.definitions import defs
from fs_assets.defs.keys import REGION_KEY
from fs_assets.defs.regional import REGION_PARTITIONS
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.model.places import country_state_pairs
from fs_assets.transforms.regional import (
    EXPORT_NAME,
    partition_dir,
    partition_key,
    split_key,
    unknown_pairs,
    write_partition,
)
from resources import default_resources

NON_ASCII = [("France", "Île-de-France"), ("Brazil", "Ceará")]


def hive_glob(paths: DataPaths) -> str:
    return str(paths.home / "warehouse" / EXPORT_NAME / "*" / "*" / "*.parquet")


def test_partition_keys_are_exactly_the_valid_pairs() -> None:
    keys = REGION_PARTITIONS.get_partition_keys()
    assert [split_key(k) for k in keys] == list(country_state_pairs())
    assert len(keys) == len(set(keys)) < 13 * 40  # not the cross product
    assert partition_key("India", "Tamil Nadu") in keys
    assert partition_key("India", "Oslo") not in keys
    for country, state in NON_ASCII:
        assert split_key(partition_key(country, state)) == (country, state)


def test_build_writes_every_partition_and_union_equals_mastered(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        only_one_side = conn.execute(
            "select count(*) from ((select cust_id from mastered.customer "
            "except select cust_id from mastered.customer_by_region) union all "
            "(select cust_id from mastered.customer_by_region "
            "except select cust_id from mastered.customer))"
        ).fetchone()
        counts = conn.execute(
            "select (select count(*) from mastered.customer),"
            " (select count(*) from mastered.customer_by_region)"
        ).fetchone()
    assert counts[0] == counts[1] > 0
    assert only_one_side == (0,)
    events = dg.DagsterInstance.get().get_materialized_partitions(REGION_KEY)
    assert events == set(REGION_PARTITIONS.get_partition_keys())


@pytest.mark.parametrize(("country", "state"), [("Norway", "Troms og Finnmark"), *NON_ASCII])
def test_hive_parquet_reads_back_exactly_with_pruning(
    built: DataPaths, country: str, state: str
) -> None:
    folder = partition_dir(built.home / "warehouse", country, state)
    assert folder.name == f"state={state}" and folder.parent.name == f"country={country}"
    with duckdb.connect() as conn:
        from_files = conn.execute(
            "select cust_id, country, state from read_parquet(?, hive_partitioning=true) "
            "where country = ? and state = ? order by cust_id",
            [hive_glob(built), country, state],
        ).fetchall()
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        from_table = conn.execute(
            "select cust_id, country, state from mastered.customer "
            "where country = ? and state = ? order by cust_id",
            [country, state],
        ).fetchall()
    assert from_files == from_table and from_files
    assert {(c, s) for _, c, s in from_files} == {(country, state)}


def test_cities_with_accents_survive_in_the_data(built: DataPaths) -> None:
    with duckdb.connect() as conn:
        cities = {
            r[0]
            for r in conn.execute(
                "select distinct city from read_parquet(?, hive_partitioning=true)",
                [hive_glob(built)],
            ).fetchall()
        }
    assert {"Tromsø", "Brasília"} <= cities


def test_one_partition_materializes_only_its_pair(built: DataPaths) -> None:
    key = partition_key("India", "Kerala")
    with duckdb.connect(str(built.warehouse)) as conn:
        conn.execute("delete from mastered.customer_by_region")
    result = dg.materialize(
        [defs.get_assets_def(REGION_KEY)],
        partition_key=key,
        resources=default_resources(str(built.home)),
        instance=dg.DagsterInstance.get(),
        selection=[REGION_KEY],
    )
    assert result.success
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        pairs = conn.execute(
            "select country, state, count(*) from mastered.customer_by_region group by all"
        ).fetchall()
        expected = conn.execute(
            "select count(*) from mastered.customer where country = 'India' and state = 'Kerala'"
        ).fetchone()[0]
    assert pairs == [("India", "Kerala", expected)]


def test_rematerializing_a_partition_replaces_exactly_it(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse)) as conn:
        before = conn.execute(
            "select country, state, count(*) from mastered.customer_by_region group by all"
        ).fetchall()
        rows = write_partition(conn, built.home / "warehouse", "India", "Delhi")
        rows_again = write_partition(conn, built.home / "warehouse", "India", "Delhi")
        after = conn.execute(
            "select country, state, count(*) from mastered.customer_by_region group by all"
        ).fetchall()
    assert rows == rows_again
    assert sorted(before) == sorted(after)


def test_failed_partition_write_leaves_old_partition_intact(built: DataPaths) -> None:
    export_root = built.home / "warehouse"
    folder = partition_dir(export_root, "India", "Bihar")
    files_before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with duckdb.connect(str(built.warehouse)) as conn:
        table_before = conn.execute(
            "select * from mastered.customer_by_region where state = 'Bihar' order by cust_id"
        ).fetchall()
        conn.execute(
            "update mastered.customer set pin = '800002' where state = 'Bihar'"
        )  # new content the failed write would have published
        staging = export_root / ".staging"
        if staging.exists():
            os.rmdir(staging)
        staging.write_text("a file where the staging folder should be")  # a real I/O failure
        with pytest.raises(OSError):
            write_partition(conn, export_root, "India", "Bihar")
        staging.unlink()
        table_after = conn.execute(
            "select * from mastered.customer_by_region where state = 'Bihar' order by cust_id"
        ).fetchall()
        other = conn.execute(
            "select count(*) from mastered.customer_by_region where state <> 'Bihar'"
        ).fetchone()[0]
    assert table_after == table_before and table_before
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files_before
    assert other > 0


def test_unknown_pair_is_reported_not_lost(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse)) as conn:
        moved = conn.execute(
            "update mastered.customer set state = 'Atlantis' where cust_id in "
            "(select cust_id from mastered.customer where country = 'India' limit 4)"
        ).fetchone()[0]
        assert unknown_pairs(conn) == [("India", "Atlantis", moved)]
    job = dg.define_asset_job(
        "region_whole_table",
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(REGION_KEY, "region_pairs_known"),
            dg.AssetCheckKey(REGION_KEY, "union_matches_mastered"),
        ),
    )
    probe = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    result = probe.resolve_job_def("region_whole_table").execute_in_process(
        instance=dg.DagsterInstance.get(), raise_on_error=False
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    known = evaluations["region_pairs_known"]
    assert not known.passed
    assert known.metadata["unknown_pairs"].value == [
        {"country": "India", "state": "Atlantis", "rows": moved}
    ]
    assert not evaluations["union_matches_mastered"].passed


@pytest.mark.slow
def test_cli_materializes_one_partition(built: DataPaths) -> None:
    key = partition_key("Norway", "Troms og Finnmark")
    env = {
        **os.environ,
        "FS_ACCELERATOR_HOME": str(built.home),
        "DAGSTER_HOME": os.environ["DAGSTER_HOME"],
    }
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "fs_assets.definitions",
            "--select",
            "mastered/customer_by_region",
            "--partition",
            key,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert key in dg.DagsterInstance.get().get_materialized_partitions(REGION_KEY)


def test_layout_is_owner_only_and_names_sources_relative_to_landing(built: DataPaths) -> None:
    """The pii-reader layout: 0700 folders and 0600 files whatever the umask; no absolute
    machine path in `_source_file` (the build wrote it that way, and so does a rewrite)."""
    export_root = built.home / "warehouse"
    with duckdb.connect() as conn:
        built_sources = {
            r[0]
            for r in conn.execute(
                "select distinct _source_file from read_parquet(?)", [hive_glob(built)]
            ).fetchall()
        }
    assert built_sources and all(s.startswith("customer/") for s in built_sources), built_sources
    old = os.umask(0o022)
    try:
        folder = partition_dir(export_root, "India", "Kerala")
        with duckdb.connect(str(built.warehouse)) as conn:
            # A file taken in from outside the landing folder keeps only its name.
            conn.execute(
                "update mastered.customer_by_region set _source_file = '/elsewhere/o''brien.csv' "
                "where cust_id = (select min(cust_id) from mastered.customer_by_region "
                "where state = 'Kerala')"
            )
            conn.execute(
                "update mastered.customer set _source_file = '/elsewhere/o''brien.csv' "
                "where cust_id = (select min(cust_id) from mastered.customer "
                "where state = 'Kerala')"
            )
            write_partition(conn, export_root, "India", "Kerala", built.landing)
    finally:
        os.umask(old)
    with duckdb.connect() as conn:
        sources = {
            r[0]
            for r in conn.execute(
                "select distinct _source_file from read_parquet(?)", [str(folder / "*.parquet")]
            ).fetchall()
        }
    assert "o'brien.csv" in sources
    # The copied fixture's rows name the template's landing folder: no longer under this
    # landing folder, they keep their file name, which is a landing file's.
    assert all(
        not s.startswith("/") and (built.landing / "customer" / Path(s).name).is_file()
        for s in sources - {"o'brien.csv"}
    ), sources
    layout = export_root / EXPORT_NAME
    for path in [export_root, layout, *layout.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
