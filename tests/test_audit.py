"""Identities and the audit log: --role only narrows, every export and query is chained."""

import itertools
import json
import multiprocessing
from pathlib import Path

import duckdb
import pytest

from fs_assets.app.cli import main
from fs_assets.defs.governed import build_governed_views
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance import audit, identity
from fs_assets.transforms.governance.identity import (
    ENV_IDENTITY,
    IdentityError,
    current_identity,
    os_user,
)
from fs_assets.transforms.governance.masking_key import key_from_env
from fs_assets.transforms.governance.policies import load_policies
from fs_assets.transforms.mastering import build_mastered

KEY = key_from_env()


def _entry(home: Path, n: int, statement: str = "select 1") -> dict:
    return audit.append(home, action="query", identity="tester", os_user="tester",
                        role="analyst", statement=statement, rows=n, masking_key_id="abcd1234",
                        status=audit.OK)  # fmt: skip


def _lines(home: Path) -> list[str]:
    return audit.log_path(home).read_text(encoding="utf-8").splitlines(keepends=True)


def test_chain_verifies_and_each_entry_links_to_the_previous(tmp_path: Path) -> None:
    entries = [_entry(tmp_path, n) for n in range(5)]
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == audit.GENESIS
    assert all(b["prev"] == a["hash"] for a, b in itertools.pairwise(entries))
    assert audit.verify(tmp_path) == audit.Verified(5, entries[-1]["hash"])
    assert (audit.log_path(tmp_path).stat().st_mode & 0o777) == 0o600
    assert (audit.audit_dir(tmp_path).stat().st_mode & 0o777) == 0o700


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("edit", r"line 3: its content does not match its hash"),
        ("delete", r"line 3: its prev does not match the hash of line 2"),
        ("delete last", r"ends at line 4 but audit.head records line 5"),
        ("reorder", r"line 2: its prev does not match"),
        ("rechain edit", r"line 4: its prev does not match"),
    ],
)
def test_a_tampered_line_is_caught(
    tmp_path: Path, tamper: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FS_ACCELERATOR_HOME", str(tmp_path))
    for n in range(5):
        _entry(tmp_path, n)
    lines = _lines(tmp_path)
    if tamper == "edit":
        lines[2] = lines[2].replace('"rows":2', '"rows":0')
    elif tamper == "delete":
        del lines[2]
    elif tamper == "delete last":
        del lines[-1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:  # edit a line and fix its own hash: the next line's prev still catches it
        entry = json.loads(lines[2])
        entry["rows"] = 0
        entry["hash"] = audit._digest(entry)
        lines[2] = json.dumps(entry, separators=(",", ":")) + "\n"
    assert "".join(lines) != "".join(_lines(tmp_path))
    audit.log_path(tmp_path).write_text("".join(lines), encoding="utf-8")
    with pytest.raises(audit.AuditError, match=message):
        audit.verify(tmp_path)
    assert main(["--home", str(tmp_path), "audit", "verify"]) == 1


def _writer(home: str, n: int) -> None:
    for i in range(n):
        _entry(Path(home), i)


def test_two_writers_at_once_keep_one_chain(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), 25)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert audit.verify(tmp_path).entries == 50


def test_statement_literals_are_redacted() -> None:
    sql = (
        "select * from pii_reader_customer where cust_first_name = 'O''Brien' "
        "and mobile_number1 = '9876543210' and pin = 400001 and x = $$Ravi$$ limit 10"
    )
    out = audit.redact_statement(sql)
    assert out == (
        "select * from pii_reader_customer where cust_first_name = ? "
        "and mobile_number1 = ? and pin = ? and x = ? limit ?"
    )


def _identities(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "identities.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(identity, "IDENTITY_FILE", path)
    return path


def test_identity_maps_os_user_and_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = os_user()
    monkeypatch.delenv(ENV_IDENTITY, raising=False)
    _identities(tmp_path, f"users:\n  {me}: [analyst]\ndata_folder_owner: [pii-reader]\n",
                monkeypatch)  # fmt: skip
    who = current_identity(tmp_path)
    assert (who.name, who.roles, who.source) == (me, ("analyst",), "user")
    assert who.narrow("analyst") == "analyst"
    with pytest.raises(IdentityError, match=rf"{me} \(user\) may not act as 'pii-reader': it "
                       r"holds analyst"):  # fmt: skip
        who.narrow("pii-reader")

    # Not listed: the owner of the data folder gets data_folder_owner's roles.
    _identities(tmp_path, "data_folder_owner: [pii-reader]\n", monkeypatch)
    assert current_identity(tmp_path).roles == ("pii-reader",)

    svc = "services:\n  reporting:\n    roles: [analyst]\n    run_as: [{}]\n"
    _identities(tmp_path, svc.format("someone-else"), monkeypatch)
    with pytest.raises(IdentityError, match=rf"{me} may not act as service 'reporting'"):
        current_identity(tmp_path, env={ENV_IDENTITY: "reporting"})
    with pytest.raises(IdentityError, match=r"names no service"):
        current_identity(tmp_path, env={ENV_IDENTITY: "reportin"})
    _identities(tmp_path, svc.format(me), monkeypatch)
    who = current_identity(tmp_path, env={ENV_IDENTITY: "reporting"})
    assert (who.name, who.roles) == ("service:reporting", ("analyst",))

    _identities(tmp_path, f"users:\n  {me}: [pii-readers]\n", monkeypatch)
    with pytest.raises(IdentityError, match=r"unknown role 'pii-readers'.*did you mean"):
        current_identity(tmp_path)


@pytest.fixture
def governed(landed: DataPaths) -> DataPaths:
    conn = duckdb.connect(str(landed.warehouse))
    try:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for path in sorted((landed.landing / "customer").glob("*.csv")):
            ingest_file(conn, CUSTOMER, path)
        build_mastered(conn, ENTITIES["customer"])
        KEY.apply(conn)
        build_governed_views(conn, load_policies(), roles=("analyst", "pii-reader"))
    finally:
        conn.close()
    return landed


def test_cli_role_narrows_and_every_call_is_audited(
    governed: DataPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    me = os_user()
    monkeypatch.delenv(ENV_IDENTITY, raising=False)
    _identities(tmp_path, f"users:\n  {me}: [analyst]\n", monkeypatch)
    home = ["--home", str(governed.home)]
    assert main([*home, "export", "--role", "pii-reader"]) == 3
    assert "may not act as 'pii-reader': it holds analyst" in capsys.readouterr().err
    assert not (governed.home / "exports" / "pii-reader.duckdb").exists()
    assert main([*home, "export", "--role", "analyst"]) == 0
    name = conn_value(governed, "select cust_first_name from mastered.customer limit 1")
    sql = f"select count(*) from analyst_customer where cust_first_name <> '{name}'"
    assert main([*home, "query", "--role", "analyst", sql]) == 0
    assert main([*home, "query", "--role", "pii-reader", "select 1"]) == 3
    capsys.readouterr()

    text = audit.log_path(governed.home).read_text(encoding="utf-8")
    entries = [json.loads(line) for line in text.splitlines()]
    assert [(e["action"], e["role"], e["status"]) for e in entries] == [
        ("export", "pii-reader", "denied"),
        ("export", "analyst", "ok"),
        ("query", "analyst", "ok"),
        ("query", "pii-reader", "denied"),
    ]
    export, query = entries[1], entries[2]
    assert export["identity"] == me and export["masking_key_id"] == KEY.key_id
    assert export["rows"] > 0
    assert query["rows"] == 1 and query["masking_key_id"] == KEY.key_id
    assert query["statement"] == "select count(*) from analyst_customer where cust_first_name <> ?"
    assert name not in text
    assert main([*home, "audit", "verify"]) == 0
    assert "4 entries, chain intact" in capsys.readouterr().out


def conn_value(paths: DataPaths, sql: str) -> str:
    conn = duckdb.connect(str(paths.warehouse), read_only=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def test_a_cut_off_last_line_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    for n in range(2):
        _entry(tmp_path, n)
    with audit.log_path(tmp_path).open("a", encoding="utf-8") as f:
        f.write('{"seq":3,"time":"2026-')  # a write cut off by SIGKILL
    with pytest.raises(audit.AuditError, match=r"line 3: not a JSON entry"):
        audit.verify(tmp_path)
    with pytest.raises(audit.AuditWriteError, match=r"ends in a line that is not an entry.*"
                       r"move audit.jsonl and audit.head aside"):  # fmt: skip
        _entry(tmp_path, 3)
    for name in (audit.LOG_NAME, audit.HEAD_NAME):
        (audit.audit_dir(tmp_path) / name).rename(tmp_path / f"{name}.broken")
    assert _entry(tmp_path, 4)["seq"] == 1  # the next call starts a new chain


def test_no_query_runs_unaudited(
    governed: DataPaths,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(ENV_IDENTITY, raising=False)
    home = ["--home", str(governed.home)]
    assert main([*home, "export", "--role", "analyst"]) == 0
    capsys.readouterr()

    def read_only(home: Path) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(audit, "_locked", read_only)
    sql = "select cust_id from analyst_customer limit 1"
    assert main([*home, "query", "--role", "analyst", sql]) == 1
    out, err = capsys.readouterr()
    assert out == ""  # no result printed
    assert "cannot write the audit log" in err and "Read-only file system" in err


def test_a_crash_between_append_and_head_update_still_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        _entry(tmp_path, n)

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # stands for SIGKILL after the line was written

    monkeypatch.setattr(audit, "_write_head", killed)
    with pytest.raises(KeyboardInterrupt):
        _entry(tmp_path, 3)
    monkeypatch.undo()
    assert audit.verify(tmp_path).entries == 4
    assert _entry(tmp_path, 4)["seq"] == 5
    assert audit.verify(tmp_path).entries == 5
