"""Masking policies as code: each role reads exactly its policy's effect, and no more."""

import argparse
import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from fs_assets.app.governance_cli import add_governance_commands
from fs_assets.defs.governed import (
    GOVERNED_ASSETS,
    PENDING_FLAG,
    build_governed_views,
    governed_key,
)
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.columns import PII_AGE_BAND, PII_DOB, PII_MASK
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance import governed_entities
from fs_assets.transforms.governance.export import (
    ExportError,
    ExportMissingError,
    QueryLimitError,
    export_path,
    export_role,
    query_role,
)
from fs_assets.transforms.governance.lead_list import LEADS
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.governance.policies import (
    LEAD_LIST_ROLES,
    POLICY_FILE,
    ROLES,
    PolicyError,
    UnknownRoleError,
    load_policies,
    resolve,
)
from fs_assets.transforms.mastering import build_mastered
from resources.masking_key import masking_key_from_env
from resources.warehouse import WarehouseResource

KEY = key_from_env()  # the tests' key (conftest)
# Roles that read cust_id as a keyed token: every role without clear TW.mask.
TOKENISED = {"restricted-acess", "dob-bucketing", "analyst", "branch-maharashtra", "sales"}
# Roles limited to rows by a filter policy: (country, state) they read.
REGION_OF = {"branch-maharashtra": ("India", "Maharashtra")}

ORDER = tuple(ENTITIES)  # dependency order: fx_rate and account before transaction
GOOD = POLICY_FILE.read_text(encoding="utf-8")

# What each role must see per PII tag, written out rather than derived from the resolver.
EXPECTED = {
    "restricted-acess": {PII_MASK: "hash", PII_DOB: "redact", PII_AGE_BAND: "redact"},
    "dob-bucketing": {PII_MASK: "redact", PII_DOB: "quarter", PII_AGE_BAND: "redact"},
    "pii-reader": {PII_MASK: "pass", PII_DOB: "pass", PII_AGE_BAND: "pass"},
    "analyst": {PII_MASK: "redact", PII_DOB: "redact", PII_AGE_BAND: "redact"},
    "branch-maharashtra": {PII_MASK: "redact", PII_DOB: "redact", PII_AGE_BAND: "redact"},
    "sales": {PII_MASK: "hash", PII_DOB: "redact", PII_AGE_BAND: "redact"},
}


@contextmanager
def connect(paths: DataPaths, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect(str(paths.warehouse), read_only=read_only)
    KEY.apply(conn)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def governed(landed: DataPaths) -> DataPaths:
    """The landed data ingested, mastered, and every role's governed views built."""
    with connect(landed) as conn:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for name in ORDER:
            for path in sorted((landed.landing / name).glob("*.csv")):
                ingest_file(conn, ENTITIES[name], path)
            build_mastered(conn, ENTITIES[name])
        build_governed_views(conn, load_policies())
    return landed


def rows_by_key(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict]:
    cur = conn.execute(f"select * from {table}")
    names = [d[0] for d in cur.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def quarter_start(d: dt.date) -> dt.date:
    return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def query(paths: DataPaths, sql: str) -> list[tuple]:
    with connect(paths, read_only=True) as conn:
        return conn.execute(sql).fetchall()


def write_policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "masking.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_each_role_sees_exactly_its_policy(governed: DataPaths) -> None:
    with connect(governed, read_only=True) as conn:
        source = rows_by_key(conn, "mastered.customer")
        views = {r: rows_by_key(conn, f"governed.{r.replace('-', '_')}_customer") for r in ROLES}
    for role, view in views.items():
        token = KEY.token if role in TOKENISED else str
        rows = {
            k: r
            for k, r in source.items()
            if role not in REGION_OF or (r["country"], r["state"]) == REGION_OF[role]
        }
        assert 0 < len(rows) <= len(source), role
        assert view.keys() == {token(k) for k in rows}, role
        seen = set()
        for key, src in rows.items():
            out = view[token(key)]
            assert set(out) == set(CUSTOMER.column_names) | {PENDING_FLAG}
            assert out[PENDING_FLAG] is False  # the generated data has no pending correction
            for col in CUSTOMER.columns:
                value, got = src[col.name], out[col.name]
                effect = EXPECTED[role][col.pii] if col.pii else "pass"
                if col.name == "cust_id" and role in TOKENISED:
                    effect = "hash"
                seen.add(effect)
                where = (role, key, col.name, value, got)
                if effect == "pass":
                    assert got == value, where
                elif effect == "hash":
                    digest = None if value is None else KEY.token(str(value))
                    assert got == digest, where
                elif effect == "quarter":
                    if value is None:
                        assert got is None, where
                    else:
                        assert got.month in (1, 4, 7, 10) and got.day == 1, where
                        assert got == quarter_start(value), where
                else:
                    assert got == ("[REDACTED]" if col.type == "VARCHAR" else None), where
        tokens = {"hash"} if role in TOKENISED else set()
        assert seen == {"pass", *EXPECTED[role].values(), *tokens}, role


def test_hashed_keys_still_join(governed: DataPaths) -> None:
    with connect(governed, read_only=True) as conn:
        pairs = conn.execute("select cust_id, email_addr from mastered.customer").fetchall()
        tokens = set(
            conn.execute(
                "select g.cust_id, g.email_addr from governed.restricted_acess_customer g "
                "join governed.analyst_customer a using (cust_id)"
            ).fetchall()
        )
    # Equal values give equal tokens across views (same key): every customer joins.
    assert tokens == {(KEY.token(c), e and KEY.token(e)) for c, e in pairs}
    assert len(tokens) == 1500


def test_restricted_export_holds_no_raw_pii(governed: DataPaths) -> None:
    pii_cols = list(CUSTOMER.pii_columns)
    assert {"minor_flag", "senior_citizen_flag", "pin", "cust_dob"} <= set(pii_cols)
    public_cols = [c.name for c in CUSTOMER.columns if not c.pii]

    def values(conn: duckdb.DuckDBPyConnection, cols: list[str]) -> set[str]:
        return {
            v
            for col in cols
            for (v,) in conn.execute(
                # Every valid version: the history export must not leak old values either.
                f'select cast("{col}" as varchar) from mastered.customer_history '
                f'where "{col}" is not null'
            ).fetchall()
        }

    with connect(governed, read_only=True) as conn:
        raw_values = values(conn, pii_cols)
        # An organisation's last name can be 'Merchant', also a customer_type: a non-PII
        # column holding such a value is not a leak, a PII column holding it would be.
        public_values = values(conn, public_cols)
    assert len(raw_values) > 1000

    path = export_role(governed, "restricted-acess")
    assert path == governed.home / "exports" / "restricted-acess.duckdb"
    raw_values |= {str(k) for (k,) in query(governed, "select cust_id from mastered.customer")}
    assert sorted(p.name for p in path.parent.iterdir()) == ["restricted-acess.duckdb"]

    with duckdb.connect(str(path), read_only=True) as conn:
        tables = conn.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
        schemas = {
            s
            for (s,) in conn.execute(
                "select schema_name from information_schema.schemata "
                "where catalog_name = current_database()"
            ).fetchall()
        }
        # DuckDB creates an empty `main` in every file and will not drop it.
        assert schemas == {"governed", "main"}
        assert sorted(tables) == [
            ("governed", "_export_info", "BASE TABLE"),
            ("governed", "restricted_acess_customer", "BASE TABLE"),
            ("governed", "restricted_acess_customer_history", "BASE TABLE"),
        ]
        assert conn.execute(
            "select role, masking_key_id from governed._export_info"
        ).fetchall() == [("restricted-acess", KEY.key_id)]
        scanned = 0
        for schema, table, _ in tables:
            if table == "_export_info":
                continue
            cols = [
                c
                for (c,) in conn.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
            ]
            interval = {"valid_from", "valid_to"} if table.endswith("_history") else {PENDING_FLAG}
            assert set(cols) == set(CUSTOMER.column_names) | interval
            for col in cols:
                found = conn.execute(
                    f'select distinct cast("{col}" as varchar) from {schema}."{table}"'
                ).fetchall()
                forbidden = raw_values if col in pii_cols else raw_values - public_values
                leaked = {v for (v,) in found} & forbidden
                assert not leaked, (col, sorted(leaked)[:5])
                scanned += len(found)
    assert scanned > 1000


def test_export_is_replaced_whole(governed: DataPaths) -> None:
    first = export_role(governed, "analyst")
    stamp = first.stat().st_mtime_ns
    second = export_role(governed, "analyst")
    assert second == first and second.stat().st_mtime_ns >= stamp
    assert sorted(p.name for p in first.parent.iterdir()) == ["analyst.duckdb"]
    columns, rows = query_role(
        governed, "analyst", "select count(*) from governed.analyst_customer"
    )
    assert columns and rows[0][0] == 1500


def test_lowest_priority_number_wins() -> None:
    policies = load_policies()
    # pii-reader (75) beats restricted-acess (80): the holder of both reads PII in clear.
    assert resolve({"pii-reader", "restricted-acess"}, PII_MASK).operator == "pass_through"
    # pii-reader (75) beats dob-bucketing (85) on dates of birth.
    assert resolve({"dob-bucketing", "pii-reader"}, PII_DOB).operator == "pass_through"
    assert policies.resolve({"restricted-acess", "dob-bucketing"}, PII_DOB).operator == (
        "bucket_date"
    )
    assert policies.resolve({"restricted-acess"}, PII_MASK).options == {"algo": "hmac-sha256"}
    assert policies.resolve({"dob-bucketing"}, PII_MASK) is None
    assert policies.resolve({"analyst"}, PII_MASK) is None
    assert policies.resolve(set(), PII_DOB) is None


def test_priority_is_by_number_not_by_order(tmp_path: Path) -> None:
    swapped = GOOD.replace("priority: 75", "priority: 90")
    policies = load_policies(write_policy(tmp_path, swapped))
    assert policies.resolve({"pii-reader", "restricted-acess"}, PII_MASK).operator == "hash"
    assert policies.resolve({"pii-reader", "dob-bucketing"}, PII_DOB).operator == "bucket_date"


CONFLICT = """
---
name: restricted-clear
type: policy
description: "same priority and role as the hash policy, but pass-through"
policy:
  data:
    type: mask
    priority: 80
    selector:
      user: {match: any, tags: ["roles:id:restricted-acess"]}
      column: {tags: ["TW.mask"]}
    mask: {operator: pass_through}
"""

BAD = {
    "unknown operator": (
        GOOD.replace("operator: pass_through", "operator: scramble"),
        r"policy 'customeroverviewrpiireaderpolicy'.*unknown operator 'scramble'",
    ),
    "unknown tag": (
        GOOD.replace(
            '- "TW.dob"\n    mask:\n      operator: bucket_date',
            '- "TW.birth"\n    mask:\n      operator: bucket_date',
        ),
        r"policy 'customerbucketdob'.*unknown column tag 'TW.birth'",
    ),
    "unknown algo": (
        GOOD.replace("algo: hmac-sha256", "algo: md5"),
        r"policy 'customeroverviewrawpiipolicy'.*unknown hash algo 'md5'",
    ),
    "unkeyed sha256": (
        GOOD.replace("algo: hmac-sha256", "algo: sha256"),
        r"policy 'customeroverviewrawpiipolicy'.*'sha256' is unkeyed.*use 'hmac-sha256'",
    ),
    "unknown precision": (
        GOOD.replace('precision: "quarter"', 'precision: "week"'),
        r"policy 'customerbucketdob'.*unknown date precision 'week'",
    ),
    "conflict": (
        GOOD + CONFLICT,
        r"policies 'customeroverviewrawpiipolicy' and 'restricted-clear' conflict: both have "
        r"priority 80 for column tag TW.mask .*hash vs pass_through.* role restricted-acess",
    ),
    "unknown role": (
        GOOD.replace("roles:id:pii-reader", "roles:id:pii-readers"),
        r"unknown role 'pii-readers'",
    ),
    "usual spelling of the restricted role": (
        GOOD.replace("roles:id:restricted-acess", "roles:id:restricted-access"),
        r"unknown role 'restricted-access'.*did you mean 'restricted-acess'\?",
    ),
    "misspelt key": (
        GOOD.replace("operator: bucket_date", "operater: bucket_date"),
        r"policy 'customerbucketdob'.*operater",
    ),
    "bucket on text": (
        GOOD.replace(
            '- "TW.dob"\n    mask:\n      operator: bucket_date',
            '- "TW.mask"\n    mask:\n      operator: bucket_date',
        ),
        r"bucket_date needs DATE or TIMESTAMP columns.*customer.cust_first_name",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_policy_file_is_rejected_naming_file_and_problem(tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    assert text != GOOD
    bad = write_policy(tmp_path, text)
    with pytest.raises(PolicyError, match=message) as err:
        load_policies(bad)
    assert str(err.value).startswith(f"{bad}: ")


def test_bad_policy_file_changes_nothing_built(governed: DataPaths, tmp_path: Path) -> None:
    with connect(governed, read_only=True) as conn:
        before = {r: rows_by_key(conn, f"governed.{r.replace('-', '_')}_customer") for r in ROLES}
    for case, (text, message) in BAD.items():
        bad = write_policy(tmp_path, text)
        with pytest.raises(PolicyError, match=message), connect(governed) as conn:
            build_governed_views(conn, load_policies(bad))
        with connect(governed, read_only=True) as conn:
            after = {
                r: rows_by_key(conn, f"governed.{r.replace('-', '_')}_customer") for r in ROLES
            }
        assert after == before, case


def test_the_checked_in_policy_file_is_the_seeds() -> None:
    policies = {p.name: p for p in load_policies().policies}
    assert {n: (p.priority, p.operator, p.options) for n, p in policies.items()} == {
        "customeroverviewrawpiipolicy": (80, "hash", {"algo": "hmac-sha256"}),
        "customerbucketdob": (85, "bucket_date", {"precision": "quarter"}),
        "customeroverviewrpiireaderpolicy": (75, "pass_through", {}),
        # Not the seed's: the sales role's lead list (contact details keyed-hashed).
        "salesleadcontactpolicy": (82, "hash", {"algo": "hmac-sha256"}),
    }


def test_query_role_is_read_only_and_bounded(governed: DataPaths) -> None:
    with pytest.raises(ExportMissingError, match="fs-accelerator export --role pii-reader"):
        query_role(governed, "pii-reader", "select 1")
    export_role(governed, "pii-reader")
    table = "governed.pii_reader_customer"
    columns, rows = query_role(governed, "pii-reader", f"select cust_id from {table} limit 3")
    assert columns == ["cust_id"] and len(rows) == 3
    for sql in (
        f"delete from {table}",
        "create table governed.notes (x int)",
        f"attach '{governed.warehouse}' as w (read_only)",
        f"select * from read_csv('{next((governed.landing / 'customer').glob('*.csv'))}')",
        "set enable_external_access = true",
        f"set schema = 'main'; attach '{governed.warehouse}' as w (read_only)",
    ):
        with pytest.raises(duckdb.Error):
            query_role(governed, "pii-reader", sql)
    assert query_role(governed, "pii-reader", f"select count(*) from {table}")[1] == [(1500,)]
    with pytest.raises(UnknownRoleError, match="unknown role 'auditor'; known roles: "):
        query_role(governed, "auditor", "select 1")
    with pytest.raises(UnknownRoleError):
        export_role(governed, "auditor")


def test_show_tables_and_unqualified_names_find_the_roles_tables(governed: DataPaths) -> None:
    export_role(governed, "restricted-acess")
    columns, rows = query_role(governed, "restricted-acess", "show tables")
    assert columns == ["name"] and rows == [
        ("_export_info",),
        ("restricted_acess_customer",),
        ("restricted_acess_customer_history",),
    ]
    history = query_role(
        governed,
        "restricted-acess",
        "select count(*), count(*) filter (where valid_to is null) "
        "from restricted_acess_customer_history",
    )
    assert history[1] == [(1500, 1500)]  # one valid version per customer, each current
    unqualified = query_role(
        governed, "restricted-acess", "select count(*) from restricted_acess_customer"
    )
    qualified = query_role(
        governed, "restricted-acess", "select count(*) from governed.restricted_acess_customer"
    )
    assert unqualified == qualified and unqualified[1] == [(1500,)]
    # The export holds only this role's tables: the others' names are not found.
    with pytest.raises(duckdb.CatalogException):
        query_role(governed, "restricted-acess", "select * from pii_reader_customer")


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("restricted-access", "restricted-acess"),
        ("restricted_access", "restricted-acess"),
        ("Analyst", "analyst"),
        ("pii_reader", "pii-reader"),
    ],
)
def test_a_near_miss_role_gets_a_did_you_mean(
    governed: DataPaths, capsys: pytest.CaptureFixture[str], given: str, meant: str
) -> None:
    from fs_assets.app.cli import main

    export_role(governed, meant)
    for argv in (["export", "--role", given], ["query", "--role", given, "show tables"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"unknown role {given!r}" in err and f"did you mean {meant!r}?" in err
    assert main(["query", "--role", "auditor", "show tables"]) == 2
    assert "did you mean" not in capsys.readouterr().err  # no guess when nothing is close


def test_export_before_the_views_exist_is_a_clear_error(landed: DataPaths) -> None:
    with connect(landed) as conn:
        conn.execute("create schema if not exists mastered")
    with pytest.raises(ExportError, match="build the governed assets first"):
        export_role(landed, "analyst")
    assert not export_path(landed, "analyst").exists()
    assert not any((landed.home / "exports").iterdir())


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_governance_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_export_and_query(governed: DataPaths, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("query", "--role", "analyst", "select 1") == 2
    assert "no export for role 'analyst'" in capsys.readouterr().err
    assert run_cli("export", "--role", "analysts") == 2
    assert "unknown role 'analysts'" in capsys.readouterr().err
    assert run_cli("export", "--role", "analyst") == 0
    out = capsys.readouterr().out
    assert "governed.analyst_customer" in out and f"masking key id {KEY.key_id}" in out
    assert 'query --role analyst "select * from analyst_customer limit 5"' in out
    assert run_cli("query", "--role", "analyst", "show tables") == 0
    assert capsys.readouterr().out.splitlines() == [
        "name",
        "-" * 24,
        "_export_info",
        "analyst_customer",
        "analyst_customer_history",
        "(3 rows)",
    ]
    sql = "select cust_id, email_addr, cust_dob from governed.analyst_customer order by 1"
    assert run_cli("query", "--role", "analyst", "--max-rows", "2", sql) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["cust_id", "email_addr", "cust_dob"]
    assert out[2].split()[1:] == ["[REDACTED]", "NULL"]
    assert out[-1].startswith("(2 rows (more not shown")
    assert run_cli("query", "--role", "analyst", "drop table governed.analyst_customer") == 1
    assert "query failed" in capsys.readouterr().err


def test_assets_cover_every_role_and_pii_entity() -> None:
    keys = {a.key for a in GOVERNED_ASSETS}
    assert keys == {
        governed_key(r, name)
        for r in ROLES
        for e in governed_entities()
        for name in (e.name, f"{e.name}_history")
    } | {governed_key(r, LEADS) for r in LEAD_LIST_ROLES} | {
        governed_key(r, "golden_customer") for r in ROLES
    }
    assert dg.AssetKey(["governed", "restricted_acess_customer"]) in keys
    assert dg.AssetKey(["governed", "restricted_acess_customer_history"]) in keys
    # Only customer carries PII tags today; the other entities get no governed view.
    assert [e.name for e in governed_entities()] == ["customer"]
    for asset in GOVERNED_ASSETS:
        spec = next(iter(asset.specs))
        assert spec.group_name == "governed" and spec.kinds == {"duckdb"}
        name = asset.key.path[-1]
        source = next(
            (s for s in ("customer_history", "golden_customer") if name.endswith(s)), "customer"
        )
        assert spec.deps[0].asset_key == dg.AssetKey(["mastered", source])
        assert spec.metadata["dagster/table_name"].startswith("warehouse.governed.")


def test_the_current_views_mark_keys_with_a_pending_correction(governed: DataPaths) -> None:
    """has_pending_correction: true exactly for keys in the pending-corrections table."""
    with connect(governed) as conn:
        key = conn.execute("select min(cust_id) from mastered.customer").fetchone()[0]
        conn.execute(
            "insert into quarantine.customer_pending_corrections (cust_id, _failed_rules) "
            "values (?, ['state__in_country'])",
            [key],
        )
        (key_row_filter_pass,) = conn.execute(
            "select state = 'Maharashtra' from mastered.customer where cust_id = ?", [key]
        ).fetchone()
        for role in ROLES:
            view = f"governed.{role.replace('-', '_')}_customer"
            marked, rows = conn.execute(
                f"select count(*) filter (where {PENDING_FLAG}), count(*) from {view}"
            ).fetchone()
            if role == "branch-maharashtra":  # a row-level policy: its region only
                (region_rows,) = conn.execute(
                    "select count(*) from mastered.customer "
                    "where country = 'India' and state = 'Maharashtra'"
                ).fetchone()
                assert (marked, rows) == (int(key_row_filter_pass), region_rows), role
            else:
                assert (marked, rows) == (1, 1500), role


def test_asset_materializes_the_view_with_policy_metadata(governed: DataPaths) -> None:
    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == "dob_bucketing_customer")
    result = dg.materialize(
        [asset],
        resources={
            "warehouse": WarehouseResource(home=str(governed.home)),
            "masking_key": masking_key_from_env(),
        },
    )
    assert result.success
    meta = result.asset_materializations_for_node(asset.node_def.name)[0].metadata
    assert meta["dagster/row_count"].value == 1500
    assert meta["masking_key_id"].value == KEY.key_id
    tags = {c.name: c.tags for c in meta["dagster/column_schema"].schema.columns}
    assert tags["cust_dob"] == {
        "pii": "TW.dob",
        "policy": "customerbucketdob",
        "operator": "bucket_date",
    }
    assert tags["email_addr"] == {"pii": "TW.mask", "policy": "default-deny", "operator": "redact"}
    assert tags["city"] == {}
    policies = meta["policies"].value
    assert [p["name"] for p in policies["applied"]] == ["customerbucketdob"]


RUNAWAY = "select count(*) from range(100000000000)"  # the reviewer's query: hours of work
MEMORY_HOG = "select count(distinct i::varchar || 'padding-padding') from range(30000000) t(i)"


def test_query_timeout_stops_a_runaway_query(
    governed: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    export_role(governed, "analyst")
    started = time.monotonic()
    with pytest.raises(QueryLimitError, match=r"^query stopped after 1 s: narrow it or raise "):
        query_role(governed, "analyst", RUNAWAY, timeout_s=1)
    assert time.monotonic() - started < 15
    assert run_cli("query", "--role", "analyst", "--timeout", "0.5", RUNAWAY) == 1
    assert "error: query stopped after 0.5 s: narrow it or raise --timeout" in (
        capsys.readouterr().err
    )
    # The next query runs normally; a fast one is not affected by a short timeout.
    assert query_role(governed, "analyst", "select 42", timeout_s=1)[1] == [(42,)]
    with pytest.raises(SystemExit):
        run_cli("query", "--role", "analyst", "--timeout", "0", "select 1")
    assert "not a positive number of seconds" in capsys.readouterr().err


def test_query_memory_cap_holds_and_cannot_be_raised_from_sql(
    governed: DataPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    export_role(governed, "analyst")
    with pytest.raises(QueryLimitError, match=r"needs more than 64MB of memory; narrow it or "):
        query_role(governed, "analyst", MEMORY_HOG, memory_limit="64MB")
    for sql in (
        "set memory_limit = '100GB'",
        "set temp_directory = '/tmp'",
        f"set memory_limit = '100GB'; {MEMORY_HOG}",
    ):
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            query_role(governed, "analyst", sql, memory_limit="64MB")
    assert run_cli("query", "--role", "analyst", "--memory-limit", "64MB", MEMORY_HOG) == 1
    assert "--memory-limit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli("query", "--role", "analyst", "--memory-limit", "lots", "select 1")
    assert "not a memory size" in capsys.readouterr().err
