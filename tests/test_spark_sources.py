"""The source systems' files on Spark: their strptime layouts as Spark patterns.

A source's mapping writes its dates in strptime layouts (`%d/%m/%Y %H:%M`); the Spark
engine binds the translated pattern (`engines/spark_formats.py`). Shown here: the
translation, the refusal of a directive it has no pattern for (named, files left in
place), DuckDB's and Spark's parsing of the same texts under the same layouts, and the
generated CRM and card-platform files, plus rows at the edges of each layout, landing in
raw, mastered and quarantine with the same rows on both engines. Real DuckDB files, a
real local Spark session.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import functions as F
from sources_support import local_spark_warehouse, sources_landing

from asset_checks.rule_checks import rule_failures
from fs_assets.engines import duckdb_engine
from fs_assets.engines import spark_ingest as si
from fs_assets.engines import spark_mastering as sm
from fs_assets.engines import spark_warehouse as sw
from fs_assets.engines.portable import view_name
from fs_assets.engines.publish import current_batches, current_build
from fs_assets.engines.spark_formats import UntranslatableFormat, spark_params, spark_pattern
from fs_assets.identity.mapping import SourceMapping
from fs_assets.identity.source_entity import load_source_entities, source_entity
from fs_assets.model.columns import Entity, TextFormat
from fs_assets.transforms import mastering
from fs_assets.transforms.duckdb_file import LAYER_SCHEMAS
from fs_assets.transforms.landing_files import list_landing
from fs_assets.transforms.mastering import LINEAGE_COLUMNS

SOURCES = load_source_entities()
CUSTOMERS = 200
EDGE_FILE = "edge rows [1] 'ü'.csv"  # a hostile name: spaces, glob characters, a quote


def test_layouts_translate_to_spark_patterns() -> None:
    assert spark_pattern("%d/%m/%Y %H:%M") == "d'/'M'/'y' 'H':'m"
    assert spark_pattern("%Y-%m-%d %H:%M:%S") == "y'-'M'-'d' 'H':'m':'s"
    assert spark_pattern("%Y%m%d") == "yyyyMMdd"  # no separator: widths tell them apart
    assert spark_pattern("%d.%-m.%Y at %H o'clock") == "d'.'M'.'y' at 'H' o''clock'"
    assert spark_pattern("%d%%%m") == "d'%'M"
    # Only a layout is translated: other parameters pass as they are.
    assert spark_params(["%d", TextFormat("%d/%m/%Y"), 3]) == ["%d", "d'/'M'/'y", 3]
    assert spark_params([]) is None


@pytest.mark.parametrize("layout", ["%b %d %Y", "%d/%m/%y", "%Y-%j", "%", "day only"])
def test_a_layout_spark_cannot_read_is_refused_by_name(layout: str) -> None:
    with pytest.raises(UntranslatableFormat, match=r"DuckDB engine|no field") as err:
        spark_pattern(layout)
    assert repr(layout) in str(err.value)


def test_a_source_with_an_untranslatable_layout_is_refused_and_its_files_stay(
    tmp_path: Path,
) -> None:
    """Refused before anything is read or recorded: the error names the column, the
    directive and what to do; the file stays in the landing folder."""
    from fs_assets.engines.spark_engine import SourceFormatUnsupported, SparkEngine

    mapping = SourceMapping(
        source="loans",
        landing_folder="loan_book",
        id_column="loan_ref",
        updated_at_column="changed",
        trust_rank=4,
        attributes={"first_name": "fn", "last_name": "ln", "date_of_birth": "dob"},
        date_format="%b %d %Y",
    )
    engine = SparkEngine(control=None, root=str(tmp_path / "spark"))  # type: ignore[arg-type]
    path = tmp_path / "loans.csv"
    path.write_text("loan_ref,changed,fn,ln,dob\n", encoding="utf-8")
    with pytest.raises(SourceFormatUnsupported, match=r"src_loans\.date_of_birth.*%b") as err:
        engine.ingest(source_entity(mapping), [path], "run")
    assert "DuckDB engine" in str(err.value)
    assert path.exists() and not (tmp_path / "spark").exists()


# Texts at the edges of each layout: one or two digits, two or five digit years, a sign,
# a day that does not exist, trailing text, a leap day.
_EDGE_TEXTS = {
    "%d/%m/%Y": [
        "01/02/1990",
        "1/2/1990",
        "31/02/1990",
        "29/02/2000",
        "29/02/1900",
        "01/02/90",
        "01/02/990",
        "01/02/19900",
        "01/02/-1990",
        "01/02/+1990",
        "01/02/1990a",
        "",
        "1990-02-01",
        "01/13/1990",
        "00/01/1990",
    ],
    "%d/%m/%Y %H:%M": [
        "01/02/1990 10:11",
        "1/2/1990 9:5",
        "01/02/1990 24:00",
        "01/02/1990 10:60",
        "01/02/1990 10:11:12",
        "01/02/1990",
        "31/12/2024 23:59",
    ],
    "%Y-%m-%d %H:%M:%S": [
        "1990-02-01 10:11:12",
        "1990-2-1 1:2:3",
        "1990-02-01T10:11:12",
        "1990-02-01 10:11",
        "1990-02-01 10:11:12.5",
        "0990-02-01 00:00:00",
    ],
    "%Y-%m-%d": [
        "1990-02-01",
        "1990-2-1",
        "1990-02-30",
        "90-02-01",
        "1990/02/01",
        "2999-01-01",
        " 1990-02-01 ",
        "1990-02-01 10:11",
    ],
    "%Y%m%d": ["19900201", "199002011", "19901301", "1990-02-01"],
}
# Fields with no separator: DuckDB reads a short text greedily (1990-02-1), Spark's fixed
# widths refuse it (the one documented difference; such a row is quarantined on Spark).
_SHORT_UNSEPARATED = ("%Y%m%d", "1990021")


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sw.SparkWarehouse]:
    with local_spark_warehouse(tmp_path_factory.mktemp("spark_sources")) as wh:
        yield wh


def test_both_engines_parse_the_same_texts_the_same_way(spark: sw.SparkWarehouse) -> None:
    """The shared SQL's try_strptime with a layout parameter, run by each engine."""
    sql = "select cast(try_strptime(trim(?), ?) as varchar)"
    con = duckdb.connect()
    for layout, texts in _EDGE_TEXTS.items():
        fmt = TextFormat(layout)
        ours = [con.execute(sql, [t, fmt]).fetchone()[0] for t in texts]
        theirs = [spark.execute(sql, [t, fmt]).fetchone()[0] for t in texts]
        assert [o is not None for o in ours] == [t is not None for t in theirs], layout
        # Spark writes a timestamp's text as DuckDB does.
        assert ours == theirs, layout
        assert any(o is None for o in ours) and any(o is not None for o in ours)
    layout, text = _SHORT_UNSEPARATED
    params = [text, TextFormat(layout)]
    assert con.execute(sql, params).fetchone()[0] == "1990-02-01 00:00:00"
    assert spark.execute(sql, params).fetchone()[0] is None


def _edge_rows(ent: Entity, header: list[str], base: dict[str, str]) -> list[dict[str, str]]:
    """Rows of one source at the edges of its layouts, each with its own id."""
    version = ent.column("modified_at")
    dob = ent.column("date_of_birth")
    stamp = _EDGE_TEXTS[str(version.text_format)]
    days = _EDGE_TEXTS[str(dob.text_format)]
    rows = []
    for n, (when, born) in enumerate(zip(stamp * 3, days, strict=False)):
        row = dict(base)
        row[version.delivered_as] = when  # type: ignore[index]
        row[dob.delivered_as] = born  # type: ignore[index]
        row[ent.column("source_id").delivered_as] = f"EDGE-{n:03d}"  # type: ignore[index]
        rows.append(row)
    return [{h: r[h] for h in header} for r in rows]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated CRM and card-platform files, plus one file of edge rows each."""
    out = sources_landing(tmp_path_factory.mktemp("spark_sources") / "landing", CUSTOMERS, 11)
    for ent in SOURCES:
        first = sorted((out / ent.folder).glob("*.csv"))[0]
        with first.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header, base = list(reader.fieldnames or []), next(reader)
        with (out / ent.folder / EDGE_FILE).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            writer.writerows(_edge_rows(ent, header, base))
    return out


def _files(landing: Path, ent: Entity) -> list[Path]:
    return list_landing(landing / ent.folder).files


@pytest.fixture(scope="module")
def duck(landing: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    con = duckdb.connect(str(tmp_path_factory.mktemp("duck") / "warehouse.duckdb"))
    for schema in LAYER_SCHEMAS:
        con.execute(f"create schema if not exists {schema}")
    for ent in SOURCES:
        duckdb_engine.ingest_files(con, ent, _files(landing, ent), "test")
        mastering.build_mastered(con, ent)
    yield con
    con.close()


@pytest.fixture(scope="module")
def built(spark: sw.SparkWarehouse, landing: Path) -> sw.SparkWarehouse:
    for ent in SOURCES:
        outcomes = si.ingest_files(spark, ent, _files(landing, ent), "test")
        assert all(o.status == "ingested" for o in outcomes), outcomes
        sm.build_mastered(spark, ent)
    return spark


def _parquet(wh: sw.SparkWarehouse, schema: str, name: str) -> list[str]:
    if sw.is_batch_table(schema, name):
        return [str(b / "*.parquet") for b in current_batches(Path(wh.table_path(schema, name)))]
    owner = sw.build_owner(schema, name)
    assert owner is not None
    return [str(current_build(Path(wh.root), owner)[f"{schema}/{name}"] / "*.parquet")]


def _same(con, wh, schema: str, name: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(f'"{c}"' for c in columns)
    ours = con.execute(f'select {cols} from {schema}."{name}" order by all').fetchall()
    theirs = con.execute(
        f"select {cols} from read_parquet(?) order by all", [_parquet(wh, schema, name)]
    ).fetchall()
    assert ours == theirs, f"{schema}.{name}"
    return ours


@pytest.mark.parametrize("entity", [e.name for e in SOURCES])
def test_sources_land_in_raw_and_mastered_with_the_same_rows_on_both(
    duck: duckdb.DuckDBPyConnection, built: sw.SparkWarehouse, entity: str
) -> None:
    ent = next(e for e in SOURCES if e.name == entity)
    lineage = [c for c in LINEAGE_COLUMNS if c != "_ingested_at"]
    raw = _same(duck, built, "raw", entity, [*ent.column_names, "_modified_ts", "_source_row"])
    rejected = _same(
        duck,
        built,
        "quarantine",
        f"{entity}_ingest_rejects",
        [*ent.column_names, "_source_row", "_reason"],
    )
    assert any("EDGE" in str(r) for r in rejected), "an edge version time must be refused"
    mastered = _same(duck, built, "mastered", entity, [*ent.column_names, *lineage])
    assert len(mastered) > 50 and len(raw) > len(mastered)
    cols = [*ent.column_names, "_failed_rules", *lineage]
    rules = _same(duck, built, "quarantine", f"{entity}_rejects", cols)
    failed = {rule for r in rules for rule in r[len(ent.column_names)]}
    # The edge dates of birth that do not parse, or lie in the future, are quarantined.
    assert "date_of_birth__type" in failed, failed
    edge_ids = {r[0] for r in mastered if r[0].startswith("EDGE-")}
    assert edge_ids, "edge rows that parse reach mastered"


@pytest.mark.parametrize("entity", [e.name for e in SOURCES])
def test_rule_checks_read_a_sources_dates_the_same_on_both(
    duck: duckdb.DuckDBPyConnection, built: sw.SparkWarehouse, entity: str
) -> None:
    """The checks write a date back in its layout (strftime / DATE_FORMAT) and parse it
    again: no failure on the mastered table, and the same failures on both engines when
    a date of birth lies in the future."""
    ent = next(e for e in SOURCES if e.name == entity)
    built.register("mastered", entity)
    assert rule_failures(duck, ent) == rule_failures(built, ent) == {}
    first = f'(select min(source_id) from mastered."{entity}")'
    future = (
        f"select * replace (case when source_id = {first} then current_date + 400 "
        f'else date_of_birth end as date_of_birth) from mastered."{entity}"'
    )
    probe = duckdb.connect()
    probe.execute("create schema mastered")
    probe.register("changed", duck.sql(future).to_arrow_table())
    probe.execute(f'create table mastered."{entity}" as select * from changed')
    table = built.read("mastered", entity)
    assert table is not None
    lowest = table.agg(F.min("source_id")).first()[0]
    changed = table.withColumn(
        "date_of_birth",
        F.when(F.col("source_id") == lowest, F.date_add(F.current_date(), 400)).otherwise(
            F.col("date_of_birth")
        ),
    )
    changed.createOrReplaceTempView(view_name("mastered", entity))
    try:
        ours, theirs = rule_failures(probe, ent), rule_failures(built, ent)
    finally:
        probe.close()
        built.register("mastered", entity)
    assert set(ours) == {"date_of_birth__not_future"} and ours == theirs
