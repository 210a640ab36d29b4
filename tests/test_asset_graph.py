"""The asset graph on a real Dagster instance (temporary DAGSTER_HOME) and a real DuckDB file."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import dagster as dg
import duckdb

from fs_assets.app.build import build
from fs_assets.definitions import defs
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.model.keys import OWNER
from fs_assets.model.paths import DataPaths


def table_count(paths: DataPaths, table: str) -> int:
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        return conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_definitions_load_with_catalog_metadata() -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for entity in ENTITY_NAMES:
        assert {f"raw/{entity}", f"mastered/{entity}"} <= keys
    for spec in defs.resolve_all_asset_specs():
        assert spec.description and len(spec.description) > 40, spec.key
        assert spec.owners == [OWNER], spec.key
        groups = {"landing", "raw", "mastered", "governed", "marts", "catalog", "identity"}
        assert spec.group_name in groups, spec.key
        if spec.key.path[0] in {"raw", "mastered"}:
            assert spec.kinds == {"duckdb"}
            schema = spec.metadata["dagster/column_schema"]
            assert isinstance(schema, dg.TableSchema)
            if spec.key.path == ["mastered", "customer"]:
                tags = {c.name: c.tags for c in schema.columns}
                assert tags["cust_dob"] == {"pii": "TW.dob"}
                assert tags["email_addr"] == {"pii": "TW.mask"}
                lineage = spec.metadata["dagster/column_lineage"]
                dep = lineage.deps_by_column["cibil_score"][0]
                assert dep.asset_key == dg.AssetKey(["raw", "customer"])
    checks = {k.name for k in graph.asset_check_keys}
    assert {
        "key_unique",
        "valid_cust_segment",
        "references_customer",
        "reconciles_with_raw",
        "pandera_schema",
        "landing_files_accepted",
        "data_freshness",
    } <= checks


def test_build_materializes_everything_and_all_checks_pass(built: DataPaths) -> None:
    instance = dg.DagsterInstance.get()
    for entity in ENTITY_NAMES:
        for layer in ("raw", "mastered"):
            event = instance.get_latest_materialization_event(dg.AssetKey([layer, entity]))
            assert event is not None
            meta = event.asset_materialization.metadata
            assert meta["dagster/row_count"].value == table_count(built, f"{layer}.{entity}")
    records = instance.get_run_records()
    assert len(records) == 3 and all(r.dagster_run.is_success for r in records)


def test_rebuild_does_not_double_count(built: DataPaths) -> None:
    """Rebuilding every raw table over the same landed files adds no row. Only the raw
    assets (with their checks): the counts asserted come from them alone, and a full
    rebuild's checks are covered by the recovery and soak tests."""
    before = {e: table_count(built, f"raw.{e}") for e in ENTITY_NAMES}
    report = build(built, select="key:raw/*", out=StringIO())
    assert report.ok
    assert {e: table_count(built, f"raw.{e}") for e in ENTITY_NAMES} == before


def test_malformed_landing_file_fails_its_check_and_loses_nothing(
    built: DataPaths, tmp_path: Path
) -> None:
    before = table_count(built, "mastered.customer")
    good = sorted((built.landing / "customer").glob("*.csv"))[0]
    bad = built.landing / "customer" / "customer_broken.csv"
    lines = good.read_text(encoding="utf-8").splitlines()[:4]
    lines[2] = lines[2] + ',"extra field"'
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # raw.customer and the one table whose count is asserted, not the 47 assets below it.
    report = build(built, select="key:raw/customer or key:mastered/customer", out=StringIO())
    assert ("raw.customer:landing_files_accepted", "ERROR") in report.checks_failed
    event = dg.DagsterInstance.get().get_latest_materialization_event(
        dg.AssetKey(["raw", "customer"])
    )
    assert event is not None
    landing = dg.AssetCheckKey(dg.AssetKey(["raw", "customer"]), "landing_files_accepted")
    record = dg.DagsterInstance.get().event_log_storage.get_latest_asset_check_execution_by_key(
        [landing]
    )[landing]
    # The latest ingestion's files only: an incremental evaluation by construction.
    assert record.evaluation.metadata["check_mode"].value == "incremental"
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        status, line, error = conn.execute(
            "select status, error_line, error from meta.ingest_ledger where file_name = ?",
            [bad.name],
        ).fetchone()
    assert (status, line) == ("rejected", 3) and "Expected Number of Columns" in error
    assert table_count(built, "mastered.customer") == before


def test_blocking_check_stops_downstream(built: DataPaths) -> None:
    with duckdb.connect(str(built.warehouse)) as conn:
        conn.execute("insert into mastered.customer select * from mastered.customer limit 3")
    account_before = dg.DagsterInstance.get().get_latest_materialization_event(
        dg.AssetKey(["mastered", "account"])
    )
    job = dg.define_asset_job(
        "blocking_probe",
        selection=dg.AssetSelection.checks_for_assets(dg.AssetKey(["mastered", "customer"]))
        | dg.AssetSelection.assets(dg.AssetKey(["mastered", "account"])),
    )
    probe = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def("blocking_probe")
    result = probe.execute_in_process(instance=dg.DagsterInstance.get(), raise_on_error=False)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["key_unique"] is False
    assert not result.success
    account_after = dg.DagsterInstance.get().get_latest_materialization_event(
        dg.AssetKey(["mastered", "account"])
    )
    assert account_after.run_id == account_before.run_id  # not materialized again
    assert "mastered__account" not in {e.step_key for e in result.get_step_success_events()}


def test_mock_sources_seeds_an_empty_landing_zone_only(home: DataPaths) -> None:
    report = build(home, select="key:landing/mock_sources", out=StringIO())
    assert report.ok
    files = sorted(p.name for p in (home.landing / "customer").iterdir())
    assert files
    shutil.rmtree(home.landing / "transaction")
    report = build(home, select="key:landing/mock_sources", out=StringIO())
    assert not (home.landing / "transaction").exists() or not any(
        (home.landing / "transaction").iterdir()
    )
