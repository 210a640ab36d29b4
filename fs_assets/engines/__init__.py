"""Warehouse engines: DuckDB (embedded, the default) and Spark (scale-out).

The transformations are written once, as DuckDB SQL, in raw_history.py, mastering.py,
rules.py and regional.py. Both engines implement `base.Engine`: the DuckDB engine
(`duckdb_engine`) runs that SQL as it is; the Spark engine (`spark`) transpiles it with
sqlglot (`portable`) and runs it on a SparkSession, reading landing files and writing
Parquet. Which engine runs is the warehouse resource's `engine` setting (from
$FS_ACCELERATOR_ENGINE through dg.EnvVar), chosen once in `WarehouseResource.open_engine`.
"""

from __future__ import annotations

from typing import Literal

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[EngineName, ...] = ("duckdb", "spark")
ENGINE_ENV = "FS_ACCELERATOR_ENGINE"


def resolve_engine(configured: str | None = None) -> EngineName:
    """The configured engine name (empty: duckdb), checked; refuses typos."""
    value = (configured or "duckdb").strip().lower()
    if value not in ENGINES:
        raise ValueError(
            f"unknown warehouse engine {value!r} (the warehouse resource's engine, "
            f"${ENGINE_ENV}); expected one of {', '.join(ENGINES)}"
        )
    return value  # type: ignore[return-value]
