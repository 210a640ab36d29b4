"""No raw PII outside the governed boundary, and every file owner-only.

After a full build, an export of every role and audited queries, every file under the
data folder is read (pii_scan.py: DuckDB text columns, Parquet values and statistics,
Dagster's SQLite storage, lineage events, reports, manifest, audit log) for the raw PII
values of the generated customers. Allowed to hold them: the landing files (the input),
the warehouse (warehouse.duckdb and its pii-reader Parquet layout under warehouse/) and
the pii-reader's export. Reuses the session's built data folder (a copy).
"""

import stat
from pathlib import Path

import pytest
from pii_scan import pii_values, scan, vocabulary

from fs_assets.app.cli import main
from fs_assets.model.paths import PROJECT_ROOT, DataPaths
from fs_assets.transforms.governance.audit import log_path
from fs_assets.transforms.governance.policies import PII_READER, ROLES
from fs_assets.transforms.regional import EXPORT_NAME

CODE = [PROJECT_ROOT / d for d in ("fs_assets", "policies", "resources", "asset_checks")]


def _inside_boundary(paths: DataPaths, path: Path) -> bool:
    rel = path.relative_to(paths.home)
    return (
        rel.parts[0] == "landing"
        or path.name.startswith(paths.warehouse.name)  # the file and its .wal
        or rel.parts[:2] == ("warehouse", EXPORT_NAME)
        or (rel.parts[:1] == ("warehouse",) and ".staging" in rel.parts)
        or rel == Path("exports") / f"{PII_READER}.duckdb"
    )


@pytest.fixture
def used(built: DataPaths, capsys: pytest.CaptureFixture[str]) -> DataPaths:
    """The built data folder after every role's export and a query per role."""
    home = ["--home", str(built.home)]
    for role in ROLES:
        assert main([*home, "export", "--role", role]) == 0, capsys.readouterr().err
        table = role.replace("-", "_") + "_customer"
        sql = f"select * from {table} limit 3"
        assert main([*home, "query", "--role", role, sql]) == 0, capsys.readouterr().err
    capsys.readouterr()
    return built


def test_no_raw_pii_outside_the_boundary_and_files_owner_only(used: DataPaths) -> None:
    values = pii_values(used.warehouse, vocabulary(CODE))
    assert all(len(v) > 20 for v in values.values()), {k: len(v) for k, v in values.items()}
    # A pii-reader query naming a customer: its literal must not reach the audit log.
    name = sorted(values["cust_last_name"])[0]
    sql = f"select count(*) from pii_reader_customer where cust_last_name = '{name}'"
    assert main(["--home", str(used.home), "query", "--role", PII_READER, sql]) == 0
    assert log_path(used.home).exists()

    files = sorted(p for p in used.home.rglob("*") if p.is_file())
    outside = [p for p in files if not _inside_boundary(used, p)]
    kinds = {p.suffix for p in outside}
    assert {".duckdb", ".db", ".jsonl", ".html", ".yaml"} <= kinds
    assert any(p.parent.name == "exports" for p in outside)
    found = scan(outside, values)
    assert not found, [(str(f.path.relative_to(used.home)), f.where, f.column) for f in found]

    # Owner-only: the project's files 0600, folders 0700. Not checked here: the landing
    # files (the input) and the Dagster instance, which the session fixture creates in
    # this process before any umask is set (the CLI sets umask 077 before it starts one).
    loose = [
        (str(p.relative_to(used.home)), oct(p.stat().st_mode & 0o777))
        for p in [*files, *(d for d in used.home.rglob("*") if d.is_dir())]
        if p.relative_to(used.home).parts[0] not in ("landing", "dagster_home")
        and p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    ]
    assert not loose, loose


def test_the_scan_finds_a_planted_leak(built: DataPaths, tmp_path: Path) -> None:
    """The scan can fail: a value in a JSON file, a Parquet file, a DuckDB table."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    values = pii_values(built.warehouse, vocabulary(CODE))
    tmp_path = tmp_path / "leak"
    tmp_path.mkdir()
    email = sorted(values["email_addr"])[0]
    address = sorted(v for v in values["customer_addressline1"] if " " in v)[0]
    surname = sorted(values["cust_last_name"])[0]
    (tmp_path / "event.json").write_text(f'{{"note": "{address}"}}', encoding="utf-8")
    pq.write_table(pa.table({"x": [surname, "zzz"]}), tmp_path / "t.parquet")
    with duckdb.connect(str(tmp_path / "other.duckdb")) as conn:
        conn.execute("create table t as select ? as contact", [email])
    found = {(f.path.name, f.column) for f in scan(sorted(tmp_path.iterdir()), values)}
    assert found >= {
        ("event.json", "customer_addressline1"),
        ("t.parquet", "cust_last_name"),
        ("other.duckdb", "email_addr"),
    }
