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
    WRITTEN_AT,
    IdentityLink,
    build_features,
    plan_features,
    spend_predicate,
    update_features,
)
from fs_assets.transforms.marts.model import DECEASED, SPEND_WINDOW_DAYS
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


def assert_same_features(conn: duckdb.DuckDBPyConnection, a: str, b: str) -> None:
    """Both tables hold the same rows, but for when each row was written."""
    for x, y in ((a, b), (b, a)):
        (extra,) = conn.execute(
            f"select count(*) from (select * exclude ({WRITTEN_AT}) from {x} "
            f"except all select * exclude ({WRITTEN_AT}) from {y})"
        ).fetchone()
        assert extra == 0, f"{x} has {extra} rows {y} lacks"


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
    # The record the update leaves alone records a death: it binds the person.
    conn.execute(
        "update mastered.customer set customer_status = ? "
        "where cust_id = (select max(cust_id) from mastered.customer)",
        [DECEASED],
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
    # Only the rows rewritten carry the update's write time.
    (stamps,) = conn.execute(f"select count(distinct {WRITTEN_AT}) from inc").fetchone()
    (newest,) = conn.execute(
        f"select count(*) from inc where {WRITTEN_AT} = (select max({WRITTEN_AT}) from inc)"
    ).fetchone()
    assert (stamps, newest) == (2, rewritten)
    build_features(conn, LINK)
    assert_same_features(conn, "inc", FEATURES_TABLE)
    person_features_are_the_persons(conn, "g1")
    assert conn.execute(
        f"select distinct customer_status from {FEATURES_TABLE} where golden_id = 'g1'"
    ).fetchall() == [(DECEASED,)]


# The columns a record keeps as its own; every other feature is its person's.
OWN_COLUMNS = ("cust_id", "person_record", "state", "country")


def person_features_are_the_persons(conn: duckdb.DuckDBPyConnection, golden_id: str) -> None:
    """Every row of the person carries the same features: spend and transactions summed
    over their records (recounted from mastered.transaction), the cards of all of them,
    the attributes of their person record, and a death recorded on any record."""
    spend, params = spend_predicate()
    cols = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = 'customer_features' order by ordinal_position"
        ).fetchall()
        if r[0] not in OWN_COLUMNS
    ]
    rows = conn.execute(
        f"select distinct {', '.join(cols)} from {FEATURES_TABLE} where golden_id = ?",
        [golden_id],
    ).fetchall()
    assert len(rows) == 1, rows
    total, txns, cards, risk, status = conn.execute(
        f"select total_spend, all_txns, held_cards, risk_category, customer_status "
        f"from {FEATURES_TABLE} "
        "where golden_id = ? limit 1",
        [golden_id],
    ).fetchone()
    truth_spend, truth_txns = conn.execute(
        f"""select coalesce(sum(t.amount_reporting::double) filter (where {spend}), 0),
                   count(*)
            from mastered.transaction t
            where t.cust_id in (select source_id from mastered.customer_identity
                                where golden_id = ?)
              and t.transaction_ts > (select max(transaction_ts) from mastered.transaction)
                                     - to_days(?::integer)""",
        [*params, golden_id, SPEND_WINDOW_DAYS],
    ).fetchone()
    assert total == pytest.approx(truth_spend) and txns == truth_txns
    held = conn.execute(
        """select coalesce(list(distinct a.product_id order by a.product_id), [])
           from mastered.account a join mastered.product p using (product_id)
           where p.product_type = 'Credit Card' and a.account_status <> 'Closed'
             and a.cust_id in (select source_id from mastered.customer_identity
                               where golden_id = ?)""",
        [golden_id],
    ).fetchone()[0]
    assert cards == held
    records = conn.execute(
        "select customer_risk_category, customer_status from mastered.customer "
        "where cust_id in (select source_id from mastered.customer_identity "
        "where golden_id = ?) order by modified_at desc, cust_id",
        [golden_id],
    ).fetchall()
    assert risk == records[0][0]
    deceased = any(r[1] == DECEASED for r in records)
    assert status == (DECEASED if deceased else records[0][1])


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
    # A table built before the write-time column: rows inserted by name would not fit.
    conn.execute(f"alter table {FEATURES_TABLE} drop column {WRITTEN_AT}")
    assert WRITTEN_AT in plan_features(conn, previous, None).reason
    build_features(conn)
    previous = recorded(conn, plan)
    land_update(conn, tmp_path)
    build_mastered(conn, CUSTOMER)
    build_mastered(conn, CUSTOMER)  # a second write: the keys of the first are not recorded
    land_update(conn, tmp_path, n=3)
    build_mastered(conn, CUSTOMER)
    assert plan_features(conn, previous, None).mode == "full"
