"""History (SCD type 2) and last-known-good mastering, against hand-built expectations."""

from __future__ import annotations

import csv
import datetime as dt
import re
from io import StringIO
from pathlib import Path

import duckdb
import pytest

from asset_checks.integrity_checks import evaluate_integrity_checks
from fs_assets.defs.governed import build_governed_views
from fs_assets.defs.history import AS_OF_SQL
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.governance.export import export_role, query_role
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.governance.policies import RESTRICTED, load_policies
from fs_assets.transforms.mastering import build_mastered

CUSTOMER = ENTITIES["customer"]
ORDER = tuple(ENTITIES)  # dependency order: fx_rate and account before transaction


def _template(small_landing: Path) -> dict[str, str | None]:
    path = sorted((small_landing / "customer").glob("*.csv"))[0]
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        values = next(reader)[1:]
    return {c: (v or None) for c, v in zip(CUSTOMER.column_names, values, strict=True)}


def _write(path: Path, ent: Entity, rows: list[dict[str, str | None]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in ent.columns)])
        for i, row in enumerate(rows):
            writer.writerow([i, *("" if row[c] is None else row[c] for c in ent.column_names)])
    return path


def _as_of(conn: duckdb.DuckDBPyConnection, cust_id: str, day: str) -> list[tuple]:
    at = dt.datetime.fromisoformat(day)
    return conn.execute(
        f"select customer_risk_category, valid_from, valid_to from ({AS_OF_SQL})",
        [cust_id, at, at],
    ).fetchall()


@pytest.fixture
def versions(conn, small_landing: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """One customer: two valid versions, an invalid newer one, then a late correction."""
    row = dict(_template(small_landing), cust_id="1777777777")

    def version(stamp: str, **changes: str) -> dict[str, str | None]:
        return dict(row, modified_at=stamp, **changes)

    first = [
        version("2024-01-01 00:00:00", customer_risk_category="Low"),
        version("2024-03-01 00:00:00", customer_risk_category="High"),
        version("2024-05-01 00:00:00", customer_risk_category="Low", cibil_score="12"),
    ]
    ingest_file(conn, CUSTOMER, _write(tmp_path / "first.csv", CUSTOMER, first))
    assert build_mastered(conn, CUSTOMER).mode == "full"
    late = [version("2024-02-01 00:00:00", customer_risk_category="Medium")]
    ingest_file(conn, CUSTOMER, _write(tmp_path / "late.csv", CUSTOMER, late))
    assert build_mastered(conn, CUSTOMER).mode == "incremental"
    return conn


def test_history_holds_every_valid_version_with_its_interval(versions) -> None:
    rows = versions.execute(
        "select customer_risk_category, valid_from, valid_to, _source_file "
        "from mastered.customer_history where cust_id = '1777777777' order by valid_from"
    ).fetchall()
    day = dt.datetime.fromisoformat
    assert [r[:3] for r in rows] == [
        ("Low", day("2024-01-01"), day("2024-02-01")),
        ("Medium", day("2024-02-01"), day("2024-03-01")),  # the late correction, in its place
        ("High", day("2024-03-01"), None),  # current: valid_to NULL
    ]
    assert Path(rows[1][3]).name == "late.csv"


def test_late_correction_does_not_become_current(versions) -> None:
    current = versions.execute(
        "select customer_risk_category, modified_at from mastered.customer "
        "where cust_id = '1777777777'"
    ).fetchall()
    assert current == [("High", dt.datetime(2024, 3, 1))]
    pending = versions.execute(
        "select _failed_rules, modified_at from quarantine.customer_pending_corrections "
        "where cust_id = '1777777777'"
    ).fetchall()
    assert pending == [(["cibil_score__exact_length", "cibil_score__range"], "2024-05-01 00:00:00")]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2023-12-31 23:59:59", None),  # before the first version
        ("2024-01-01 00:00:00", "Low"),  # valid_from is inclusive
        ("2024-01-31 12:00:00", "Low"),
        ("2024-02-01 00:00:00", "Medium"),  # valid_to is exclusive
        ("2024-02-15 00:00:00", "Medium"),
        ("2024-04-01 00:00:00", "High"),
        ("2024-06-01 00:00:00", "High"),  # the invalid May version never took effect
    ],
)
def test_as_of_query(versions, day: str, expected: str | None) -> None:
    found = [r[0] for r in _as_of(versions, "1777777777", day)]
    assert found == ([] if expected is None else [expected])


CLEAR = "mastered.customer"


def test_governed_history_masks_like_the_customer_view(
    landed: DataPaths, small_landing: Path
) -> None:
    with duckdb.connect(str(landed.warehouse)) as conn:
        for schema in ("raw", "mastered", "quarantine", "meta"):
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
        build_mastered(conn, CUSTOMER)
        build_governed_views(conn, load_policies(), roles=(RESTRICTED, "analyst"))
        key_from_env().apply(conn)  # the keyed masks and tokens compute with the session's key
        for role in ("restricted_acess", "analyst"):
            view, history = f"governed.{role}_customer", f"governed.{role}_customer_history"
            # cust_id is a keyed token in both views: the current history row of each token
            # carries exactly the customer view's masked values.
            differ = conn.execute(
                f"select count(*) from {view} v join {history} h using (cust_id) "
                "where h.valid_to is null and (v.email_addr is distinct from h.email_addr "
                "or v.cust_dob is distinct from h.cust_dob)"
            ).fetchone()[0]
            joined = conn.execute(
                f"select count(*) from {view} v join {history} h using (cust_id) "
                "where h.valid_to is null"
            ).fetchone()[0]
            rows, clear_emails, clear_ids = conn.execute(
                f"select count(*), "
                f"count(*) filter (where h.email_addr in (select email_addr from {CLEAR})), "
                f"count(*) filter (where h.cust_id in (select cust_id from {CLEAR})) "
                f"from {history} h"
            ).fetchone()
            assert (differ, joined, rows) == (0, 1500, 1500), role
            assert clear_emails == 0 and clear_ids == 0, role


def _invalid_newer_versions(conn: duckdb.DuckDBPyConnection, n: int) -> list[dict]:
    """N existing customers, each with a newer version that breaks exactly one rule."""
    breaks = [
        ("cibil_score", "12"),
        ("cust_segment", "Downtown"),
        ("email_addr", "not an e-mail"),
        ("customer_risk_category", "Extreme"),
    ]
    cols = ", ".join(f'"{c}"' for c in CUSTOMER.column_names)
    rows = conn.execute(
        f"select {cols} from raw.customer r where cust_id in "
        "(select cust_id from mastered.customer order by cust_id limit ?) "
        "qualify row_number() over (partition by cust_id order by _modified_ts desc) = 1 "
        "order by cust_id",
        [n],
    ).fetchall()
    out = []
    for i, values in enumerate(rows):
        row = dict(zip(CUSTOMER.column_names, values, strict=True))
        column, value = breaks[i % len(breaks)]
        out.append(dict(row, **{column: value}, modified_at="2099-01-01 00:00:00"))
    return out


@pytest.mark.slow
def test_invalid_newer_versions_keep_customers_and_dependents(built: DataPaths) -> None:
    """The issue's scenario: N bad updates lose nothing and the build warns with N."""
    from fs_assets.app.build import build

    n = 13
    with duckdb.connect(str(built.warehouse)) as conn:
        before = {
            t: conn.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("mastered.customer", "mastered.account", "mastered.transaction")
        }
        bad = _invalid_newer_versions(conn, n)
    _write(built.landing / "customer" / "bad updates 'n' [13].csv", CUSTOMER, bad)
    keys = [f"raw/{e}" for e in ORDER] + [f"mastered/{e}" for e in ORDER]
    keys += [f"mastered/{e}_history" for e in ORDER]
    report = build(built, select=" or ".join(f'key:"{k}"' for k in keys), out=StringIO())
    assert report.ok, (report.checks_failed, report.step_failures)
    assert ("mastered.customer:pending_corrections", "WARN") in report.checks_failed
    with duckdb.connect(str(built.warehouse), read_only=True) as conn:
        after = {t: conn.execute(f"select count(*) from {t}").fetchone()[0] for t in before}
        assert after == before
        quarantined = conn.execute(
            "select (select count(*) from quarantine.account_rejects),"
            " (select count(*) from quarantine.transaction_rejects),"
            " (select count(*) from quarantine.customer_rejects),"
            " (select count(distinct cust_id) from quarantine.customer_pending_corrections)"
        ).fetchone()
        assert quarantined == (0, 0, 0, n)
        results = {r.check_name: r for r in evaluate_integrity_checks(conn, CUSTOMER, _ALL)}
    pending = results["pending_corrections"]
    assert not pending.passed and pending.severity.value == "WARN"
    assert pending.description.startswith(f"{n} pending corrections of {n} customer keys")
    assert results["reconciles_with_raw"].passed


_ALL = {"reconciles_with_raw", "quarantine_rate", "pending_corrections"}


def test_reconciliation_fails_when_a_newest_version_is_unexplained(
    versions,
) -> None:
    """The check can fail: drop the pending correction and the newest version is lost."""
    results = {r.check_name: r for r in evaluate_integrity_checks(versions, CUSTOMER, _ALL)}
    assert results["reconciles_with_raw"].passed
    assert not results["pending_corrections"].passed
    versions.execute("delete from quarantine.customer_pending_corrections")
    results = {r.check_name: r for r in evaluate_integrity_checks(versions, CUSTOMER, _ALL)}
    counts = results["reconciles_with_raw"].metadata
    assert not results["reconciles_with_raw"].passed
    assert counts["newest_versions_unexplained"].value == 1
    assert results["pending_corrections"].passed


def test_history_is_the_mastered_rows_and_the_stored_past_versions(versions) -> None:
    """Current versions are not written twice: the history view reads them from mastered."""
    kind = versions.execute(
        "select table_type from information_schema.tables "
        "where table_schema = 'mastered' and table_name = 'customer_history'"
    ).fetchone()
    assert kind == ("VIEW",)
    past = versions.execute(
        "select customer_risk_category, valid_to from mastered.customer_history_past "
        "where cust_id = '1777777777' order by valid_from"
    ).fetchall()
    # Low (Jan), the late Medium (Feb): replaced; High (Mar) is the mastered row.
    assert [p[0] for p in past] == ["Low", "Medium"]
    assert all(p[1] is not None for p in past)
    counts = versions.execute(
        "select (select count(*) from mastered.customer_history), "
        "(select count(*) from mastered.customer), "
        "(select count(*) from mastered.customer_history_past), "
        "(select count(*) from mastered.customer_history where valid_to is null)"
    ).fetchone()
    assert counts == (counts[1] + counts[2], counts[1], counts[2], counts[1])


def test_a_history_table_of_an_older_build_becomes_the_view(versions) -> None:
    """A warehouse whose history is still a table (an older build) is rebuilt in full once."""
    before = versions.execute("select * from mastered.customer_history order by all").fetchall()
    versions.execute("create table _h as select * from mastered.customer_history")
    versions.execute("drop view mastered.customer_history")
    versions.execute("drop table mastered.customer_history_past")
    versions.execute("create table mastered.customer_history as select * from _h")
    assert build_mastered(versions, CUSTOMER).mode == "full"
    after = versions.execute("select * from mastered.customer_history order by all").fetchall()
    assert after == before
    assert build_mastered(versions, CUSTOMER).mode == "unchanged"


README = Path(__file__).resolve().parents[1] / "README.md"
HISTORY_SECTION = "## Last known good, pending corrections and history"


def _documented_role_query() -> tuple[str, str]:
    """The history section's `fs-accelerator query --role ROLE "SQL"` on the history."""
    section = README.read_text(encoding="utf-8").split(HISTORY_SECTION, 1)[1]
    section = " ".join(section.split("\n## ", 1)[0].split())  # its lines joined
    for role, sql in re.findall(r'`fs-accelerator query --role (\S+) "([^"]+)"`', section):
        if "_customer_history" in sql:
            return role, sql
    raise AssertionError("the history section shows a customer's history through a role")


def test_the_documented_role_history_query_finds_the_customer(
    landed: DataPaths, tmp_path: Path
) -> None:
    """README's lookup of one customer's history through a role returns that history,
    late correction included (a role reading cust_id as a keyed token would find nothing)."""
    role, sql = _documented_role_query()
    cust_id = re.search(r"cust_id = '([0-9]+)'", sql).group(1)
    with duckdb.connect(str(landed.warehouse)) as conn:
        for schema in ("raw", "mastered", "quarantine", "meta"):
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
        cols = ", ".join(f'"{c}"' for c in CUSTOMER.column_names)
        values = conn.execute(
            f"select {cols} from raw.customer where cust_id = ?", [cust_id]
        ).fetchone()
        row = {
            c: (None if v is None else str(v))
            for c, v in zip(CUSTOMER.column_names, values, strict=True)
        }
        late = dt.datetime.fromisoformat(row["modified_at"]) - dt.timedelta(days=30)
        other = "High" if row["customer_risk_category"] != "High" else "Low"
        correction = dict(
            row, customer_risk_category=other, modified_at=f"{late:%Y-%m-%d %H:%M:%S}"
        )
        ingest_file(conn, CUSTOMER, _write(tmp_path / "late.csv", CUSTOMER, [correction]))
        build_mastered(conn, CUSTOMER)
        build_governed_views(conn, load_policies(), roles=(role,))
        expected = conn.execute(
            "select cust_id, customer_risk_category, valid_from, valid_to "
            "from mastered.customer_history where cust_id = ? order by valid_from",
            [cust_id],
        ).fetchall()
    assert [r[1] for r in expected] == [other, row["customer_risk_category"]]
    export_role(landed, role)
    columns, rows = query_role(landed, role, sql)
    assert columns == ["cust_id", "customer_risk_category", "valid_from", "valid_to"]
    assert rows == expected
