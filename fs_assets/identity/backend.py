"""Where identity resolution runs: its state in a DuckDB file, Splink on an engine.

Both engines keep identity's state in the warehouse's DuckDB file (`con`: records,
features, pairs, clusters, golden ids, their log, the golden records and the snapshots
an incremental run compares against), so every rule after Splink's phases (overrides,
the national-id cut, stable ids, the merge/split log, review, survivorship) is one copy
of DuckDB SQL and Python. What an engine decides is the rest, `IdentityBackend`:

- `mastered`: where the sources' mastered tables are read from (the file's tables, or
  the Spark tables' current versions);
- `linker`: which Splink backend blocks, trains and scores (DuckDBAPI on the file, or
  SparkAPI over the features), from the one model definition (`model.settings()`);
- `rows` / `count`: a Splink result readable by `con` (its ids and weights: no PII);
- `publish`: `mastered.customer_identity` / `mastered.golden_customer` as the engine's
  readers find them (the file's tables, or Spark tables behind their build manifests);
- `rescores_in_place`: whether changed records can be rescored against the rest
  (`incremental.predict_changed`); otherwise every candidate pair is scored again.

`DuckDBIdentity` is the DuckDB engine's; the Spark engine's is in
`engines/spark_identity.py`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import duckdb
from splink import Linker
from splink.internals.splink_dataframe import SplinkDataFrame

from fs_assets.identity import model
from fs_assets.identity.canonical import mastered_relations


class IdentityBackend(Protocol):
    """Identity's state (`con`) and the engine its Splink phases run on."""

    con: duckdb.DuckDBPyConnection
    rescores_in_place: bool

    def mastered(self, tables: Sequence[str]) -> AbstractContextManager[dict[str, str]]:
        """The mastered tables among `tables` that exist, each as a relation `con` reads
        (valid while the context is open)."""
        ...

    def linker(self, settings: Any) -> AbstractContextManager[Linker]:
        """A Splink linker over `identity.features` (`settings`: `model.settings()`, the
        saved model's path or dict); its tables are dropped when the context closes."""
        ...

    def rows(self, frame: SplinkDataFrame) -> str:
        """A relation `con` reads holding the Splink result's rows."""
        ...

    def count(self, frame: SplinkDataFrame) -> int:
        """How many rows a Splink result holds."""
        ...

    def publish(self, table: str) -> None:
        """Make the file's `table` (a mastered identity table) what the engine's
        readers read."""
        ...


class DuckDBIdentity:
    """The DuckDB engine's: everything in the warehouse file, Splink's DuckDBAPI on it."""

    rescores_in_place = True

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @contextmanager
    def mastered(self, tables: Sequence[str]) -> Iterator[dict[str, str]]:
        yield mastered_relations(self.con, tables)

    @contextmanager
    def linker(self, settings: Any) -> Iterator[Linker]:
        linker = model.make_linker(self.con, settings)
        try:
            yield linker
        finally:
            linker.table_management.delete_tables_created_by_splink_from_db()
            self.con.unregister(model.SPLINK_INPUT)

    def rows(self, frame: SplinkDataFrame) -> str:
        return frame.physical_name

    def count(self, frame: SplinkDataFrame) -> int:
        return frame.as_duckdbpyrelation().count("*").fetchall()[0][0]

    def publish(self, table: str) -> None:
        """Nothing to do: the file's table is the table."""
