"""The customer features updated for the customers of an incremental write equal a full
rebuild, golden-id groups included; anything else rebuilds in full."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.transforms.change_record import SCOPE_KEYS, load_scope_keys
from fs_assets.transforms.marts.features import (
    FEATURES_TABLE,
    IdentityLink,
    build_features,
    plan_features,
    update_features,
)
from fs_assets.transforms.mastering import build_mastered
from tests.test_incremental_checks import land_update

LINK = IdentityLink("mastered.customer_identity", "core")


@pytest.fixture
def mastered(conn, small_landing: Path) -> duckdb.DuckDBPyConnection:
    for name in ENTITIES:
        for path in sorted((small_landing / name).glob("*.csv")):
            ingest_file(conn, ENTITIES[name], path)
        build_mastered(conn, ENTITIES[name])
    conn.execute("create schema if not exists marts")
    return conn


def recorded(conn, plan) -> dict[str, object]:
    (rows,) = conn.execute(f"select count(*) from {FEATURES_TABLE}").fetchone()
    return {**plan.built_from, "rows": rows}


def test_incremental_features_equal_a_full_rebuild(mastered, tmp_path: Path) -> None:
    conn = mastered
    first, second, other = (
        r[0]
        for r in conn.execute("select cust_id from mastered.customer order by 1 limit 3").fetchall()
    )
    # One person with two core records: the first customer (which the update changes) and
    # another one the update leaves alone, whose person_record depends on the first's date.
    conn.execute(
        "create table mastered.customer_identity as select * from (values "
        "('core', ?, 'g1'), ('core', (select max(cust_id) from mastered.customer), 'g1'), "
        "('core', ?, 'g2')) t(source, source_id, golden_id)",
        [first, other],
    )
    plan = plan_features(conn, None, "t0")
    assert plan.mode == "full"
    build_features(conn, LINK)
    previous = recorded(conn, plan)
    assert plan_features(conn, previous, "t0").mode == "unchanged"
    keys = land_update(conn, tmp_path)
    assert first in keys and second in keys
    build_mastered(conn, CUSTOMER)
    plan = plan_features(conn, previous, "t0")
    assert plan.mode == "incremental", plan.reason
    load_scope_keys(conn, CUSTOMER)
    rewritten = update_features(conn, SCOPE_KEYS, LINK)
    assert rewritten == len(keys) + 1  # the changed ones and the other record of g1
    conn.execute(f"create table inc as select * from {FEATURES_TABLE}")
    build_features(conn, LINK)
    for a, b in (("inc", FEATURES_TABLE), (FEATURES_TABLE, "inc")):
        assert (
            conn.execute(f"select count(*) from (from {a} except all from {b})").fetchone()[0] == 0
        )
    (risk,) = conn.execute(
        f"select risk_category from {FEATURES_TABLE} where cust_id = ?", [first]
    ).fetchone()
    assert (
        risk
        == conn.execute(
            "select customer_risk_category from mastered.customer where cust_id = ?", [first]
        ).fetchone()[0]
    )


def test_any_other_change_rebuilds_in_full(mastered, tmp_path: Path) -> None:
    conn = mastered
    plan = plan_features(conn, None, None)
    build_features(conn)
    previous = recorded(conn, plan)
    assert plan_features(conn, previous, "linked later").mode == "full"
    assert plan_features(conn, previous, None, full_rebuild=True).mode == "full"
    conn.execute(
        f"delete from {FEATURES_TABLE} where cust_id = (select min(cust_id) from {FEATURES_TABLE})"
    )
    assert "outside" in plan_features(conn, previous, None).reason
    build_features(conn)
    previous = recorded(conn, plan)
    land_update(conn, tmp_path)
    build_mastered(conn, CUSTOMER)
    build_mastered(conn, CUSTOMER)  # a second write: the keys of the first are not recorded
    land_update(conn, tmp_path, n=3)
    build_mastered(conn, CUSTOMER)
    assert plan_features(conn, previous, None).mode == "full"
