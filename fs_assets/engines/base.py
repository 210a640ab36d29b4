"""The one engine interface the assets and checks use (no Dagster here).

An engine runs the transformations that differ in how they are executed, not in what
they mean: the SQL is written once (raw_history.py, mastering.py, regional.py) and both
engines run it. The warehouse resource builds the configured engine once per step
(`WarehouseResource.open_engine`); assets and checks call these methods and never ask
which engine they hold.

What both engines do today, and nothing more:
- `ingest`: merge new landing files of an entity into raw history (DuckDB: every new
  file in one statement where it can; Spark: in one job, a Parquet batch folder per file);
- `master`: rebuild mastered.<entity>, its history and quarantine (both incrementally:
  DuckDB rewrites the changed keys' rows in place, Spark writes new table versions of the
  previous rows without those keys plus their new rows);
- `write_partitions`: replace (country, state) partitions of mastered.customer_by_region
  and their Hive Parquet folders (`customer_overview/country=<c>/state=<s>/`);
- `for_checks` / `for_region_checks`: the tables checks read, answering
  `.execute(duckdb_sql, params)`;
- `close`: release what the engine holds between calls.

- `write_governed`: one role's governed view from its DuckDB statement (DuckDB: a view
  in the file; Spark: a Parquet table published behind its manifest, spark_governed.py).
- `build_mart`: marts.<name> from its DuckDB `create or replace table ... as select`
  (DuckDB: that table; Spark: the SELECT transpiled, a Parquet table behind its manifest,
  spark_marts.py);
- `reading`: a reader of DuckDB SQL over any warehouse table (a mart's KPIs and chart
  rows, a governed table's counts), with the masking key set where views need it;
  `present`: which of some tables exist;
- `pages_data`: dashboard pages' filter cubes and governed customer list, from
  page_data.py's statements (Spark: transpiled, spark_pages.py; small results collected);
- `marts_in_place`: whether a mart's changed rows can be rewritten in place, so the
  features' incremental plan applies (DuckDB); otherwise marts are rebuilt in full.
- `identity`: identity resolution's backend (identity/backend.py): its state in the
  DuckDB file on both engines, the sources' mastered tables and Splink's blocking,
  training and scoring on the engine, `mastered.customer_identity` and
  `mastered.golden_customer` published where the engine's readers read them.

Not in this interface: the catalog scan and profile and the role exports, which read
the Spark tables through their own modules (spark_tables.py lists the tables the
manifests name, for `catalog/spark_scan.py` and the exports).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from fs_assets.model.columns import Entity
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.mastering import MasterStats
from fs_assets.transforms.raw_history import IngestOutcome
from fs_assets.transforms.reader import SqlReader

if TYPE_CHECKING:
    from fs_assets.identity.backend import IdentityBackend
    from fs_assets.transforms.marts.page_data import PageData


# What a check reads through: a DuckDB connection, or the Spark warehouse.
CheckReader = SqlReader


@dataclass(frozen=True)
class RawIngest:
    """One ingest: an outcome per landing file, in order, and raw.<entity> afterwards."""

    outcomes: list[IngestOutcome]
    rows: int
    keys: int


@dataclass(frozen=True)
class MasteredBuild:
    """One mastering build and the tables as it left them."""

    stats: MasterStats
    rows: int  # mastered.<entity>
    rejected: int  # quarantine.<entity>_rejects
    pending: int  # quarantine.<entity>_pending_corrections
    pending_keys: int  # distinct keys with a pending correction
    history: int  # mastered.<entity>_history


@dataclass(frozen=True)
class RegionReader:
    """The regional checks' reader, whether customer_by_region exists, and whether its
    Hive Parquet folders are the table itself (Spark) or a second copy (DuckDB)."""

    conn: CheckReader
    region_exists: bool
    hive_is_table: bool


@runtime_checkable
class Engine(Protocol):
    """Where raw, mastered and regional run; see the module docstring."""

    name: str
    marts_in_place: bool  # see the module docstring

    def ingest(self, ent: Entity, paths: Sequence[Path], run_id: str | None) -> RawIngest:
        """Merge these landing files into raw.<entity>; never raises for bad input."""
        ...

    def master(self, ent: Entity, *, full_refresh: bool, reporting_currency: str) -> MasteredBuild:
        """Refresh mastered.<entity>, its history and quarantine, atomically."""
        ...

    def write_partitions(
        self, pairs: list[tuple[str, str]], landing: Path | None
    ) -> dict[tuple[str, str], int]:
        """Replace exactly these (country, state) partitions; rows per pair.

        `landing`: the landing folder, so `_source_file` is written relative to it."""
        ...

    def for_checks(
        self, tables: Iterable[tuple[str, str]] = ()
    ) -> AbstractContextManager[CheckReader]:
        """Read-only access to the (schema, name) tables a check's DuckDB SQL reads."""
        ...

    def for_region_checks(self) -> AbstractContextManager[RegionReader]:
        """mastered.customer and mastered.customer_by_region for the regional checks."""
        ...

    def write_governed(self, name: str, select_sql: str, key: MaskingKey) -> int:
        """Make governed.<name> the rows of `select_sql` (DuckDB SQL over the mastered
        tables, keyed masks under `key`, which is never persisted); its row count."""
        ...

    def build_mart(self, name: str, create_sql: str, params: Sequence[object]) -> int:
        """Make marts.<name> the rows of `create_sql`, DuckDB's `create or replace table
        marts.<name> as select ...` with `?` parameters; its row count."""
        ...

    def reading(self, key: MaskingKey | None = None) -> AbstractContextManager[CheckReader]:
        """A read-only reader of DuckDB SQL over the warehouse tables (Spark: each table
        a statement reads is exposed as it runs); cursors have `fetchall`, `fetchone` and
        `description`. `key`: set in the session where governed views compute masks."""
        ...

    def present(self, tables: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """The (schema, name) tables among `tables` that exist."""
        ...

    def pages_data(self, slugs: Sequence[str], key: MaskingKey) -> Iterator[tuple[str, PageData]]:
        """Each dashboard page of `slugs`, in order, with its filter cubes and governed
        customer list (small results, collected here for rendering; what the pages share
        read once); `key` computes the keyed token they join on."""
        ...

    def identity(self) -> AbstractContextManager[IdentityBackend]:
        """Identity resolution's state (the DuckDB file, open for writing) and the engine
        its Splink phases run on, for one step."""
        ...

    def close(self) -> None:
        """Release what the engine holds between calls."""
        ...
