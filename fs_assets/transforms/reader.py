"""What reads DuckDB SQL on either engine: a DuckDB connection, or the Spark warehouse's
reader that transpiles each statement (engines/spark_marts.TableReader)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class SqlReader(Protocol):
    """`.execute(duckdb_sql, params)`; its cursor has `fetchall`, `fetchone` and, for the
    marts' readers, `description`."""

    def execute(self, sql: str, params: Sequence[object] | None = None, /) -> Any: ...
