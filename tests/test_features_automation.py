"""Under automation the identity assets run with every customer update: a run that
re-linked nothing must leave the customer features incremental, and equal to a rebuild."""

from __future__ import annotations

from io import StringIO

import dagster as dg
import duckdb
import pytest

from fs_assets.app.build import build
from fs_assets.defs.content_version import CONTENT_VERSION
from fs_assets.defs.keys import CUSTOMER_IDENTITY_KEY, FEATURES_KEY, GOLDEN_CUSTOMER_KEY
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.marts.features import FEATURES_TABLE
from tests.test_features_incremental import assert_same_features
from tests.test_incremental_checks import write_update

CUSTOMERS = 200
# The features and everything they read, the linkage model trained on few pairs.
FIRST_BUILD = "+key:marts/customer_features"
TRAINING = {"ops": {"identity__linkage_model": {"config": {"u_max_pairs": 1e5}}}}
# What automation materializes after a customer file lands: raw and mastered customer,
# every identity asset downstream of them, and the features.
AUTOMATION_LIKE = (
    "key:raw/customer or key:mastered/customer or group:identity or key:marts/customer_features"
)


@pytest.fixture
def linked(home: DataPaths) -> DataPaths:
    """A small data folder with three linked sources, built up to the features."""
    generate_landing(home.landing, customers=CUSTOMERS, seed=5)
    generate_sources(home.landing, seed=5)
    report = build(home, select=FIRST_BUILD, out=StringIO(), run_config=TRAINING)
    assert report.ok, (report.checks_failed, report.step_failures)
    return home


def _metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, object]:
    event = instance.get_latest_materialization_event(key)
    assert event is not None and event.asset_materialization is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


@pytest.mark.slow
def test_an_identity_run_that_relinked_nothing_keeps_the_features_incremental(
    linked: DataPaths,
) -> None:
    built = linked
    with dg.DagsterInstance.get() as instance:
        before = {
            key: _metadata(instance, key) for key in (CUSTOMER_IDENTITY_KEY, GOLDEN_CUSTOMER_KEY)
        }
    assert before[CUSTOMER_IDENTITY_KEY]["golden_customers"] > 0  # the sources are linked
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        changed = write_update(conn, built.landing / "customer" / "customer risk update.csv", 5)

    report = build(built, select=AUTOMATION_LIKE, out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)

    with dg.DagsterInstance.get() as instance:
        ids = _metadata(instance, CUSTOMER_IDENTITY_KEY)
        golden = _metadata(instance, GOLDEN_CUSTOMER_KEY)
        features = _metadata(instance, FEATURES_KEY)
        run_id = instance.get_latest_materialization_event(FEATURES_KEY).run_id
        assert instance.get_latest_materialization_event(CUSTOMER_IDENTITY_KEY).run_id == run_id
    # The identity assets ran in this run, changed nothing, and say so.
    assert ids["records_assigned"] == 0 and golden["people_changed"] == 0
    assert 0 < golden["people_recomputed"] <= len(changed)  # their last_updated_at moved
    assert ids[CONTENT_VERSION] != run_id and golden[CONTENT_VERSION] != run_id
    # Before content versions, the features rebuilt in full here ("rebuilt since: identity").
    assert features["mode"] == "incremental", features["mode_reason"]
    assert features["customers_rewritten"] >= len(changed)

    with duckdb.connect(str(built.warehouse)) as conn:
        conn.execute(f"create table incremental_copy as select * from {FEATURES_TABLE}")
    full = build(
        built,
        select="key:marts/customer_features",
        out=StringIO(),
        run_config={"ops": {"marts__customer_features": {"config": {"full_rebuild": True}}}},
    )
    assert full.ok
    with duckdb.connect(str(built.warehouse)) as conn:
        assert_same_features(conn, "incremental_copy", FEATURES_TABLE)
        risks = dict(
            conn.execute(
                f"select cust_id, risk_category from {FEATURES_TABLE} where cust_id in "
                f"(select unnest(?::varchar[]))",
                [changed],
            ).fetchall()
        )
        expected = dict(
            conn.execute(
                "select cust_id, customer_risk_category from mastered.customer where cust_id in "
                "(select unnest(?::varchar[]))",
                [changed],
            ).fetchall()
        )
    assert risks == expected and len(risks) == len(changed)

    # A run that did change the identity table (full_relink rewrites every record) moves
    # the version, and the features rebuild in full.
    report = build(
        built,
        select="group:identity or key:marts/customer_features",
        out=StringIO(),
        run_config={"ops": {"identity__golden_ids": {"config": {"full_relink": True}}}},
    )
    assert report.ok, (report.checks_failed, report.step_failures)
    with dg.DagsterInstance.get() as instance:
        run_id = instance.get_latest_materialization_event(FEATURES_KEY).run_id
        assert _metadata(instance, CUSTOMER_IDENTITY_KEY)[CONTENT_VERSION] == run_id
        features = _metadata(instance, FEATURES_KEY)
    assert features["mode"] == "full" and "identity" in features["mode_reason"]
