"""The quality checks evaluate on the Spark engine's output, with DuckDB's results.

A clean generated data set is materialized through Dagster with engine='spark' (raw and
mastered for all four entities, their landing and mastered checks): every check passes.
The same landing files built on DuckDB give the same check metadata. Then the same bad
rows are planted in both mastered.customer tables (a Parquet rewrite on Spark, an update
inside a rolled-back transaction on DuckDB) and the checks that must fail do, with equal
results. The regional checks run on the Hive layout the Spark engine writes. One
SparkSession (the one tests/test_engines.py uses, local[2]) serves the module.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

pytest.importorskip("pyspark")

from asset_checks.check_scope import SCOPE_METADATA
from asset_checks.integrity_checks import LANDING_CHECKS
from asset_checks.mastered_checks import FAMILIES, MASTERED_CHECKS
from asset_checks.pandera_checks import validate_table
from asset_checks.regional_checks import REGIONAL_CHECKS
from fs_assets.defs.keys import REGION_KEY
from fs_assets.defs.mastered import MASTERED_ASSETS
from fs_assets.defs.raw import RAW_ASSETS
from fs_assets.defs.regional import REGIONAL_ASSETS
from fs_assets.engines import duckdb_engine
from fs_assets.generator import generate_landing
from fs_assets.model.entities import ENTITIES, TRANSACTION
from fs_assets.model.places import country_state_pairs
from fs_assets.transforms import mastering
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.landing_files import is_landing_file
from fs_assets.transforms.regional import partition_key, unknown_pairs
from resources.landing_zone import LandingZoneResource
from resources.warehouse import WarehouseResource

CUSTOMERS = 200
# Check metadata that legitimately differs between engines: the time of ingestion, and
# pandera's first five failure cases, which follow the table's (unordered) scan order.
UNCOMPARABLE = {
    "data_freshness": {"newest_ingested_at", "age_hours"},
    "pandera_schema": {"sample"},
}


def _warehouse(home: Path) -> WarehouseResource:
    return WarehouseResource(
        home=str(home),
        engine="spark",
        spark_master="local[2]",
        spark_conf={"spark.sql.shuffle.partitions": "2"},
        lock_timeout_s=30,
    )


def _resources(home: Path) -> dict[str, Any]:
    return {"warehouse": _warehouse(home), "landing": LandingZoneResource(home=str(home))}


def _plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items()}


def _outcome(check_name: str, passed: bool, metadata: dict[str, Any]) -> tuple[bool, dict]:
    plain = _plain(metadata)
    for key in UNCOMPARABLE.get(check_name, ()):
        plain[key] = len(plain[key]) if isinstance(plain[key], list) else type(plain[key])
    return passed, plain


MASTERED_CHECK_KEYS = {k for c in MASTERED_CHECKS for k in c.check_keys}


def _spark_outcomes(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], tuple]:
    """The families' results; the step's scope metadata (always full on Spark) apart."""
    out = {}
    for e in result.get_asset_check_evaluations():
        meta = dict(e.metadata)
        if dg.AssetCheckKey(e.asset_key, e.check_name) in MASTERED_CHECK_KEYS:
            assert meta["check_mode"].value == "full", e.check_name
        for key in SCOPE_METADATA:
            meta.pop(key, None)
        out[(e.asset_key.path[-1], e.check_name)] = _outcome(e.check_name, e.passed, meta)
    return out


def _duck_outcomes(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple]:
    """What the mastered check step yields on DuckDB (the same evaluation functions)."""
    out = {}
    for ent in ENTITIES.values():
        names = {s.name for specs_of, _, _ in FAMILIES for s in specs_of(ent)}
        for _, evaluate, _ in FAMILIES:
            for r in evaluate(conn, ent, names):
                out[(ent.name, r.check_name)] = _outcome(r.check_name, r.passed, r.metadata)
    return out


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("engine_checks") / "landing"
    generate_landing(out, customers=CUSTOMERS, seed=5)
    return out


@pytest.fixture(scope="module")
def duck(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    conn = duckdb.connect(str(tmp_path_factory.mktemp("duck") / "warehouse.duckdb"))
    for schema in LAYER_SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    for ent in ENTITIES.values():
        for path in sorted(p for p in (landing / ent.name).iterdir() if is_landing_file(p)):
            duckdb_engine.ingest_file(conn, ent, path)
        mastering.build_mastered(conn, ent)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def spark_built(landing: Path, tmp_path_factory: pytest.TempPathFactory):
    """A data folder built on Spark through Dagster, with every raw and mastered check."""
    home = tmp_path_factory.mktemp("spark_checks") / "home"
    shutil.copytree(landing, home / "landing")
    result = dg.materialize(
        [*RAW_ASSETS, *MASTERED_ASSETS, *LANDING_CHECKS, *MASTERED_CHECKS],
        resources=_resources(home),
        raise_on_error=False,
    )
    assert result.success
    return home, result


def _run_checks(home: Path, checks: list, assets: list) -> dg.ExecuteInProcessResult:
    """Only the checks (the assets they target are given, not materialized)."""
    return dg.materialize(
        [*assets, *checks],
        selection=dg.AssetSelection.all_asset_checks(),
        resources=_resources(home),
        raise_on_error=False,
    )


def test_every_check_passes_on_spark_output(spark_built) -> None:
    home, result = spark_built
    evaluations = result.get_asset_check_evaluations()
    expected = {k for c in [*LANDING_CHECKS, *MASTERED_CHECKS] for k in c.check_keys}
    assert {dg.AssetCheckKey(e.asset_key, e.check_name) for e in evaluations} == expected
    failed = [(e.asset_key.path, e.check_name, e.metadata) for e in evaluations if not e.passed]
    assert not failed
    # The Spark engine wrote no warehouse table to DuckDB: the checks read Parquet.
    with _warehouse(home).connect(read_only=True) as control:
        assert not control.execute(
            "select count(*) from information_schema.tables "
            "where table_schema in ('raw', 'mastered', 'quarantine')"
        ).fetchone()[0]


def test_spark_check_results_equal_duckdbs(spark_built, duck) -> None:
    spark = {
        k: v for k, v in _spark_outcomes(spark_built[1]).items() if k[1] != "landing_files_accepted"
    }
    ours = _duck_outcomes(duck)
    assert spark.keys() == ours.keys()
    for key, outcome in ours.items():
        assert spark[key] == outcome, key


def test_planted_bad_rows_fail_on_spark_as_on_duckdb(spark_built, duck, tmp_path: Path) -> None:
    """A Parquet rewrite of mastered.customer with bad rows fails the same checks as DuckDB."""
    from pyspark.sql import functions as F

    home = tmp_path / "home"
    shutil.copytree(spark_built[0], home)
    # A customer with accounts to lose (breaks reconciliation and references to it),
    # three with a segment outside the accepted values, two repeated keys.
    lost = duck.execute("select min(cust_id) from mastered.account").fetchone()[0]
    keys = [
        r[0]
        for r in duck.execute(
            "select cust_id from mastered.customer where cust_id <> ? order by 1 limit 5", [lost]
        ).fetchall()
    ]
    bad_segment, repeated = keys[:3], keys[3:]
    with _warehouse(home).spark() as wh:
        good = wh.read("mastered", "customer")
        segment = F.when(F.col("cust_id").isin(bad_segment), F.lit("Downtown"))
        bad = (
            good.withColumn("cust_segment", segment.otherwise(F.col("cust_segment")))
            .where(F.col("cust_id") != lost)
            .unionByName(good.where(F.col("cust_id").isin(repeated)))
        )
        wh.replace("customer", {("mastered", "customer"): bad})
    spark = _spark_outcomes(_run_checks(home, MASTERED_CHECKS, MASTERED_ASSETS))

    duck.execute("begin transaction")
    try:
        duck.execute(
            "update mastered.customer set cust_segment = 'Downtown' "
            "where list_contains(?, cust_id)",
            [bad_segment],
        )
        duck.execute("delete from mastered.customer where cust_id = ?", [lost])
        duck.execute(
            "insert into mastered.customer select * from mastered.customer "
            "where list_contains(?, cust_id)",
            [repeated],
        )
        ours = _duck_outcomes(duck)
    finally:
        duck.execute("rollback")

    failing = {k for k, (passed, _) in ours.items() if not passed}
    assert failing == {
        ("customer", "key_unique"),
        ("customer", "valid_cust_segment"),
        ("customer", "reconciles_with_raw"),
        ("customer", "pandera_schema"),
        ("account", "references_customer"),
        ("transaction", "references_customer"),
    }
    # On DuckDB the history is a view of the mastered rows and the past versions, so the
    # deleted customer's current version leaves the history with its mastered row; Spark
    # stores the history as its own table, which the planted rewrite of mastered leaves as
    # it was. Both fail the reconciliation; only that count differs.
    recon = ("customer", "reconciles_with_raw")
    assert ours[recon][1]["versions_unrecorded"] == 1
    assert spark[recon][1]["versions_unrecorded"] == 0
    for outcomes in (spark, ours):
        outcomes[recon] = (outcomes[recon][0], {**outcomes[recon][1], "versions_unrecorded": None})
    assert spark == ours
    assert spark[("customer", "key_unique")][1]["duplicate_rows"] == 2
    # One key lost, two repeated: 200 raw keys, 201 mastered rows.
    reconciled = spark[("customer", "reconciles_with_raw")][1]
    assert (reconciled["raw_keys"], reconciled["mastered_rows"]) == (CUSTOMERS, CUSTOMERS + 1)
    assert spark[("customer", "valid_cust_segment")][1]["sample"] == {
        "cust_segment__accepted_values": bad_segment
    }


def test_pandera_samples_spark_tables_in_bounded_chunks(spark_built, duck) -> None:
    with _warehouse(spark_built[0]).for_checks([("mastered", TRANSACTION.name)]) as wh:
        total, validated, counts, _ = validate_table(wh, TRANSACTION, max_rows=500)
    assert total > 500 and validated == 500 and not counts
    assert total == duck.execute("select count(*) from mastered.transaction").fetchone()[0]


def test_regional_checks_read_the_spark_hive_layout(spark_built, duck, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(spark_built[0], home)
    keys = [partition_key(c, s) for c, s in country_state_pairs()]
    written = dg.materialize(
        [*REGIONAL_ASSETS, MASTERED_ASSETS[0]],
        selection=dg.AssetSelection.assets(REGION_KEY),
        resources=_resources(home),
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
    )
    assert written.success
    # The partitioned check, on three partitions (one Spark query each).
    few = dg.materialize(
        [*REGIONAL_ASSETS, *REGIONAL_CHECKS, MASTERED_ASSETS[0]],
        selection=dg.AssetSelection.checks(
            dg.AssetCheckKey(REGION_KEY, "partition_matches_mastered")
        ),
        resources=_resources(home),
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[2],
        },
        raise_on_error=False,
    )
    (partition_check,) = few.get_asset_check_evaluations()
    assert partition_check.passed, partition_check.metadata
    assert partition_check.metadata["partitions_checked"].value == 3

    whole = [REGIONAL_CHECKS[1]]
    ok = {
        e.check_name: e
        for e in _run_checks(home, whole, REGIONAL_ASSETS).get_asset_check_evaluations()
    }
    assert ok["region_pairs_known"].passed and ok["union_matches_mastered"].passed
    assert ok["union_matches_mastered"].metadata["partitioned_rows"].value == CUSTOMERS

    # Customers moved to a pair the model does not know: reported, as on DuckDB.
    from pyspark.sql import functions as F

    moved = [
        r[0]
        for r in duck.execute(
            "select cust_id from mastered.customer where country = 'India' order by 1 limit 4"
        ).fetchall()
    ]
    with _warehouse(home).spark() as wh:
        good = wh.read("mastered", "customer")
        state = F.when(F.col("cust_id").isin(moved), F.lit("Atlantis")).otherwise(F.col("state"))
        wh.replace("customer", {("mastered", "customer"): good.withColumn("state", state)})
    bad = {
        e.check_name: e
        for e in _run_checks(home, whole, REGIONAL_ASSETS).get_asset_check_evaluations()
    }
    duck.execute("begin transaction")
    try:
        duck.execute(
            "update mastered.customer set state = 'Atlantis' where list_contains(?, cust_id)",
            [moved],
        )
        expected = unknown_pairs(duck)
    finally:
        duck.execute("rollback")
    assert expected == [("India", "Atlantis", 4)]
    assert not bad["region_pairs_known"].passed
    assert bad["region_pairs_known"].metadata["unknown_pairs"].value == [
        {"country": c, "state": s, "rows": n} for c, s, n in expected
    ]
    union = bad["union_matches_mastered"]
    assert not union.passed
    assert union.metadata["keys_missing_from_partitions"].value == 4
    assert union.metadata["keys_not_in_mastered"].value == 4
