"""The Spark catalog's parts that need no build: Spark's types named as DuckDB names them,
and an export reading only the version a manifest names.

The catalog of a whole Spark build against DuckDB's is compared in
tests/test_spark_cluster.py, on the cluster build of the graph the suite makes once.
"""

from __future__ import annotations

import glob
from pathlib import Path

import duckdb
import pytest

pytest.importorskip("pyspark")

from fs_assets.transforms.governance import GOVERNED_SCHEMA


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
