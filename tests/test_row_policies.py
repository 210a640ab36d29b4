"""Row-level policies and the unselected-users setting, as the column policies are tested."""

from pathlib import Path

import duckdb
import pytest

from fs_assets.defs.governed import build_governed_views, governed_view
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance.export import export_role, query_role
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.governance.policies import (
    BRANCH_MAHARASHTRA,
    POLICY_FILE,
    PolicyError,
    load_policies,
)
from fs_assets.transforms.mastering import build_mastered

KEY = key_from_env()
GOOD = POLICY_FILE.read_text(encoding="utf-8")


@pytest.fixture
def customers(landed: DataPaths) -> DataPaths:
    """Customers ingested and mastered (no views yet)."""
    conn = duckdb.connect(str(landed.warehouse))
    try:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
        build_mastered(conn, ENTITIES["customer"])
    finally:
        conn.close()
    return landed


def _policies(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "masking.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _build(paths: DataPaths, policy_file: Path | None = None) -> None:
    conn = duckdb.connect(str(paths.warehouse))
    try:
        KEY.apply(conn)
        build_governed_views(conn, load_policies(policy_file))
    finally:
        conn.close()


def test_branch_role_reads_only_its_region_in_views_and_export(customers: DataPaths) -> None:
    _build(customers)
    conn = duckdb.connect(str(customers.warehouse), read_only=True)
    try:
        KEY.apply(conn)
        expected = {
            KEY.token(c)
            for (c,) in conn.execute(
                "select cust_id from mastered.customer "
                "where country = 'India' and state = 'Maharashtra'"
            ).fetchall()
        }
        total = conn.execute("select count(*) from mastered.customer").fetchone()[0]
        in_view = {
            r[0]
            for r in conn.execute(
                "select cust_id from governed.branch_maharashtra_customer"
            ).fetchall()
        }
        history_regions = conn.execute(
            "select distinct country, state from governed.branch_maharashtra_customer_history"
        ).fetchall()
    finally:
        conn.close()
    assert 0 < len(expected) < total
    assert in_view == expected
    assert history_regions == [("India", "Maharashtra")]

    export_role(customers, BRANCH_MAHARASHTRA, key=KEY)
    _, rows = query_role(
        customers,
        BRANCH_MAHARASHTRA,
        "select country, state, count(*) from branch_maharashtra_customer group by all",
    )
    assert rows == [("India", "Maharashtra", len(expected))]


def test_a_role_without_filter_policy_reads_every_row(customers: DataPaths) -> None:
    policies = load_policies()
    assert policies.row_filter_sql({"analyst"}) is None
    assert governed_view(CUSTOMER, "analyst", policies).row_filter is None
    two_regions = GOOD.replace(
        "      - column: state\n        operator: equals\n        value: Maharashtra",
        "      - column: state\n        operator: in\n        value: [Maharashtra, Kerala]",
    )
    assert two_regions != GOOD
    sql = load_policies(_policies(customers.home, two_regions)).row_filter_sql({BRANCH_MAHARASHTRA})
    assert sql == "(\"country\" in ('India') and \"state\" in ('Maharashtra', 'Kerala'))"


BAD_FILTERS = {
    "unknown value": (
        GOOD.replace("value: Maharashtra", "value: Maharastra"),
        r"policy 'branchmaharashtrarows'.*'Maharastra' is not a value of state; "
        r"did you mean 'Maharashtra'\?",
    ),
    "free-text column": (
        GOOD.replace("- column: state", "- column: city"),
        r"filter column 'city' has no closed value set",
    ),
    "injection attempt": (
        GOOD.replace("value: India", 'value: "India\') or (1=1"'),
        r"is not a value of country",
    ),
    "unknown operator": (
        GOOD.replace(
            "operator: equals\n        value: India", "operator: like\n        value: India"
        ),
        r"unknown filter operator 'like'",
    ),
    "mask and filters": (
        GOOD.replace(
            "    filters:\n      - column: country",
            "    mask: {operator: pass_through}\n    filters:\n      - column: country",
        ),
        r"a filter policy needs `filters:` and no `mask:`",
    ),
    "bad unselected setting": (
        GOOD.replace("unselected_users: redact", "unselected_users: allow"),
        r"policy 'governancesettings'.*unselected_users",
    ),
    "bad threshold": (
        GOOD.replace("threshold: 5", "threshold: 0"),
        r"threshold must be at least 1",
    ),
}


@pytest.mark.parametrize("case", BAD_FILTERS)
def test_bad_filter_policy_or_setting_is_rejected(tmp_path: Path, case: str) -> None:
    text, message = BAD_FILTERS[case]
    assert text != GOOD
    with pytest.raises(PolicyError, match=message):
        load_policies(_policies(tmp_path, text))


def test_unselected_users_redact_is_the_default(customers: DataPaths, tmp_path: Path) -> None:
    without = GOOD.replace("  unselected_users: redact\n", "")
    assert without != GOOD
    assert load_policies(_policies(tmp_path, without)).settings.unselected_users == "redact"
    _build(customers, _policies(tmp_path, without))
    conn = duckdb.connect(str(customers.warehouse), read_only=True)
    try:
        names = conn.execute(
            "select distinct cust_first_name, cust_dob is null from governed.analyst_customer"
        ).fetchall()
    finally:
        conn.close()
    assert names == [("[REDACTED]", True)]


def test_unselected_users_pass_through_reads_clear(customers: DataPaths, tmp_path: Path) -> None:
    passing = GOOD.replace("unselected_users: redact", "unselected_users: pass_through")
    _build(customers, _policies(tmp_path, passing))
    conn = duckdb.connect(str(customers.warehouse), read_only=True)
    try:
        KEY.apply(conn)
        source = conn.execute(
            "select cust_id, cust_first_name, cust_dob, minor_flag from mastered.customer "
            "order by cust_id"
        ).fetchall()
        analyst = conn.execute(
            "select cust_id, cust_first_name, cust_dob, minor_flag from governed.analyst_customer "
            "order by cust_id"
        ).fetchall()
        # A role a policy does select keeps its policy: restricted still reads hashes.
        restricted = conn.execute(
            "select count(*) from governed.restricted_acess_customer r "
            "join mastered.customer m on r.cust_first_name = m.cust_first_name"
        ).fetchone()[0]
    finally:
        conn.close()
    # DataOS's behaviour: no policy selects the analyst, so it reads PII and ids in clear.
    assert analyst == source
    assert restricted == 0
