"""The catalog of a Spark build equals the DuckDB build's.

The same landing files are built through Dagster on each engine: raw, mastered, every
role's governed tables (but the golden customer's: identity resolution runs on DuckDB
only), every mart and the lead list, then the customer profile and the
scanner. On Spark the scanner reads the tables the manifests name and profiles each with
one Spark job; its catalog must list the same tables with the same columns, types
(DuckDB's names), row counts and profile values as DuckDB's. What differs by design:
a governed table is a VIEW on DuckDB and a BASE TABLE on Spark, every Parquet column is
nullable, and approximate distinct counts come from two different sketches.
"""

from __future__ import annotations

import glob
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")

from fs_assets.generator import generate_landing
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.marts.features import WRITTEN_AT
from tests.spark_graph import MASKING_KEY, materialize_graph

CUSTOMERS = 150
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}


def catalog(home: Path) -> tuple[dict, dict, list]:
    """catalog.tables by name, catalog.columns by (table, column), catalog.customer_profile."""
    from resources.warehouse import WarehouseResource

    with duckdb.connect(str(WarehouseResource(home=str(home)).path), read_only=True) as conn:
        tables = {
            f"{s}.{t}": (kind, rows, fp)
            for s, t, kind, rows, fp in conn.execute(
                "select table_schema, table_name, table_type, row_count, content_fingerprint "
                "from catalog.tables"
            ).fetchall()
        }
        columns = {
            (f"{s}.{t}", c): rest
            for s, t, c, *rest in conn.execute(
                "select table_schema, table_name, column_name, ordinal_position, data_type, "
                "null_count, distinct_count, min_value, max_value, pii_tag from catalog.columns"
            ).fetchall()
        }
        profile = conn.execute(
            "select slice, column_name, data_type, row_count, null_count, distinct_count, "
            "min_value, max_value, top_values from catalog.customer_profile order by 1, 2"
        ).fetchall()
    return tables, columns, profile


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("catalog")
    generate_landing(base / "landing", customers=CUSTOMERS, seed=17)
    duck, spark = base / "duck", base / "spark"
    for home in (duck, spark):
        shutil.copytree(base / "landing", home / "landing")
    materialize_graph(duck)
    materialize_graph(spark, engine="spark", spark_master="local[2]", spark_conf=SPARK_CONF)
    yield duck, spark


def _same_value(a: str | None, b: str | None) -> bool:
    """Min and max as text: numbers compare as numbers (1e-05 and 1.0E-5 are one value)."""
    if a == b:
        return True
    try:
        return a is not None and b is not None and abs(float(a) - float(b)) < 1e-9
    except ValueError:
        return False


def _near(a: int | None, b: int | None) -> bool:
    """Two sketches' approximate distinct counts (DuckDB's HyperLogLog, Spark's HLL++):
    within 20% (or 5) of each other; on a few hundred values each errs by up to ~10%."""
    if a is None or b is None:
        return a == b
    return abs(a - b) <= max(5, 0.2 * max(a, b))


# Integer widths: a mart's expression is typed INTEGER by one engine, BIGINT by the other.
_INTEGERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
# Values of one build, not of the data: landing paths, ingest and write times, run ids.
_PER_BUILD = {"_source_file", "_ingested_at", WRITTEN_AT}
# Tables only the DuckDB engine has: its history's past rows apart from the current ones
# (a view joins them; Spark writes one history table), its change record (Spark keeps it
# in the build manifests), and ingest rejects it creates empty (Spark: on a first reject).
_DUCKDB_ONLY = ("meta.master_", "meta.reference_changes", "_history_past", "_ingest_rejects")


def _type(name: str) -> str:
    """Integer widths as one; a decimal's precision aside (a sum's precision is each
    engine's own rule), its scale kept."""
    if name.startswith("DECIMAL(") and "," in name:
        return f"DECIMAL(*,{name.rsplit(',', 1)[1]}"
    return "INTEGER" if name in _INTEGERS else name


@pytest.mark.slow
def test_the_spark_catalog_equals_duckdbs(built: tuple[Path, Path]) -> None:
    duck_tables, duck_cols, duck_profile = catalog(built[0])
    spark_tables, spark_cols, spark_profile = catalog(built[1])
    # Every table on both, with the same row counts, but DuckDB's own storage tables;
    # a governed or history view is a table on Spark.
    assert set(spark_tables) <= set(duck_tables), sorted(set(spark_tables) - set(duck_tables))
    for name in set(duck_tables) - set(spark_tables):
        assert any(part in name for part in _DUCKDB_ONLY), name
        assert "_ingest_rejects" not in name or duck_tables[name][1] == 0, name
    for name, (kind, rows, fp) in spark_tables.items():
        assert (kind, rows) == ("BASE TABLE", duck_tables[name][1]), name
        assert name.startswith("meta.") or fp.startswith("folders:"), name
    assert {"governed.sales_leads", "marts.customer_features", "marts.cross_sell"} <= set(
        spark_tables
    )
    assert sum(n.startswith("governed.") for n in spark_tables) > 10
    # The same columns, positions, types and PII tags; the same profile values.
    assert set(spark_cols) == {k for k in duck_cols if k[0] in spark_tables}
    compared = 0
    for key, (pos, dtype, nulls, distinct, lo, hi, pii) in spark_cols.items():
        d_pos, d_dtype, d_nulls, d_distinct, d_lo, d_hi, d_pii = duck_cols[key]
        assert (pos, _type(dtype), pii) == (d_pos, _type(d_dtype), d_pii), key
        if key[0].startswith("meta.") or key[1] in _PER_BUILD:
            continue
        assert nulls == d_nulls, key
        assert _near(distinct, d_distinct), (key, distinct, d_distinct)
        assert _same_value(lo, d_lo) and _same_value(hi, d_hi), (key, lo, d_lo, hi, d_hi)
        compared += nulls is not None
    assert compared > 500
    # The customer profile: exact counts, so the same values row for row.
    assert duck_profile and len(spark_profile) == len(duck_profile)
    for ours, theirs in zip(duck_profile, spark_profile, strict=True):
        assert ours[:6] == theirs[:6], (ours, theirs)
        assert _same_value(ours[6], theirs[6]) and _same_value(ours[7], theirs[7])
        assert ours[8] == theirs[8], ours[1]


@pytest.mark.slow
def test_a_second_spark_scan_keeps_unchanged_profiles(built: tuple[Path, Path]) -> None:
    """Nothing rebuilt: every Spark table's folders are the same, so every profile is
    kept (no Spark job); the catalog is unchanged."""
    from fs_assets.defs.keys import SCANNER_KEY

    before = catalog(built[1])
    result = materialize_graph(
        built[1], [SCANNER_KEY], engine="spark", spark_master="local[2]", spark_conf=SPARK_CONF
    )
    meta = result.asset_materializations_for_node("catalog__scanner")[0].metadata
    reused = set(meta["tables_reused"].value)
    spark_names = {n for n in before[0] if not n.startswith("meta.")}
    assert spark_names and spark_names <= reused
    after = catalog(built[1])
    assert after[1] == before[1]


def _export_rows(home: Path, role: str, parquet=None) -> dict[str, list[tuple]]:
    from fs_assets.model.paths import data_paths
    from fs_assets.transforms.governance.export import export_role, query_role
    from fs_assets.transforms.governance.masking_key import MaskingKey

    paths = data_paths(str(home))
    export_role(paths, role, key=MaskingKey(MASKING_KEY.encode()), parquet=parquet)
    _, tables = query_role(paths, role, "select table_name from duckdb_tables() order by 1")
    return {
        t: sorted(query_role(paths, role, f'select * from "{t}"')[1], key=repr)
        for (t,) in tables
        if t != "_export_info"
    }


@pytest.mark.slow
def test_a_roles_export_on_spark_equals_duckdbs(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fs-accelerator export` on the spark engine copies each governed table from the
    Parquet files of the version its manifest names: the same rows and masked values as
    the DuckDB build's export; a newer folder no manifest names (a writer killed before
    its commit) is never read."""
    from fs_assets.engines import ENGINE_ENV
    from fs_assets.engines.publish import new_version
    from resources.warehouse import resolved_warehouse

    duck, spark = built
    role = "restricted-acess"
    assert resolved_warehouse(str(spark)).governed_parquet() is None  # engine unset: DuckDB
    monkeypatch.setenv(ENGINE_ENV, "spark")
    parquet = resolved_warehouse(str(spark)).governed_parquet()
    assert parquet is not None
    ours = _export_rows(duck, role)
    assert ours and all(ours.values())
    # A half-written version beside the current one: rows no reader may see.
    view = next(iter(ours))
    stray = resolved_warehouse(str(spark)).export_dir / "governed" / view / new_version()
    stray.mkdir()
    with duckdb.connect() as conn:
        conn.execute("copy (select 'stray' as x) to ? (format parquet)", [str(stray / "p.parquet")])
    assert _export_rows(spark, role, parquet) == ours


@pytest.mark.slow
def test_the_spark_scan_reads_the_hive_region_layout(built: tuple[Path, Path]) -> None:
    """Two region partitions written by the engine: the scan lists them as
    mastered.customer_by_region (country and state from the folder names, as text) with
    exactly their customers, from the folders the layout's manifest names."""
    from fs_assets.catalog.spark_scan import scan_spark
    from fs_assets.engines.publish import current_build
    from resources.warehouse import WarehouseResource

    home = built[1]
    warehouse = WarehouseResource(
        home=str(home), engine="spark", spark_master="local[2]", spark_conf=SPARK_CONF
    )
    folder = current_build(warehouse.export_dir, "customer")["mastered/customer"]
    with duckdb.connect() as conn:
        counts = conn.execute(
            "select country, state, count(*) from read_parquet(?) group by all "
            "order by 3 desc, 1, 2 limit 2",
            [str(folder / "*.parquet")],
        ).fetchall()
    pairs = [(c, s) for c, s, _ in counts]
    with warehouse.open_engine() as engine:
        written = engine.write_partitions(pairs, home / "landing")
    assert written == {(c, s): n for c, s, n in counts}
    with warehouse.spark() as wh:
        scans = {t.name: t for t in scan_spark(wh, {}, {}).tables}
    region = scans["mastered.customer_by_region"]
    assert region.row_count == sum(n for _, _, n in counts) > 0
    columns = {c.name: c for c in region.columns}
    assert columns["country"].data_type == columns["state"].data_type == "VARCHAR"
    assert columns["state"].distinct_count == len({s for _, s in pairs})
    assert {columns["country"].min_value, columns["country"].max_value} == {c for c, _ in pairs}


def test_spark_types_are_named_as_duckdb_names_them() -> None:
    from pyspark.sql import types as T

    from fs_assets.catalog.spark_scan import _orderable
    from fs_assets.engines.spark_types import duckdb_type

    assert duckdb_type(T.StringType()) == "VARCHAR"
    assert duckdb_type(T.TimestampNTZType()) == "TIMESTAMP"
    assert duckdb_type(T.TimestampType()) == "TIMESTAMP WITH TIME ZONE"
    assert duckdb_type(T.DecimalType(18, 2)) == "DECIMAL(18,2)"
    assert duckdb_type(T.ArrayType(T.StringType())) == "VARCHAR[]"
    assert duckdb_type(T.LongType()) == "BIGINT" and duckdb_type(T.IntegerType()) == "INTEGER"
    assert _orderable(T.ArrayType(T.StringType()))
    assert not _orderable(T.MapType(T.StringType(), T.StringType()))


def test_an_export_reads_only_the_version_the_manifest_names(tmp_path: Path) -> None:
    """governed_parquet: the files of the folder `_builds/governed.<view>.json` names,
    listed (a root with glob characters is data), None before a first build; a non-local
    root is refused with the reason."""
    from fs_assets.engines.publish import build_manifest, commit_local, new_version, pointer_text
    from fs_assets.engines.spark_tables import governed_parquet
    from fs_assets.transforms.governance.export import ExportError

    root = tmp_path / "ware [1]*"
    view = "sales_customer"
    assert governed_parquet(str(root), view) is None
    current, newer = new_version(), new_version()
    for version, value in ((current, "current"), (newer, "half-written")):
        folder = root / GOVERNED_SCHEMA / view / version
        folder.mkdir(parents=True)
        with duckdb.connect() as conn:
            conn.execute(
                "copy (select ? as x) to ? (format parquet)", [value, str(folder / "p.parquet")]
            )
    doc = {"build": current, "tables": {f"governed/{view}": f"governed/{view}/{current}"}}
    commit_local(Path(build_manifest(str(root), f"governed.{view}")), pointer_text(doc))
    files = governed_parquet(str(root), view)
    assert files == [glob.escape(str(root / GOVERNED_SCHEMA / view / current / "p.parquet"))]
    with duckdb.connect() as conn:
        assert conn.execute("select x from read_parquet(?)", [files]).fetchall() == [("current",)]
    with pytest.raises(ExportError, match="not a local path"):
        governed_parquet("s3a://bucket/prefix", view)
