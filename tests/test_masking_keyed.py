"""Keyed masking: a restricted reader cannot reverse masks or tokens without the key."""

import argparse
import os
import stat
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pytest

from fs_assets.app.governance_cli import add_governance_commands
from fs_assets.defs.governed import GOVERNED_ASSETS, build_governed_views
from fs_assets.engines.duckdb_engine import ingest_file
from fs_assets.generator.customers import MOBILE_RANGE
from fs_assets.generator.names import build_pools
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS, connect_with_retry
from fs_assets.transforms.governance.export import export_key_id, export_path, export_role
from fs_assets.transforms.governance.masking_key import (
    ENV_KEY,
    ENV_KEY_FILE,
    MaskingKey,
    MaskingKeyError,
    create_sample_key,
    hmac_sql,
    key_from_env,
    load_key,
    read_key_file,
    sample_key_path,
)
from fs_assets.transforms.governance.policies import load_policies
from fs_assets.transforms.mastering import build_mastered
from resources.landing_zone import LandingZoneResource
from resources.masking_key import MaskingKeyResource, masking_key_from_env
from resources.warehouse import WarehouseResource

KEY = key_from_env()  # the tests' key (conftest)
OTHER_KEY = MaskingKey(b"a-rotated-masking-key-0123456789")
SEED = 7  # the seed of conftest's small_landing: the attacker knows the generator exactly
CANDIDATE_MOBILES = 300_000
RESTRICTED_TABLE = "governed.restricted_acess_customer"


@pytest.fixture
def governed(landed: DataPaths) -> DataPaths:
    """Ingested, mastered, every role's views built (as in test_governance)."""
    with duckdb.connect(str(landed.warehouse)) as conn:
        for schema in LAYER_SCHEMAS:
            conn.execute(f"create schema if not exists {schema}")
        for name in ENTITIES:
            for path in sorted((landed.landing / name).glob("*.csv")):
                ingest_file(conn, ENTITIES[name], path)
            build_mastered(conn, ENTITIES[name])
        build_governed_views(conn, load_policies())
    return landed


def mastered(paths: DataPaths, column: str) -> set[str]:
    with duckdb.connect(str(paths.warehouse), read_only=True) as conn:
        sql = f'select distinct "{column}" from mastered.customer where "{column}" is not null'
        return {v for (v,) in conn.execute(sql).fetchall()}


def exported(path: Path, column: str, table: str = RESTRICTED_TABLE) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {v for (v,) in conn.execute(f'select distinct "{column}" from {table}').fetchall()}


def digests(candidates: list[str], key: MaskingKey | None) -> dict[str, str]:
    """digest -> candidate: plain sha256 (the old mask) or HMAC under `key`, in DuckDB."""
    with duckdb.connect() as conn:
        expr = "sha256(v)"
        if key is not None:
            key.apply(conn)
            expr = hmac_sql("v")
        c = pa.table({"v": pa.array(candidates, pa.string())})
        conn.register("c", c)
        return dict(conn.execute(f"select {expr}, v from c").fetchall())


def recovered(masked: set[str], table: dict[str, str]) -> set[str]:
    return {table[m] for m in masked if m in table}


def test_enumeration_attack_recovers_nothing_without_the_key(governed: DataPaths) -> None:
    path = export_role(governed, "restricted-acess")
    mobiles, last_names, ids = (
        mastered(governed, c) for c in ("mobile_number1", "cust_last_name", "cust_id")
    )
    # Candidates: a large sample of the generator's mobile space plus every true value (an
    # attacker could not do better), the generator's own name lists, every customer id.
    rng = np.random.default_rng(0)
    sample = {str(v) for v in rng.integers(*MOBILE_RANGE, size=CANDIDATE_MOBILES)}
    mobile_candidates = sorted(sample | mobiles)
    pools = build_pools(SEED)
    names = sorted(
        {n for pool in (pools.last, pools.first_any, pools.org_suffixes) for n in pool.to_pylist()}
        | {n.upper() for n in pools.last.to_pylist()}
        | {n.lower() for n in pools.last.to_pylist()}
    )
    id_candidates = [str(i) for i in range(1_000_000_001, 1_000_000_001 + 10_000)]
    attacks = {
        "mobile_number1": (mobile_candidates, mobiles),
        "cust_last_name": (names, last_names),
        "cust_id": (id_candidates, ids),
    }
    for column, (candidates, truth) in attacks.items():
        masked = exported(path, column)
        assert len(masked) > 100 and not masked & truth, column
        for guess_key in (None, OTHER_KEY):  # the unkeyed hash, a wrong key
            assert recovered(masked, digests(candidates, guess_key)) == set(), column
        # The control: the same attack with the key recovers the values, so it could succeed.
        assert recovered(masked, digests(candidates, KEY)) == truth, column
        assert len(truth) > 100


@pytest.mark.parametrize("secret", [b"k" * 16, "clé-ünïcode-0123456789".encode(), b"x" * 200])
def test_sql_hmac_is_rfc2104_hmac_sha256(secret: bytes) -> None:
    key = MaskingKey(secret)
    values = ["", "9876543210", 'Ō\'Brien "quoted" *?[glob]', "line\nbreak\x01"]
    with duckdb.connect() as conn:
        key.apply(conn)
        got = [conn.execute(f"select {hmac_sql('?::varchar')}", [v]).fetchone()[0] for v in values]
        # Without the key a session computes NULL, never an unkeyed hash.
        plain = duckdb.connect()
        assert plain.execute(f"select {hmac_sql('?::varchar')}", ["x"]).fetchone()[0] is None
    assert got == [key.token(v) for v in values]
    assert len(key.key_id) == 8 and key.key_id != MaskingKey(secret + b"!").key_id
    assert repr(key) == "MaskingKey()"  # a log line with the key object shows nothing


def test_export_carries_key_id_and_a_rotated_key_is_detected(governed: DataPaths) -> None:
    first = export_role(governed, "restricted-acess", key=KEY)
    assert export_key_id(governed, "restricted-acess") == KEY.key_id
    restricted_ids = exported(first, "cust_id")
    analyst = export_role(governed, "analyst", key=KEY)
    # Same key: the tokenised join key joins across the role's tables and exports.
    assert exported(analyst, "cust_id", "governed.analyst_customer") == restricted_ids
    analyst = export_role(governed, "analyst", key=OTHER_KEY)
    assert export_key_id(governed, "analyst") == OTHER_KEY.key_id != KEY.key_id
    assert not exported(analyst, "cust_id", "governed.analyst_customer") & restricted_ids


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_governance_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_no_key_fails_clearly_and_changes_nothing(
    governed: DataPaths, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    with pytest.raises(MaskingKeyError, match=f"no masking key configured: set {ENV_KEY}"):
        key_from_env()
    assert run_cli("export", "--role", "restricted-acess") == 2
    err = capsys.readouterr().err
    assert "no masking key configured" in err and "fs-accelerator masking-key" in err
    assert not export_path(governed, "restricted-acess").exists()

    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == "analyst_customer")
    resources = {
        "warehouse": WarehouseResource(home=str(governed.home)),
        "masking_key": masking_key_from_env(),
    }
    result = dg.materialize([asset], resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no masking key configured" in str(failure.step_failure_data.error.cause)


def test_the_sample_key_in_the_data_folder_serves_later_commands(
    governed: DataPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the main command, `ui` and `export` find its key without any variable."""
    monkeypatch.delenv(ENV_KEY, raising=False)
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)
    assert create_sample_key(sample_key_path(governed.home)) is True
    key = key_from_env()
    assert MaskingKeyResource().get().key_id == key.key_id
    export_role(governed, "restricted-acess")
    with duckdb.connect(str(export_path(governed, "restricted-acess")), read_only=True) as conn:
        ids = conn.execute("select masking_key_id from governed._export_info").fetchall()
    assert ids == [(key.key_id,)]


def test_key_never_reaches_metadata_or_the_event_log(governed: DataPaths) -> None:
    asset = next(a for a in GOVERNED_ASSETS if a.key.path[-1] == "restricted_acess_customer")
    resources = {
        "warehouse": WarehouseResource(home=str(governed.home)),
        "masking_key": masking_key_from_env(),
    }
    with dg.instance_for_test() as instance:
        result = dg.materialize([asset], resources=resources, instance=instance)
        assert result.success
        records = instance.get_records_for_run(result.run_id).records
        text = "\n".join(str(r.event_log_entry) for r in records)
        text += str(instance.get_run_by_id(result.run_id))
    inner, outer = KEY.pads()
    secret = KEY.secret.decode()
    for leaked in (secret, inner.hex(), outer.hex()):
        assert leaked not in text
    assert KEY.key_id in text  # the id, which is public, is recorded


def test_sample_key_file_is_owner_only_reused_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "data home ü [1]"
    monkeypatch.setenv("FS_ACCELERATOR_HOME", str(home))
    assert run_cli("masking-key") == 0
    path = sample_key_path(home)
    out = capsys.readouterr().out
    assert f"created a new sample masking key file {path}" in out
    assert f"export {ENV_KEY_FILE}='{path}'" in out  # quoted: the folder has a space
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    key = read_key_file(path)
    assert key.secret.decode() not in out
    assert run_cli("masking-key") == 0 and "kept the existing" in capsys.readouterr().out
    assert read_key_file(path) == key  # a second run never replaces the key
    assert create_sample_key(path) is False
    resource = MaskingKeyResource(key_file=str(path))
    assert resource.get() == key

    os.chmod(path, 0o644)
    with pytest.raises(MaskingKeyError, match=r"readable by others .*chmod 600"):
        load_key(None, str(path))
    with pytest.raises(MaskingKeyError, match="shorter than 16 characters"):
        load_key("short", None)
    with pytest.raises(MaskingKeyError, match="cannot read the masking key file"):
        load_key(None, str(tmp_path / "missing.key"))


def test_governed_columns_cover_every_pii_column() -> None:
    masked = {c.name for c in CUSTOMER.columns if c.pii}
    assert {"mobile_number1", "cust_last_name", "email_addr", "pin", "cust_dob"} <= masked


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_warehouse_opened_for_writing_becomes_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "old warehouse 'x'.duckdb"
    duckdb.connect(str(path)).close()
    os.chmod(path, 0o644)  # as a build before this change left it
    connect_with_retry(path, timeout_s=5).close()
    assert mode(path) == 0o600
    assert os.umask(0o077) & 0o077 == 0o077  # and the process now creates owner-only files


def test_rejected_files_and_reports_are_owner_only(tmp_path: Path) -> None:
    landing = LandingZoneResource(home=str(tmp_path))
    bad = landing.entity_dir("customer") / "bad [1].csv"
    bad.write_text("not,a,customer\n", encoding="utf-8")
    os.chmod(bad, 0o644)
    moved = landing.move_aside("customer", bad, {"reason": "wrong columns"})
    report = moved.with_name(moved.name + ".report.json")
    assert mode(moved) == 0o600 and mode(report) == 0o600
    assert mode(moved.parent) == 0o700 and mode(landing.rejected_dir) == 0o700


def test_exports_are_owner_only(governed: DataPaths) -> None:
    path = export_role(governed, "pii-reader")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


@pytest.mark.slow
def test_a_build_writes_the_warehouse_and_the_regional_layout_owner_only(
    built_template: Path,
) -> None:
    warehouse = built_template / "warehouse.duckdb"
    layout = built_template / "warehouse" / "customer_overview"
    parquet = list(layout.rglob("*.parquet"))
    assert mode(warehouse) == 0o600 and len(parquet) > 10
    loose = [
        (str(p.relative_to(built_template)), oct(mode(p)))
        for p in [layout, *layout.rglob("*")]
        if mode(p) & 0o077
    ]
    assert loose == []
