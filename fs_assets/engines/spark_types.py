"""Spark's column types named as DuckDB names them.

One place for the translation, so a Spark result reads the same as DuckDB's wherever a
type name is compared: the catalog's columns (`catalog/spark_scan.py`) and the DB-API
`description` of the Spark warehouse's results (`SparkCursor`), which the checks read to
know which columns a mastered table stores in their model type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import DataType

# Spark's simple type names -> DuckDB's (decimal, arrays and structs are spelled below).
_TYPE_NAMES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp_ntz": "TIMESTAMP",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "binary": "BLOB",
}


def duckdb_type(data_type: DataType) -> str:
    """The DuckDB name of a Spark column type (what `information_schema` would say)."""
    from pyspark.sql.types import ArrayType, DecimalType, StructType

    if isinstance(data_type, DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    if isinstance(data_type, ArrayType):
        return f"{duckdb_type(data_type.elementType)}[]"
    if isinstance(data_type, StructType):
        inner = ", ".join(f"{f.name} {duckdb_type(f.dataType)}" for f in data_type.fields)
        return f"STRUCT({inner})"
    simple = data_type.simpleString()
    return _TYPE_NAMES.get(simple, simple.upper())
