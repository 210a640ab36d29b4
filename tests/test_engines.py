"""DuckDB and Spark build the same raw, mastered and history tables from the same files.

One SparkSession (local[2], two shuffle partitions, no UI) serves the module. The landing
zone is a small generated data set plus, per entity, a file of hand-made edge cases
(new versions that break rules, unversionable rows, repeated and older versions, a value
with a trailing line break, a dangling foreign key), a malformed file (rejected whole)
and a byte-identical copy of a file (a duplicate); for customers also a file whose name
is a glob pattern matching another file, carrying a same-timestamp correction and a NUL
in a city. Both engines ingest every file and master every entity; then keys, values,
rejects and pending corrections with their rule names, history intervals and the ledger's
per-file outcomes must be identical, and the rule checks must pass on both outputs.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")

from engine_rows import comparable_rows, mart_rows
from sources_support import local_spark_warehouse

from asset_checks.rule_checks import key_duplicates, rule_failures
from fs_assets.defs.governed import GovernedView, build_governed_views
from fs_assets.engines import duckdb_engine
from fs_assets.engines import spark_ingest as si
from fs_assets.engines import spark_mastering as sm
from fs_assets.engines import spark_regions as sr
from fs_assets.engines import spark_warehouse as sw
from fs_assets.engines.publish import current_batches, current_build, current_partitions
from fs_assets.generator import generate_landing
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.transforms import mastering
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.governance.policies import ROLES, load_policies
from fs_assets.transforms.landing_files import PendingFile, file_layout, is_landing_file
from fs_assets.transforms.mastering import LINEAGE_COLUMNS
from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL

CUSTOMERS = 300
STAMP = "%Y-%m-%d %H:%M:%S"


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    return header, [dict(zip(header[1:], r[1:], strict=True)) for r in body]


def _shift(stamp: str, days: int) -> str:
    return (dt.datetime.strptime(stamp, STAMP) + dt.timedelta(days=days)).strftime(STAMP)


def _edge_rows(ent: Entity, base: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows (by source header) that exercise every path of ingest and mastering."""
    h = {c.name: c.source_header for c in ent.columns}
    key, mod = h[ent.key], h["modified_at"]
    r0, r1, r2, r3, r4 = (dict(r) for r in base[:5])
    newer = {**r0, mod: _shift(r0[mod], 30)}
    older = {**r3, mod: _shift(r3[mod], -400)}
    rows = [
        dict(r2),  # already present
        {**r1, key: ""},  # key missing -> ingest reject
        {**r1, key: r1[key] + "X", mod: "yesterday"},  # modified_at invalid -> ingest reject
        older,  # an older version: raw keeps it, mastered keeps the latest
        {**r4, mod: _shift(r4[mod], 1)},  # a valid newer version
        {**r4, mod: _shift(r4[mod], 1)},  # ...repeated in the same file: first row wins
    ]
    if ent.name == "customer":
        newer.update({h["cust_segment"]: "Downtown", h["cibil_score"]: "1.5x"})
        rows += [
            newer,
            {**r1, mod: _shift(r1[mod], 2), h["cust_first_name"]: "Anna\n"},  # pattern, \n
            {
                **r2,
                mod: _shift(r2[mod], 3),
                h["cust_first_name"]: "Zoë",
                h["cust_dob"]: "2001-02-30",
            },
            {**r3, mod: _shift(r3[mod], 4), h["email_addr"]: "not an email", h["pin"]: "1" * 11},
            *_cross_field_rows(h, base[20:60]),
        ]
    elif ent.name == "account":
        newer.update({h["cust_id"]: "NOPE000001", h["open_date"]: "someday"})
        rows += [newer, {**r1, mod: _shift(r1[mod], 2), h["current_balance"]: "12.345"}]
    elif ent.name == "product":
        newer.update({h["annual_fee"]: "abc", h["interest_rate"]: "99"})
        rows += [newer]
    elif ent.name == "fx_rate":
        newer.update({h["rate"]: "-2"})  # rate__positive and rate__range
        # A key that names another currency than its row: two rates for one pair.
        other = {**r1, mod: _shift(r1[mod], 2), h["fx_rate_id"]: "EUR:" + r1[h["rate_date"]]}
        rows += [newer, other, {**r2, mod: _shift(r2[mod], 2), h["rate"]: "1,5"}]
    elif ent.name == "campaign":
        newer.update({h["channel"]: "Pigeon", h["end_date"]: "2000-01-01"})  # value, order
        rows += [newer]
    elif ent.name == "campaign_event":
        newer.update({h["event_type"]: "clicked", h["cust_id"]: "NOPE000001"})  # value, key
        rows += [newer]
    else:
        newer.update({h["account_id"]: "999999999999", h["amount"]: "-0.5e1"})
        other = "SGD" if r2[h["currency"]] != "SGD" else "USD"
        rows += [
            newer,
            {**r1, mod: _shift(r1[mod], 2), h["transaction_ts"]: "2024-13-01"},
            {**r2, mod: _shift(r2[mod], 3), h["currency"]: other},  # not the account's
            # After the rate feed's last day: no rate, a pending correction.
            {**r3, mod: _shift(r3[mod], 4), h["transaction_ts"]: "2023-11-20 10:00:00"},
        ]
    # The bad newer versions above are pending corrections of good keys; a new key whose
    # only version is bad is rejected.
    rows.append({**newer, key: r0[key] + "Z"})
    return rows


def _cross_field_rows(h: dict[str, str], base: list[dict[str, str]]) -> list[dict[str, str]]:
    """Newer customer versions that each break cross-field rules (places, formats, flags,
    title, personal-only attributes, a tab and a C1 control character)."""
    mod = h["modified_at"]
    persons = [r for r in base if r[h["customer_type"]] == "Personal"]
    org = next(r for r in base if r[h["customer_type"]] != "Personal")
    p0, p1, p2, p3 = persons[:4]
    flip = {"Yes": "No", "No": "Yes"}
    return [
        {
            **p0,
            mod: _shift(p0[mod], 5),
            h["country"]: "Norway" if p0[h["country"]] != "Norway" else "India",
        },
        {**p1, mod: _shift(p1[mod], 5), h["mobile_number1"]: "12345", h["city"]: "Pu\tne"},
        {
            **p2,
            mod: _shift(p2[mod], 5),
            h["minor_flag"]: flip[p2[h["minor_flag"]]],
            h["gender"]: "Male" if p2[h["cust_title"]] in ("Miss", "Mrs", "Mx") else "Non Binary",
        },
        {
            **p3,
            mod: _shift(p3[mod], 5),
            h["cust_dob"]: "2999-01-01",
            h["cust_last_name"]: "Sm\x85ith",
        },
        {**org, mod: _shift(org[mod], 5), h["gender"]: "Female"},
    ]


def _write(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for i, row in enumerate(rows):
            writer.writerow([i, *(row[h] for h in header[1:])])


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("engines") / "landing"
    generate_landing(out, customers=CUSTOMERS, seed=11)
    for ent in ENTITIES.values():
        folder = out / ent.name
        first = sorted(p for p in folder.iterdir() if is_landing_file(p))[0]
        header, rows = _read(first)
        _write(folder / f"{ent.name}_z1_edges.csv", header, _edge_rows(ent, rows))
        shutil.copyfile(first, folder / f"{ent.name}_z2_copy.csv")
    # A row with a missing field: the whole file is rejected, on both engines.
    bad = out / "customer" / "customer_z3_malformed.csv"
    header, rows = _read(sorted((out / "customer").glob("customer_s*.csv"))[0])
    text = ",".join(header) + "\n" + "0," + ",".join(rows[0].values()) + "\n1,only,three\n"
    bad.write_text(text, encoding="utf-8")
    _hostile_customer_files(out / "customer")
    return out


# `customer_z4[1].csv` matches `customer_z41.csv` as a glob; z41 sorts (and is read) first.
HOSTILE, DECOY = "customer_z4[1].csv", "customer_z41.csv"
# The correction changes an address line: a city must be a city of the row's state now.
CORRECTED_ADDRESS = "Corrected Address"


def _hostile_customer_files(folder: Path) -> None:
    header, rows = _read(sorted(folder.glob("customer_s*.csv"))[0])
    mod, city = "Modified At", "City"
    decoy = [{**r, mod: _shift(r[mod], 5)} for r in rows[10:15]]
    hostile = [{**r, mod: _shift(r[mod], 6)} for r in rows[15:20]]
    line1 = "Customer Addressline1"
    hostile.append({**decoy[0], line1: CORRECTED_ADDRESS})  # same (key, modified_at), new text
    hostile.append({**rows[20], mod: _shift(rows[20][mod], 6), city: "Mum\x00bai"})
    _write(folder / DECOY, header, decoy)
    _write(folder / HOSTILE, header, hostile)


def _files(landing: Path, ent: Entity) -> list[Path]:
    return sorted(p for p in (landing / ent.name).iterdir() if is_landing_file(p))


@pytest.fixture(scope="module")
def duck(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    conn = duckdb.connect(str(tmp_path_factory.mktemp("duck") / "warehouse.duckdb"))
    for schema in LAYER_SCHEMAS:
        conn.execute(f"create schema if not exists {schema}")
    for ent in ENTITIES.values():
        for path in _files(landing, ent):
            duckdb_engine.ingest_file(conn, ent, path)
    stats = {e: mastering.build_mastered(conn, ent) for e, ent in ENTITIES.items()}
    yield conn, stats
    conn.close()


@pytest.fixture(scope="module")
def spark_wh(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    with local_spark_warehouse(tmp_path_factory.mktemp("spark")) as wh:
        for ent in ENTITIES.values():  # every file of an entity in one batch
            si.ingest_files(wh, ent, _files(landing, ent))
        stats = {e: sm.build_mastered(wh, ent) for e, ent in ENTITIES.items()}
        yield wh, stats


def _parquet(wh: sw.SparkWarehouse, schema: str, name: str, nested: bool) -> list[str]:
    """A plain reader's files: the committed batch folders of a batch table, else the
    folder its build's manifest names (never the table folder itself: it holds other
    versions)."""
    if nested:
        batches = current_batches(Path(wh.table_path(schema, name)))
        assert batches, f"{schema}.{name} has no committed batch"
        return [str(b / "*.parquet") for b in batches]
    owner = sw.build_owner(schema, name)
    assert owner is not None, f"{schema}.{name} belongs to no build"
    folder = current_build(Path(wh.root), owner).get(f"{schema}/{name}")
    assert folder is not None, f"{schema}.{name} has no current version"
    return [str(folder / "*.parquet")]


def _rows(conn: duckdb.DuckDBPyConnection, columns: list[str], source: str, params=None):
    cols = ", ".join(f'"{c}"' for c in columns)
    return conn.execute(f"select {cols} from {source} order by all", params or []).fetchall()


def _both(duck, spark_wh, schema: str, name: str, columns: list[str], nested: bool):
    conn, _ = duck
    wh, _ = spark_wh
    ours = _rows(conn, columns, f'{schema}."{name}"')
    theirs = _rows(conn, columns, "read_parquet(?)", [_parquet(wh, schema, name, nested)])
    return ours, theirs


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_raw_history_is_identical(duck, spark_wh, entity: str) -> None:
    ent = ENTITIES[entity]
    cols = [*ent.column_names, "_modified_ts", "_source_file", "_source_row"]
    ours, theirs = _both(duck, spark_wh, "raw", entity, cols, nested=True)
    assert len(ours) > CUSTOMERS // 100
    assert ours == theirs
    rejects = [*ent.column_names, "_source_file", "_source_row", "_reason"]
    ours, theirs = _both(duck, spark_wh, "quarantine", f"{entity}_ingest_rejects", rejects, True)
    expected = {"key_missing", "modified_at_invalid"}
    if entity == "customer":  # the NUL in a city of the hostile file
        expected.add("control_character")
    assert {r[-1].split(":")[0] for r in ours} == expected
    assert ours == theirs


def _mastered_columns(ent: Entity) -> list[str]:
    """Typed columns, those mastering derives (amount_reporting), lineage."""
    lineage = [c for c in LINEAGE_COLUMNS if c != "_ingested_at"]
    return [*ent.column_names, *(c.name for c in ent.derived_columns), *lineage]


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_mastered_and_rejects_are_identical(duck, spark_wh, entity: str) -> None:
    ent = ENTITIES[entity]
    lineage = [c for c in LINEAGE_COLUMNS if c != "_ingested_at"]
    ours, theirs = _both(duck, spark_wh, "mastered", entity, _mastered_columns(ent), False)
    assert ours and ours == theirs
    cols = [*ent.column_names, "_failed_rules", *lineage]
    ours, theirs = _both(duck, spark_wh, "quarantine", f"{entity}_rejects", cols, False)
    assert ours, "the edge cases must produce rejects"
    assert ours == theirs
    pending = f"{entity}_pending_corrections"
    ours, theirs = _both(duck, spark_wh, "quarantine", pending, cols, False)
    assert ours, "the edge cases must produce pending corrections"
    assert ours == theirs
    assert duck[1][entity].rule_failures == spark_wh[1][entity].rule_failures
    assert duck[1][entity].pending_rows == spark_wh[1][entity].pending_rows == len(ours)
    superseded = f"{entity}_superseded_invalid"
    ours, theirs = _both(duck, spark_wh, "quarantine", superseded, cols, False)
    assert ours == theirs
    assert duck[1][entity].superseded_rows == spark_wh[1][entity].superseded_rows == len(ours)


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_history_is_identical(duck, spark_wh, entity: str) -> None:
    ent = ENTITIES[entity]
    cols = [*_mastered_columns(ent), "valid_from", "valid_to"]
    ours, theirs = _both(duck, spark_wh, "mastered", f"{entity}_history", cols, False)
    assert ours == theirs
    closed = [r for r in ours if r[-1] is not None]
    assert closed, "the edge cases' valid newer versions close an interval"
    assert all(r[-2] <= r[-1] for r in closed)
    # An empty interval [t, t) is a version replaced by a same-timestamp correction (later
    # ingested, same modified_at): kept for the record, never in force, so the key must
    # hold another version starting at the same instant.
    at = ent.column_names.index(ent.key)
    starts = [(r[at], r[-2]) for r in ours]
    for r in closed:
        if r[-2] == r[-1]:
            assert starts.count((r[at], r[-2])) == 2, r


def test_a_glob_name_reads_only_its_own_rows_on_both(duck, spark_wh, landing: Path) -> None:
    """Each engine stores the hostile file's rows, and only those, under its own name."""
    conn, wh = duck[0], spark_wh[0]
    delivered = _read(landing / "customer" / HOSTILE)[1]
    expected = sorted(r["Cust Id"] for r in delivered if "\x00" not in r["City"])
    path = str((landing / "customer" / HOSTILE).resolve())
    query = "select cust_id from {} where _source_file = ? order by 1"
    ours = [r[0] for r in conn.execute(query.format("raw.customer"), [path]).fetchall()]
    spark_raw = [_parquet(wh, "raw", "customer", True), path]
    theirs = [r[0] for r in conn.execute(query.format("read_parquet(?)"), spark_raw).fetchall()]
    assert len(expected) == len(delivered) - 1  # the NUL row is quarantined
    assert ours == theirs == expected


def test_same_timestamp_correction_wins_on_both(duck, spark_wh, landing: Path) -> None:
    conn, wh = duck[0], spark_wh[0]
    key = _read(landing / "customer" / DECOY)[1][0]["Cust Id"]
    query = "select customer_addressline1 from {} where cust_id = ?"
    spark_mastered = [_parquet(wh, "mastered", "customer", False), key]
    assert conn.execute(query.format("mastered.customer"), [key]).fetchall() == [
        (CORRECTED_ADDRESS,)
    ]
    assert conn.execute(query.format("read_parquet(?)"), spark_mastered).fetchall() == [
        (CORRECTED_ADDRESS,)
    ]


def test_spark_reads_every_hostile_name_literally(
    spark_wh, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hadoop globs paths too: in one batch (one job), each name ingests its own rows."""
    header, rows = _read(sorted((landing / "customer").glob("customer_s*.csv"))[0])
    pairs = [
        ("c[1].csv", "c1.csv"),
        ("g*.csv", "gz.csv"),
        ("h?.csv", "hx.csv"),
        ("b{x,y}.csv", "bx.csv"),
        ('it\'s "quoted" ünï 名前.csv', "q.csv"),
        ("back\\slash.csv", "backslash.csv"),
    ]
    folder = tmp_path / "landing with spaces"
    folder.mkdir()
    paths = []
    for i, (hostile, decoy) in enumerate(pairs):
        _write(folder / decoy, header, rows[20 * i : 20 * i + 10])
        _write(folder / hostile, header, rows[20 * i + 10 : 20 * i + 15])
        paths += [folder / decoy, folder / hostile]
    merges: list[int] = []
    merge = si._merge

    def counted(wh: sw.SparkWarehouse, ent: Entity, files: list, run_id: str | None) -> dict:
        merges.append(len(files))
        return merge(wh, ent, files, run_id)

    monkeypatch.setattr(si, "_merge", counted)
    wh = spark_wh[0]
    with duckdb.connect(str(tmp_path / "control.duckdb")) as control:
        control.execute("create schema meta")
        fresh = sw.SparkWarehouse(wh.spark, str(tmp_path / "wh"), control)
        outcomes = si.ingest_files(fresh, ENTITIES["customer"], paths)
        got = control.execute(
            "select _source_file, count(*) from read_parquet(?) group by 1",
            [_parquet(fresh, "raw", "customer", True)],
        ).fetchall()
        ledger = control.execute(
            "select file_name, status from meta.ingest_ledger where ingest_id is not null"
        ).fetchall()
    assert merges == [len(paths)], "every file in one batch, no fallback"
    assert [(o.status, o.rows_read, o.rows_inserted) for o in outcomes] == [
        ("ingested", 10, 10),
        ("ingested", 5, 5),
    ] * len(pairs)
    counts = {Path(f).name: n for f, n in got}
    assert counts == {
        **{h: 5 for h, _ in pairs},
        **{d: 10 for _, d in pairs},
    }
    assert sorted(ledger) == sorted((p.name, "ingested") for p in paths)  # each file once


def test_a_batch_reads_each_file_on_a_partition_of_its_own(spark_wh, landing: Path) -> None:
    """A batch is one job, not one task: each file is a partition (read in file order, so
    its rows number 1..n), and the files' partitions run side by side. Spark 4 passes the
    files' single partitions through the UNION ALL when they all agree (SPARK-52921),
    which put every file of a batch on one partition, one core."""
    from pyspark.sql import functions as F

    ent = ENTITIES["customer"]
    paths = _files(landing, ent)[:3]
    now = dt.datetime(2026, 1, 1)
    with duckdb.connect() as conn:
        files = [
            PendingFile(i, path, "", now, file_layout(conn, ent, path))
            for i, path in enumerate(paths)
        ]
    batch = si.landing_batch(spark_wh[0].spark, ent, files, [11, 12, 13])
    assert batch.rdd.getNumPartitions() == len(files)
    where = batch.select(F.spark_partition_id().alias("part"), "_ord").distinct().collect()
    assert sorted((r.part, r._ord) for r in where) == [(i, i) for i in range(len(files))]


def test_a_warehouse_under_a_folder_named_like_a_pattern_reads_its_own_tables(
    spark_wh, landing: Path, tmp_path: Path
) -> None:
    """Hadoop globs every path Spark reads: `wh [1]` would match the folder `wh 1`. A
    warehouse under such a folder ingests, masters (again, incrementally), writes a mart
    and the regional layout, and reads each back from its own folders, never the decoy's."""
    from fs_assets.engines.portable import view_name
    from fs_assets.engines.spark_marts import write_mart
    from fs_assets.model.entities import CUSTOMER

    files = _files(landing, CUSTOMER)[:2]
    (tmp_path / "wh 1").mkdir()  # the decoy a glob of the root would read: empty
    with duckdb.connect(str(tmp_path / "control.duckdb")) as control:
        control.execute("create schema meta")
        wh = sw.SparkWarehouse(spark_wh[0].spark, str(tmp_path / "wh [1]"), control)
        si.ingest_files(wh, CUSTOMER, files[:1])
        sm.build_mastered(wh, CUSTOMER)
        si.ingest_files(wh, CUSTOMER, files[1:])
        sm.build_mastered(wh, CUSTOMER)  # incremental: reads the new batch's folder alone
        customers = wh.read("mastered", CUSTOMER.name)
        assert customers is not None
        keys = {r[0] for r in customers.select(CUSTOMER.key).collect()}
        sql = "create table marts.glob_probe as select count(*) as n from mastered.customer"
        assert write_mart(wh, "glob_probe", sql, []) == 1
        probe = wh.read("marts", "glob_probe")
        assert probe is not None and probe.collect()[0][0] == len(keys)
        pairs = [tuple(r) for r in customers.select("country", "state").distinct().collect()]
        written = sr.write_partitions(wh, pairs[:2], REGION_SELECT_SQL, EXPORT_NAME)
        assert written and all(rows > 0 for rows in written.values())
        sw.register_hive(
            wh, "mastered", "customer_by_region", EXPORT_NAME, ("mastered", "customer")
        )
        regional = wh.spark.table(view_name("mastered", "customer_by_region")).count()
    with duckdb.connect(str(tmp_path / "duck.duckdb")) as duck:  # the same files on DuckDB
        for schema in LAYER_SCHEMAS:
            duck.execute(f"create schema {schema}")
        for path in files:
            duckdb_engine.ingest_file(duck, CUSTOMER, path)
        mastering.build_mastered(duck, CUSTOMER)
        expected = {
            r[0] for r in duck.execute(f'select {CUSTOMER.key} from mastered."customer"').fetchall()
        }
    assert keys and keys == expected
    assert regional == sum(written.values())
    assert not any((tmp_path / "wh 1").iterdir())


def test_a_file_removed_while_spark_reads_it_is_rejected_and_the_other_lands(
    spark_wh, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removed after its header was read, before Spark lists it: rejected with the reason
    the DuckDB engine gives (tests/test_landing_vanished.py), the other file ingested."""
    from fs_assets.transforms import raw_history
    from tests.test_landing_vanished import remove_after

    header, rows = _read(sorted((landing / "customer").glob("customer_s*.csv"))[0])
    folder = tmp_path / "landing"
    folder.mkdir()
    kept, gone = folder / "kept.csv", folder / "gone [1].csv"
    _write(kept, header, rows[:10])
    _write(gone, header, rows[10:15])
    remove_after(monkeypatch, "file_layout", gone.name)
    wh = spark_wh[0]
    with duckdb.connect(str(tmp_path / "control.duckdb")) as control:
        control.execute("create schema meta")
        fresh = sw.SparkWarehouse(wh.spark, str(tmp_path / "wh"), control)
        outcomes = si.ingest_files(fresh, ENTITIES["customer"], [kept, gone])
        (rows_in_raw,) = control.execute(
            "select count(*) from read_parquet(?)", [_parquet(fresh, "raw", "customer", True)]
        ).fetchone()
    assert [(o.status, o.error) for o in outcomes] == [
        ("ingested", None),
        ("rejected", raw_history.VANISHED),
    ]
    assert rows_in_raw == 10


def test_edge_cases_reach_the_rules_they_target(duck) -> None:
    failures = duck[1]["customer"].rule_failures
    for rule in (
        "cust_segment__accepted_values",
        "cibil_score__type",
        "cust_first_name__pattern",  # 'Anna\n' and 'Zoë'
        "cust_dob__type",
        "email_addr__pattern",
        "pin__max_length",
        "state__in_country",
        "country_code__matches_country",
        "pin__country_format",
        "mobile_number1__country_format",
        "city__control_characters",
        "cust_last_name__control_characters",
        "minor_flag__matches_dob",
        "cust_title__matches_gender",
        "cust_dob__not_future",
        "gender__personal_only",
    ):
        assert rule in failures, rule
    assert "cust_id__foreign_key" in duck[1]["account"].rule_failures
    for entity, rules in (
        ("fx_rate", ("rate__positive", "fx_rate_id__matches_currency_and_date", "rate__type")),
        (
            "transaction",
            ("currency__matches_account", "currency__fx_rate_missing", "account_id__foreign_key"),
        ),
    ):
        for rule in rules:
            assert rule in duck[1][entity].rule_failures, (entity, rule)


def test_ledger_outcomes_are_identical(duck, spark_wh) -> None:
    cols = "entity, file_name, status, rows_read, rows_inserted, rows_already_present, "
    cols += "rows_rejected, error is not null"
    query = f"select {cols} from meta.ingest_ledger order by entity, file_name"
    ours = duck[0].execute(query).fetchall()
    theirs = spark_wh[0].control.execute(query).fetchall()
    assert ours == theirs
    statuses = {r[1]: r[2] for r in ours}
    assert statuses["customer_z3_malformed.csv"] == "rejected"
    assert statuses["customer_z2_copy.csv"] == "duplicate"


def test_a_collector_chosen_by_the_environment_is_the_one_the_driver_runs(spark_wh) -> None:
    """The tests' JVMs choose the serial collector (conftest's JAVA_TOOL_OPTIONS): the
    session adds no second one (the JVM would not start) and runs that one."""
    assert "-XX:+UseSerialGC" in os.environ["JAVA_TOOL_OPTIONS"]
    jvm = spark_wh[0].spark.sparkContext._jvm
    beans = jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert {bean.getName() for bean in beans} == {"Copy", "MarkSweepCompact"}


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_rule_checks_pass_on_both_outputs(duck, spark_wh, entity: str) -> None:
    ent = ENTITIES[entity]
    wh = spark_wh[0]
    for name in mastering.referenced_entities(ent):
        wh.register("mastered", name)
    wh.register("mastered", entity)
    assert rule_failures(duck[0], ent) == rule_failures(wh, ent) == {}
    assert key_duplicates(duck[0], ent) == key_duplicates(wh, ent)


def test_rule_checks_find_the_same_failures_on_both(duck, spark_wh) -> None:
    """The checks' SQL on a table of quarantined versions: same rules, counts and samples."""
    ent = ENTITIES["customer"]
    conn, wh = duck[0], spark_wh[0]
    typed = mastering.typed_select_sql(ent, "e")
    table = conn.sql(
        f'select {typed} from quarantine."customer_pending_corrections" e'
    ).to_arrow_table()
    probe = duckdb.connect()
    probe.execute("create schema mastered")
    probe.register("typed_rejects", table)
    probe.execute('create table mastered."customer" as select * from typed_rejects')
    wh.register("quarantine", "customer_pending_corrections")
    frame = wh.sql(f'select {typed} from quarantine."customer_pending_corrections" e')
    frame.createOrReplaceTempView("mastered__customer")
    ours, theirs = rule_failures(probe, ent), rule_failures(wh, ent)
    probe.close()
    assert ours and ours == theirs


def test_customer_by_region_hive_layout(duck, spark_wh) -> None:
    """The Spark engine writes the regional partitions in the DuckDB export's layout."""
    conn, wh = duck[0], spark_wh[0]
    pairs = conn.execute(
        'select distinct country, state from mastered."customer" order by all limit 3'
    ).fetchall()
    written = sr.write_partitions(wh, pairs, REGION_SELECT_SQL, EXPORT_NAME)
    folders = current_partitions(Path(wh.root) / EXPORT_NAME)
    for (country, state), rows in written.items():
        folder = folders[(country, state)]
        assert folder.parent == Path(wh.root) / EXPORT_NAME / f"country={country}" / (
            f"state={state}"
        )
        expected = conn.execute(
            'select cust_id from mastered."customer" where country = ? and state = ? order by 1',
            [country, state],
        ).fetchall()
        got = conn.execute(
            "select cust_id from read_parquet(?) order by 1", [str(folder / "*.parquet")]
        ).fetchall()
        assert rows == len(expected) == len(got) and got == expected


def test_the_engine_setting_runs_the_dagster_assets_on_spark(
    landing: Path, duck, spark_wh, tmp_path: Path
) -> None:
    """engine='spark' on the warehouse resource: the same assets write Parquet, not tables;
    the governed assets too (a role's masked tables), and its k-anonymity check reads them."""
    import dagster as dg

    from asset_checks.governance_checks import build_k_anonymity_check
    from fs_assets.defs.governed import build_governed_asset, governed_view
    from fs_assets.defs.mastered import MASTERED_ASSETS
    from fs_assets.defs.raw import RAW_ASSETS
    from fs_assets.model.entities import CUSTOMER
    from resources.landing_zone import LandingZoneResource
    from resources.masking_key import MaskingKeyResource
    from resources.warehouse import WarehouseResource

    home = tmp_path / "home"
    shutil.copytree(landing / "customer", home / "landing" / "customer")
    warehouse = WarehouseResource(
        home=str(home), engine="spark", spark_master="local[2]", lock_timeout_s=30
    )
    role = "restricted-acess"
    governed_assets = [build_governed_asset(role, CUSTOMER, h) for h in (False, True)]
    result = dg.materialize(
        [RAW_ASSETS[0], MASTERED_ASSETS[0], *governed_assets, build_k_anonymity_check(role)],
        resources={
            "warehouse": warehouse,
            "landing": LandingZoneResource(home=str(home)),
            "masking_key": MaskingKeyResource(key=GOVERNED_KEY.secret.decode()),
        },
    )
    assert result.success
    # The governed assets wrote Parquet tables of masked values, behind their manifests.
    view = governed_view(CUSTOMER, role, load_policies())
    build = current_build(warehouse.export_dir, f"governed.{view.name}")
    files = str(build[f"governed/{view.name}"] / "*.parquet")
    sql = "select count(*), count(distinct cust_id), min(length(email_addr)) from read_parquet(?)"
    rows, ids, token_chars = duck[0].execute(sql, [files]).fetchone()
    assert rows == ids > CUSTOMERS // 2 and token_chars == 64
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "k_anonymity" and check.metadata["groups"].value > 0
    conn = duck[0]
    cols = ", ".join(f'"{c}"' for c in ENTITIES["customer"].column_names)
    ours = conn.execute(f'select {cols} from mastered."customer" order by all').fetchall()
    folder = current_build(warehouse.export_dir, "customer")["mastered/customer"]
    parquet = str(folder / "*.parquet")
    theirs = conn.execute(f"select {cols} from read_parquet(?) order by all", [parquet]).fetchall()
    assert ours == theirs
    with warehouse.connect(read_only=True) as control:
        assert not control.execute(
            "select count(*) from information_schema.tables where table_schema = 'mastered'"
        ).fetchone()[0], "the spark engine must not write DuckDB tables"
    # The malformed file was moved aside, as on DuckDB.
    assert not (home / "landing" / "customer" / "customer_z3_malformed.csv").exists()


# --- governed views: the same statement per role, a DuckDB view and a Spark table ----------

GOVERNED_KEY = MaskingKey(b"engines-test-masking-key-0123456789")


def _sorted(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))


@pytest.fixture(scope="module")
def governed(duck, spark_wh) -> dict[str, tuple[GovernedView, list[tuple], list[tuple]]]:
    """Every role's views on both engines from the same statement: name -> (view, the
    DuckDB view's rows, the rows Spark computes). Collected, not written: writing is the
    one step the views share (test_a_governed_table_is_published_without_the_key)."""
    from fs_assets.engines.spark_governed import KEY_VIEW, governed_frame

    conn, wh = duck[0], spark_wh[0]
    GOVERNED_KEY.apply(conn)
    out = {}
    for view in build_governed_views(conn, load_policies()):
        extra = ["valid_from", "valid_to"] if view.history else ["has_pending_correction"]
        cols = [c.name for c in view.columns] + extra
        ours = _rows(conn, cols, view.table)
        frame = governed_frame(wh, view.select_sql, GOVERNED_KEY).select(*cols)
        out[view.name] = (view, ours, [tuple(r) for r in frame.collect()])
    wh.spark.catalog.dropTempView(KEY_VIEW)
    return out


@pytest.mark.parametrize("role", ROLES)
def test_governed_views_are_identical(duck, governed, role: str) -> None:
    """Same rows and the same masked values, current and history views, every role."""
    conn = duck[0]
    mine = [v for v in governed.values() if v[0].role == role]
    assert {v.history for v, _, _ in mine} == {False, True}
    for view, ours, theirs in mine:
        assert ours, view.name
        assert _sorted(ours) == _sorted(theirs), view.name
    # The masks really differ by role: a keyed token or the clear value.
    current = next(v for v in mine if not v[0].history)
    ids = {r[0] for r in current[2]}
    clear = {r[0] for r in conn.execute('select cust_id from mastered."customer"').fetchall()}
    if role == "pii-reader":
        assert ids == clear
    elif role == "branch-maharashtra":  # its filter: Maharashtra's customers only
        assert ids < {GOVERNED_KEY.token(c) for c in clear}
        names = [c.name for c in current[0].columns]
        where = {(r[names.index("country")], r[names.index("state")]) for r in current[2]}
        assert where == {("India", "Maharashtra")}
    else:
        assert ids == {GOVERNED_KEY.token(c) for c in clear}


def test_a_governed_table_is_published_without_the_key(duck, spark_wh, governed) -> None:
    """write_governed publishes the rows behind the view's manifest; the padded key is
    data of a broadcast one-row frame: no plan string and no written file holds the key
    or its pads; without a key a keyed view is refused."""
    from fs_assets.engines.spark_governed import (
        KEY_VIEW,
        governed_build,
        governed_frame,
        to_spark_sql,
        write_governed,
    )

    conn, wh = duck[0], spark_wh[0]
    view, ours, _ = governed["restricted_acess_customer"]
    assert write_governed(wh, view.name, view.select_sql, GOVERNED_KEY) == len(ours)
    folder = current_build(Path(wh.root), governed_build(view.name))[f"governed/{view.name}"]
    cols = [c.name for c in view.columns] + ["has_pending_correction"]
    assert _rows(conn, cols, "read_parquet(?)", [str(folder / "*.parquet")]) == ours
    frame = governed_frame(wh, view.select_sql, GOVERNED_KEY)
    assert frame.count() == len(ours)
    execution = frame._jdf.queryExecution()
    plans = (
        execution.toString() + execution.executedPlan().toString() + to_spark_sql(view.select_sql)
    )
    assert KEY_VIEW in plans  # the key is joined in as a relation...
    for form in _key_forms():
        assert form not in plans  # ...whose values no plan prints
    wh.spark.catalog.dropTempView(KEY_VIEW)
    written = [p for p in Path(wh.root, "governed").rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written)
    for path in written:
        data = path.read_bytes()
        assert not any(k in data for k in (GOVERNED_KEY.secret, *GOVERNED_KEY.pads())), path
    with pytest.raises(ValueError, match="masking key"):
        governed_frame(wh, view.select_sql, None)


# --- the marts' inputs: customer_features and cross_sell, a DuckDB table and Spark Parquet ---


def test_the_mart_assets_run_on_spark_with_duckdbs_rows(duck, spark_wh, tmp_path: Path) -> None:
    """customer_features, cross_sell and the sales lead list through Dagster on engine
    spark, from the Spark tables: Parquet tables behind their manifests, row for row the
    DuckDB engine's."""
    import dagster as dg

    from fs_assets.defs.governed import build_lead_list_asset, governed_view
    from fs_assets.defs.marts import cross_sell, customer_features
    from fs_assets.model.entities import CUSTOMER
    from fs_assets.transforms.governance.lead_list import lead_list_sql
    from fs_assets.transforms.governance.views import create_view
    from fs_assets.transforms.marts.cross_sell import build_cross_sell
    from fs_assets.transforms.marts.features import build_features
    from resources.masking_key import MaskingKeyResource
    from resources.warehouse import WarehouseResource

    conn, wh = duck[0], spark_wh[0]
    build_features(conn)
    build_cross_sell(conn)
    warehouse = WarehouseResource(
        home=str(tmp_path), engine="spark", spark_master="local[2]", spark_warehouse=wh.root
    )
    leads = build_lead_list_asset("sales")
    result = dg.materialize(
        [customer_features, cross_sell, leads],
        resources={
            "warehouse": warehouse,
            "masking_key": MaskingKeyResource(key=GOVERNED_KEY.secret.decode()),
        },
    )
    assert result.success
    for name in ("customer_features", "cross_sell"):
        folder = current_build(Path(wh.root), f"marts.{name}")[f"marts/{name}"]
        ours = mart_rows(conn, f"marts.{name}")
        theirs = mart_rows(conn, "read_parquet(?)", [str(folder / "*.parquet")])
        assert len(ours) > CUSTOMERS // 2 and ours == theirs, name
    # Not a table of one answer: archetypes, cards and campaign stages vary.
    (archetypes, cards, stages) = conn.execute(
        "select count(distinct archetype), count(distinct recommended_product_id),"
        " count(distinct campaign_stage) from marts.cross_sell"
    ).fetchone()
    assert archetypes > 1 and cards > 1 and stages > 1
    meta = result.asset_materializations_for_node("marts__cross_sell")[0].metadata
    assert meta["dagster/row_count"].value == len(ours)
    # The sales lead list (a governed table over cross_sell) is the DuckDB view's rows.
    view = governed_view(CUSTOMER, "sales", load_policies())
    GOVERNED_KEY.apply(conn)
    create_view(conn, "sales_leads", lead_list_sql({c.name: c.sql for c in view.columns}, None))
    folder = current_build(Path(wh.root), "governed.sales_leads")["governed/sales_leads"]
    cols = ["cust_id", "recommended_card", "email_addr", "mobile_number1", "do_not_contact"]
    ours = _rows(conn, cols, "governed.sales_leads")
    assert ours == _rows(conn, cols, "read_parquet(?)", [str(folder / "*.parquet")])
    assert any(r[2] is not None for r in ours), "some leads carry a (hashed) e-mail"


def test_spark_features_join_the_identity_links_published_on_spark(
    duck, spark_wh, tmp_path: Path
) -> None:
    """Identity resolution made two core customers one person (the links in DuckDB's file
    and published on Spark; no golden records yet): the features asset on Spark joins
    them as DuckDB's build does, row for row: one person record, the person's activity
    summed on both rows. The links are removed afterwards (the module's data is shared)."""
    import dagster as dg

    from fs_assets.defs.marts import customer_features
    from fs_assets.engines.publish import build_manifest
    from fs_assets.identity.source_entity import core_source
    from fs_assets.identity.tables import CUSTOMER_IDENTITY, CUSTOMER_IDENTITY_DDL
    from fs_assets.transforms.marts.features import FEATURES_TABLE, IdentityLink, build_features
    from resources.warehouse import WarehouseResource

    conn, wh = duck[0], spark_wh[0]
    core = core_source()
    assert core is not None
    # The two customers with the most transactions: the person's sums are visible.
    pair = [
        r[0]
        for r in conn.execute(
            "select cust_id::varchar from mastered.transaction group by cust_id "
            "order by count(*) desc, cust_id limit 2"
        ).fetchall()
    ]
    conn.execute(f"create table {CUSTOMER_IDENTITY} ({CUSTOMER_IDENTITY_DDL})")
    conn.executemany(
        f"insert into {CUSTOMER_IDENTITY} values (?, ?, ? || ':' || ?, 'G0000000007')",
        [[core, c, core, c] for c in pair],
    )
    build = CUSTOMER_IDENTITY
    schema, name = CUSTOMER_IDENTITY.split(".")
    publisher = sw.SparkWarehouse(wh.spark, wh.root, wh.control)  # its own manifest cache
    try:
        links = wh.spark.createDataFrame(conn.table(CUSTOMER_IDENTITY).arrow().read_all())
        publisher.replace(build, {(schema, name): links})
        build_features(conn, IdentityLink(CUSTOMER_IDENTITY, core))
        warehouse = WarehouseResource(
            home=str(tmp_path), engine="spark", spark_master="local[2]", spark_warehouse=wh.root
        )
        assert dg.materialize([customer_features], resources={"warehouse": warehouse}).success
        folder = current_build(Path(wh.root), "marts.customer_features")["marts/customer_features"]
        ours = mart_rows(conn, FEATURES_TABLE)
        assert ours == mart_rows(conn, "read_parquet(?)", [str(folder / "*.parquet")])
        person = conn.execute(
            f"select count(*), count(*) filter (where person_record), count(distinct all_txns) "
            f"from {FEATURES_TABLE} where golden_id = 'G0000000007'"
        ).fetchone()
        assert person == (2, 1, 1)
    finally:
        conn.execute(f"drop table if exists {CUSTOMER_IDENTITY}")
        publisher.delete(build_manifest(wh.root, build))
        publisher.delete(wh.table_path(schema, name))


def _summary_rows(conn: duckdb.DuckDBPyConnection, source: str, params=None) -> list[tuple]:
    """Every row in the table's own order (a dashboard mart's order is part of it);
    doubles compare within a tolerance (`engine_rows.Close`)."""
    return comparable_rows(conn, source, params)


@pytest.mark.slow
def test_the_dashboards_run_on_spark_with_duckdbs_marts_charts_and_kpis(
    duck, spark_wh, tmp_path: Path
) -> None:
    """Every mart asset through Dagster on engine spark: the four dashboard marts are
    Parquet tables behind their manifests, row for row (and in order) DuckDB's; the charts'
    rows and specs and the KPI tiles read back from Spark equal those DuckDB's tables give;
    each page's filter data from Spark (cells, cubes, the analyst's masked customer list)
    equals DuckDB's, and the pages rendered here carry it, without the key."""
    import dagster as dg

    from asset_checks.mart_verify import page_filter_data
    from fs_assets.defs import marts
    from fs_assets.engines.spark_governed import write_governed
    from fs_assets.model.entities import CUSTOMER
    from fs_assets.transforms.governance import view_name as governed_name
    from fs_assets.transforms.marts import dashboards, uplift
    from fs_assets.transforms.marts.charts import funnel_charts, lead_charts, spend_charts
    from fs_assets.transforms.marts.cross_sell import build_cross_sell
    from fs_assets.transforms.marts.features import build_features
    from fs_assets.transforms.marts.page_data import PAGE_ROLE, page_data
    from fs_assets.transforms.marts.report import dashboard_html
    from resources.masking_key import MaskingKeyResource
    from resources.warehouse import WarehouseResource

    conn, wh = duck[0], spark_wh[0]
    clear = {r[0] for r in conn.execute('select cust_id from mastered."customer"').fetchall()}
    build_features(conn)
    build_cross_sell(conn)
    pages = {
        "campaign_funnel": (dashboards.build_funnel, funnel_charts, marts._funnel_kpis),
        "lead_generation": (dashboards.build_lead_generation, lead_charts, marts._lead_kpis),
        "spend_analysis": (dashboards.build_spend_analysis, spend_charts, marts._spend_kpis),
        "campaign_uplift": (uplift.build_uplift, uplift.uplift_charts, marts._uplift_kpis),
    }
    for build, _, _ in pages.values():
        build(conn)
    # The customer list reads the analyst's governed table: written on Spark, a view here.
    GOVERNED_KEY.apply(conn)
    views = {v.name: v for v in build_governed_views(conn, load_policies())}
    analyst = views[governed_name(PAGE_ROLE, CUSTOMER.name)]
    write_governed(wh, analyst.name, analyst.select_sql, GOVERNED_KEY)
    warehouse = WarehouseResource(
        home=str(tmp_path), engine="spark", spark_master="local[2]", spark_warehouse=wh.root
    )
    result = dg.materialize(
        marts.MART_ASSETS,
        resources={
            "warehouse": warehouse,
            "masking_key": MaskingKeyResource(key=GOVERNED_KEY.secret.decode()),
        },
    )
    assert result.success
    reports = marts.reports_dir(warehouse)
    for name, (_, charts_of, kpis_of) in pages.items():
        folder = current_build(Path(wh.root), f"marts.{name}")[f"marts/{name}"]
        assert len(list(folder.glob("*.parquet"))) == 1, name  # one file, in order
        parquet = str(folder / "*.parquet")
        ours = _summary_rows(conn, f"marts.{name}")
        theirs = _summary_rows(conn, "read_parquet(?)", [parquet])
        assert len(ours) > 3 and ours == theirs, name
        # The same columns and types; a decimal sum's precision is the engine's own.
        width = re.compile(r"DECIMAL\(\d+,")
        types = [
            [
                (c, width.sub("DECIMAL(", t))
                for c, t, *_ in conn.execute(f"describe {s}", p).fetchall()
            ]
            for s, p in ((f"marts.{name}", []), ("select * from read_parquet(?)", [parquet]))
        ]
        assert types[0] == types[1], name
        with warehouse.open_engine() as engine, engine.reading() as reader:
            spark_charts = charts_of(reader)
        duck_charts = charts_of(conn)
        assert [c.name for c in spark_charts] == [c.name for c in duck_charts], name
        for a, b in zip(spark_charts, duck_charts, strict=True):
            assert a.rows and a.rows == b.rows and a.spec == b.spec, (name, a.name)
        meta = _dashboard_metadata(result, name)
        kpis = {k.removeprefix("kpi/"): v.value for k, v in meta.items() if k.startswith("kpi/")}
        assert kpis == kpis_of(conn), name
        assert meta["dagster/row_count"].value == len(ours)
        assert meta["charts"].value == len(duck_charts) > 0
        # The page's filter data: Spark's equals DuckDB's, cube for cube, customer for customer.
        ours = page_data(conn, name)
        with warehouse.open_engine() as engine:
            ((_, theirs),) = engine.pages_data([name], GOVERNED_KEY)
        assert _page_rows(theirs) == _page_rows(ours), name
        assert meta["filter_cube_rows"].value == sum(c.num_rows for c in ours.cubes) > 0
        assert meta["listed_customers"].value == len(ours.customers.rows) > 0
        ids = {r[ours.customers.columns.index("cust_id")] for r in theirs.customers.rows}
        assert ids <= {GOVERNED_KEY.token(c) for c in clear}, name  # keyed tokens only
        # The page written on Spark carries the filters DuckDB's page would, and no key.
        page = reports / f"{name}.html"
        duck_page = tmp_path / f"duck-{name}.html"
        duck_page.write_text(dashboard_html(name, "", {}, duck_charts, ours), encoding="utf-8")
        assert page_filter_data(page) == page_filter_data(duck_page) != {}, name
        text = page.read_text(encoding="utf-8")
        assert not any(form in text for form in _key_forms()), name
    # The KPIs are not all zeros: funnel, leads, spend and quarantine tiles carry counts.
    lead = _dashboard_metadata(result, "lead_generation")
    assert int(lead["kpi/Total customers"].value.replace(",", "")) > CUSTOMERS // 2
    assert any(k.startswith("kpi/Quarantine: ") for k in lead)


def _dashboard_metadata(result, name: str) -> dict:
    """The metadata of dashboard `name`'s materialization (the dashboards' one step)."""
    from fs_assets.defs.marts import DASHBOARDS_STEP

    (mat,) = [
        m
        for m in result.asset_materializations_for_node(DASHBOARDS_STEP)
        if m.asset_key.path[-1] == name
    ]
    return mat.metadata


def _page_rows(page) -> tuple:
    """A page's filter data as plain values: cells, each cube, the customer list."""
    cubes = [(c.name, c.table.column_names, c.table.to_pylist()) for c in page.cubes]
    customers = (page.customers.columns, page.customers.rows) if page.customers else None
    return page.cells.table.to_pylist(), cubes, customers


def _key_forms() -> tuple[str, ...]:
    """The masking key and its pads as text could leak them: clear, hex, upper hex."""
    inner, outer = GOVERNED_KEY.pads()
    secret = GOVERNED_KEY.secret
    return (secret.decode(), secret.hex(), inner.hex(), outer.hex(), inner.hex().upper())


def _update_rows(landing: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A later customer delivery: a valid newer version, an invalid newer version (a
    pending correction), a valid late correction (older than the mastered row), and a
    valid customer NOPE000001, whom the edge cases' invalid account versions name (those
    accounts are re-evaluated through the changes customer's build records)."""
    header, rows = _read(sorted((landing / "customer").glob("customer_s*.csv"))[0])
    mod, line1, email = "Modified At", "Customer Addressline1", "Email Addr"
    r = rows[100:104]
    return header, [
        {**r[0], mod: _shift(r[0][mod], 40), line1: "New Address"},
        {**r[1], mod: _shift(r[1][mod], 40), email: "still not an email"},
        {**r[2], mod: _shift(r[2][mod], -200), line1: "Late Correction"},
        {**r[3], "Cust Id": "NOPE000001"},
    ]


def _build_rows(root: Path, entity: str) -> dict[str, list[tuple]]:
    """Every table of the entity's current build, as sorted rows (quarantine times aside:
    they are when each build ran)."""
    out = {}
    with duckdb.connect() as conn:
        for table, folder in current_build(root, entity).items():
            files = str(folder / "*.parquet")
            names = conn.execute("select * from read_parquet(?) limit 0", [files]).description
            cols = ", ".join(f'"{d[0]}"' for d in names if d[0] != "_rejected_at")
            query = f"select {cols} from read_parquet(?) order by all"
            out[table] = conn.execute(query, [files]).fetchall()
    return out


@pytest.mark.slow
def test_incremental_spark_mastering_equals_a_full_rebuild(
    spark_wh, landing: Path, tmp_path: Path
) -> None:
    """Land an update on a built warehouse, master incrementally (customer from its new
    batch, account from customer's changes, product unchanged) and require exactly the
    tables a full rebuild (`full_refresh`) of the same raw history writes."""
    wh = spark_wh[0]
    inc, full = tmp_path / "inc", tmp_path / "full"
    shutil.copytree(wh.root, inc / "wh")
    wh.control.execute("checkpoint")
    shutil.copyfile(Path(wh.control.execute("select path from duckdb_databases() "
                                            "where database_name = current_database()")
                         .fetchone()[0]), inc / "control.duckdb")  # fmt: skip
    folder = tmp_path / "update"
    folder.mkdir()
    header, rows = _update_rows(landing)
    _write(folder / "customer update 2.csv", header, rows)
    with duckdb.connect(str(inc / "control.duckdb")) as control:
        work = sw.SparkWarehouse(wh.spark, str(inc / "wh"), control)
        (outcome,) = si.ingest_files(work, ENTITIES["customer"], [folder / "customer update 2.csv"])
    assert (outcome.status, outcome.rows_inserted) == ("ingested", 4)
    shutil.copytree(inc, full)
    stats = {}
    for home, full_refresh in ((inc, False), (full, True)):
        with duckdb.connect(str(home / "control.duckdb")) as control:
            work = sw.SparkWarehouse(wh.spark, str(home / "wh"), control)
            names = ("customer", "account") if full_refresh else ("customer", "product", "account")
            stats[full_refresh] = {
                name: sm.build_mastered(work, ENTITIES[name], full_refresh=full_refresh)
                for name in names
            }
    modes = {name: s.mode for name, s in stats[False].items()}
    assert modes == {"customer": "incremental", "product": "unchanged", "account": "incremental"}
    assert stats[False]["customer"].keys_evaluated == 4  # the update's keys only
    # The two account keys whose versions name NOPE000001, who became a mastered customer.
    assert stats[False]["account"].keys_evaluated == 2
    for name in ("customer", "account"):
        ours, theirs = _build_rows(inc / "wh", name), _build_rows(full / "wh", name)
        assert set(ours) == {f"{s}/{n}" for s, n in sw.build_tables(name)}
        assert ours == theirs, name
    customer = _build_rows(inc / "wh", "customer")
    pending = customer["quarantine/customer_pending_corrections"]
    assert any(rows[1]["Cust Id"] in r and "still not an email" in r for r in pending)
    assert sum("Late Correction" in r for r in customer["mastered/customer_history"]) == 1
    # A second update that changes no customer's presence: account reads nothing new, so
    # its build stays (no tables rewritten) and only its state records customer's build.
    _write(
        folder / "customer update 3.csv",
        header,
        [{**rows[0], "Modified At": "2026-06-01 00:00:00"}],
    )
    with duckdb.connect(str(inc / "control.duckdb")) as control:
        work = sw.SparkWarehouse(wh.spark, str(inc / "wh"), control)
        si.ingest_files(work, ENTITIES["customer"], [folder / "customer update 3.csv"])
        account = work.build("account")
        again = {n: sm.build_mastered(work, ENTITIES[n]) for n in ("customer", "account")}
        assert {n: s.mode for n, s in again.items()} == {
            "customer": "incremental",
            "account": "unchanged",
        }
        after = work.build("account")
        assert after["build"] == account["build"] and after["tables"] == account["tables"]
        assert after["state"]["refs"]["customer"] == work.build("customer")["build"]
