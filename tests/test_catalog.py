"""The catalog on a real build: scanner tables and checks, the customer profile, the manifest."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from catalog_support import materialize

from fs_assets.catalog.manifest import (
    DOMAIN,
    MANIFEST_FILE,
    PRODUCT_NAME,
    ManifestError,
    load_manifest,
    parse_manifest,
)
from fs_assets.catalog.profile import SEED_SLICE
from fs_assets.defs.keys import DATA_PRODUCT_KEY, PROFILE_KEY, SCANNER_KEY
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import DataPaths


@pytest.fixture
def cataloged(built: DataPaths) -> DataPaths:
    """A private copy of a built data folder: the build ran the catalog assets."""
    return built


def query(paths: DataPaths, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_scanner_catalogs_every_table_with_exact_row_counts_and_pii(cataloged: DataPaths) -> None:
    tables = query(
        cataloged,
        "select table_schema, table_name, table_type, row_count, producing_asset, owner, "
        "last_materialized from catalog.tables order by 1, 2",
    )
    names = {f"{s}.{t}" for s, t, *_ in tables}
    assert {"raw.customer", "mastered.customer", "quarantine.customer_rejects"} <= names
    assert {"meta.ingest_ledger", "governed.analyst_customer"} <= names
    assert not any(n.startswith("catalog.") for n in names), "the scanner skips its own schema"
    for schema, table, _, rows, producer, owner, last in tables:
        assert rows == query(cataloged, f'select count(*) from "{schema}"."{table}"')[0][0]
        assert producer and owner == "team:customer-data", (schema, table)
        assert last is not None, (schema, table)
    by_name = {f"{s}.{t}": (kind, producer) for s, t, kind, _, producer, _, _ in tables}
    assert by_name["governed.analyst_customer"][0] == "VIEW"
    assert by_name["quarantine.customer_ingest_rejects"][1] == "raw/customer"
    assert "raw/customer" in by_name["meta.ingest_ledger"][1]

    columns = {
        (t, c): rest
        for t, c, *rest in query(
            cataloged,
            "select table_schema || '.' || table_name, column_name, pii_tag, description, "
            "null_pct, distinct_count, min_value, max_value, data_type from catalog.columns",
        )
    }
    for table in ("raw.customer", "mastered.customer", "quarantine.customer_rejects"):
        pii, _, _, _, lo, hi, _ = columns[(table, "email_addr")]
        assert pii == "TW.mask" and lo is None and hi is None  # PII values not copied out
        assert columns[(table, "cust_dob")][0] == "TW.dob"
    pii, desc, null_pct, distinct, lo, hi, dtype = columns[("mastered.customer", "cibil_score")]
    assert pii is None and desc.startswith("CIBIL credit score") and dtype == "INTEGER"
    assert null_pct == 0 and distinct > 100 and 300 <= int(lo) <= int(hi) <= 900


def test_scanner_materialization_metadata_and_checks(cataloged: DataPaths) -> None:
    instance = dg.DagsterInstance.get()
    meta = instance.get_latest_materialization_event(SCANNER_KEY).asset_materialization.metadata
    scanned = query(cataloged, "select count(*) from catalog.tables")[0][0]
    assert meta["dagster/row_count"].value == scanned
    assert isinstance(meta["dagster/column_schema"].value, dg.TableSchema)
    assert "| mastered.customer | BASE TABLE |" in meta["tables"].value
    for check in ("no_orphan_tables", "no_missing_tables"):
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(SCANNER_KEY, check)]
        )[dg.AssetCheckKey(SCANNER_KEY, check)]
        assert record.evaluation.passed, check
        # Names only, every table: recorded as a full evaluation (bench/pipeline.py counts it).
        assert record.evaluation.metadata["check_mode"].value == "full", check


def test_scanner_checks_name_orphan_and_missing_tables(cataloged: DataPaths) -> None:
    with duckdb.connect(str(cataloged.warehouse)) as conn:
        conn.execute("create table raw.stray_copy as select * from raw.customer limit 3")
        conn.execute("drop view governed.analyst_customer")
    with dg.DagsterInstance.get() as instance:
        result = materialize(instance, dg.AssetSelection.assets(SCANNER_KEY))
    assert result.success  # the checks fail, the scan itself does not
    evals = {e.check_name: e for e in result.get_asset_check_evaluations()}
    orphan, missing = evals["no_orphan_tables"], evals["no_missing_tables"]
    assert not orphan.passed and orphan.metadata["orphan_tables"].value == ["raw.stray_copy"]
    assert not missing.passed
    assert missing.metadata["missing_tables"].value == ["governed.analyst_customer"]
    row = query(
        cataloged, "select producing_asset from catalog.tables where table_name = ?", ["stray_copy"]
    )
    assert row == [(None,)]


def test_customer_profile_covers_all_customers_and_the_seed_slice(cataloged: DataPaths) -> None:
    rows = query(
        cataloged,
        "select slice, column_name, row_count, null_count, distinct_count, min_value, "
        "max_value, top_values, pii_tag from catalog.customer_profile",
    )
    profile = {(s, c): rest for s, c, *rest in rows}
    total = query(cataloged, "select count(*) from mastered.customer")[0][0]
    where = " and ".join(f"{c} = ?" for c, _ in SEED_SLICE)
    sliced = query(
        cataloged,
        f"select count(*) from mastered.customer where {where}",
        [v for _, v in SEED_SLICE],
    )[0][0]
    assert {s for s, _ in profile} == {"all", "seed_filter"}
    assert len(rows) == 2 * len(CUSTOMER.columns)
    assert profile[("all", "cust_id")][:3] == [total, 0, total]
    assert profile[("seed_filter", "cust_id")][0] == sliced
    top = json.loads(profile[("all", "cust_segment")][5])
    assert {t["value"] for t in top} == {"Urban", "Rural", "Semi"}
    assert sum(t["count"] for t in top) == total
    if sliced:
        assert json.loads(profile[("seed_filter", "city")][5] or "null") is None  # not categorical
        assert json.loads(profile[("seed_filter", "country")][5]) == [
            {"value": "United States", "count": sliced}
        ]
    email = profile[("all", "email_addr")]
    assert email[6] == "TW.mask" and email[3] is None and email[4] is None and email[5] is None
    meta = dg.DagsterInstance.get().get_latest_materialization_event(PROFILE_KEY)
    md = meta.asset_materialization.metadata["profile"].value
    assert "### seed_filter: cust_segment = 'Semi' and country = 'United States'" in md


def test_data_product_manifest_is_generated_validated_and_shown(cataloged: DataPaths) -> None:
    path = cataloged.home / MANIFEST_FILE
    manifest = load_manifest(path)
    data = manifest.v1alpha.data
    assert manifest.name == PRODUCT_NAME and data.domain == DOMAIN
    refs = {o.ref for o in data.outputs}
    assert "duckdb://fs-accelerator/mastered.customer" in refs
    assert "duckdb://fs-accelerator/governed.restricted_acess_customer" in refs
    assert any(o.refType == "parquet-hive" for o in data.outputs)
    customer = next(o for o in data.outputs if o.ref.endswith("/mastered.customer"))
    assert customer.piiColumns["email_addr"] == "TW.mask"
    entities = ("customer", "product", "account", "fx_rate", "transaction", "campaign")
    entities += ("campaign_event",)
    assert {i.ref for i in data.inputs} == {f"landing/{e}/" for e in entities}
    checks = {(q.asset, q.check) for q in data.quality}
    assert ("mastered/customer", "key_unique") in checks
    assert ("catalog/scanner", "no_orphan_tables") in checks
    assert {p.name for p in data.policies} == {
        "customeroverviewrawpiipolicy",
        "customerbucketdob",
        "customeroverviewrpiireaderpolicy",
        "salesleadcontactpolicy",
    }
    meta = dg.DagsterInstance.get().get_latest_materialization_event(DATA_PRODUCT_KEY)
    shown = meta.asset_materialization.metadata
    assert Path(shown["path"].value).name == MANIFEST_FILE  # (written in the template's copy)
    assert "name: customer-overview-dp" in shown["manifest"].value

    broken = yaml.safe_load(path.read_text(encoding="utf-8"))
    broken["v1alpha"]["data"]["outputs"] = []
    broken["v1alpha"]["data"]["ownr"] = "typo"
    with pytest.raises(ManifestError, match=r"data_product.yaml: invalid .*outputs.*ownr"):
        parse_manifest(yaml.safe_dump(broken), path)
