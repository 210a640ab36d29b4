"""Warehouse engines: DuckDB (embedded, the default) and Spark (scale-out).

The transformations are written once, as DuckDB SQL, in raw_history.py, mastering.py,
rules.py and regional.py. The DuckDB engine runs that SQL as it is; the Spark engine
(`fs_assets.engines.spark`) transpiles it with sqlglot (`fs_assets.engines.portable`) and
runs it on a SparkSession, reading landing files and writing Parquet. Which engine runs
is a setting: `WarehouseResource.engine`, else $FS_ACCELERATOR_ENGINE, else duckdb.
"""

from __future__ import annotations

import os
from typing import Literal

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")
ENGINE_ENV = "FS_ACCELERATOR_ENGINE"


def resolve_engine(configured: str | None = None) -> Engine:
    """The configured engine, else $FS_ACCELERATOR_ENGINE, else duckdb; refuses typos."""
    value = (configured or os.environ.get(ENGINE_ENV) or "duckdb").strip().lower()
    if value not in ENGINES:
        raise ValueError(
            f"unknown warehouse engine {value!r} (from config or ${ENGINE_ENV}); "
            f"expected one of {', '.join(ENGINES)}"
        )
    return value  # type: ignore[return-value]
