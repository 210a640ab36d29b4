"""`SparkEngine`: the `base.Engine` on Spark, what the assets and checks call.

It opens one SparkSession per process and keeps it (starting one takes seconds), and
delegates each step to the module that does it: spark_ingest, spark_mastering,
spark_regions, spark_governed, spark_marts, spark_pages and spark_identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from fs_assets.engines.base import MasteredBuild, RawIngest, RegionReader
from fs_assets.engines.portable import view_name
from fs_assets.engines.publish import (
    DEFAULT_RETENTION_S,
)
from fs_assets.engines.spark_formats import UntranslatableFormat, spark_pattern
from fs_assets.engines.spark_ingest import ingest_files
from fs_assets.engines.spark_mastering import build_mastered, mastered_counts
from fs_assets.engines.spark_regions import write_partitions
from fs_assets.engines.spark_warehouse import (
    SparkWarehouse,
    VersionFrames,
    build_session,
    is_batch_table,
    raw_ddl,
    register_hive,
    register_tables,
)
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import FUNNEL_PATH, LEAD_PATH, SPEND_PATH, UPLIFT_PATH
from fs_assets.transforms.duckdb_file import DuckDBFile, open_file
from fs_assets.transforms.governance.masking_key import MaskingKey
from fs_assets.transforms.raw_history import (
    raw_counts_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from fs_assets.engines.spark_identity import SparkIdentity
    from fs_assets.engines.spark_marts import TableReader
    from fs_assets.transforms.marts.page_data import PageData

# The dashboards' marts: few rows, in an order the charts list them (write_mart's summary).
SUMMARY_MARTS = tuple(p[-1] for p in (FUNNEL_PATH, UPLIFT_PATH, LEAD_PATH, SPEND_PATH))


class SourceFormatUnsupported(RuntimeError):
    """A source entity whose mapping writes a date in a layout Spark has no pattern for."""


class SparkEngine:
    """The `Engine` on Spark: Parquet tables under `root`, the ledger in `control`."""

    name = "spark"
    marts_in_place = False  # Parquet is written whole: every mart is rebuilt in full

    def __init__(
        self,
        control: DuckDBFile,
        root: str,
        master: str = "local[*]",
        conf: dict[str, str] | None = None,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        self.control = control
        self.root = root
        self.spark_master = master
        self.conf = dict(conf or {})
        self.retention_s = retention_s
        self._session: SparkSession | None = None
        self._views: set[str] = set()  # temporary views registered for checks
        self._versions = VersionFrames()  # version folders read in this session

    @contextmanager
    def warehouse(self, *, read_only: bool = False) -> Iterator[SparkWarehouse]:
        """The Parquet warehouse for one unit of work, with the control file open."""
        with open_file(self.control, read_only=read_only) as conn:
            yield self._on(conn)

    def _on(self, control: duckdb.DuckDBPyConnection) -> SparkWarehouse:
        """The warehouse over `control` (the ledger), on the session started once."""
        if self._session is None:
            self._session = build_session(self.spark_master, conf=self.conf)
        return SparkWarehouse(
            self._session, self.root, control, self.retention_s, versions=self._versions
        )

    def ingest(self, ent: Entity, paths: Sequence[Path], run_id: str | None) -> RawIngest:
        """Every new file of the entity in one job per layout (`ingest_files`); a source
        whose date layout Spark cannot read is refused first (`SourceFormatUnsupported`)."""
        for col in ent.columns:
            if col.text_format is None:
                continue
            try:
                spark_pattern(col.text_format)
            except UntranslatableFormat as exc:
                raise SourceFormatUnsupported(
                    f"{ent.name}.{col.name}: {exc} Nothing was ingested; the files stay in "
                    "the landing folder."
                ) from exc
        with self.warehouse() as wh:
            outcomes = ingest_files(wh, ent, paths, run_id)
            wh.register("raw", ent.name, raw_ddl(ent))
            rows, keys = wh.execute(raw_counts_sql(ent)).fetchone()
        return RawIngest(outcomes, rows, keys)

    def master(self, ent: Entity, *, full_refresh: bool, reporting_currency: str) -> MasteredBuild:
        """Incremental where it can be (`build_mastered`); `full_refresh`: every key."""
        with self.warehouse() as wh:
            stats = build_mastered(wh, ent, reporting_currency, full_refresh=full_refresh)
            return MasteredBuild(stats, *mastered_counts(wh, ent))

    def write_partitions(
        self, pairs: list[tuple[str, str]], landing: Path | None
    ) -> dict[tuple[str, str], int]:
        # Its Dagster-free part moves to the transforms layer in the layout step.
        from fs_assets.transforms.regional import EXPORT_NAME, REGION_SELECT_SQL, landing_prefixes

        with self.warehouse() as wh:
            return write_partitions(
                wh, pairs, REGION_SELECT_SQL, EXPORT_NAME, landing_prefixes(landing)
            )

    @contextmanager
    def for_checks(self, tables: Iterable[tuple[str, str]] = ()) -> Iterator[SparkWarehouse]:
        """The Parquet output, each (schema, name) of `tables` exposed under the name the
        check's DuckDB SQL uses once transpiled, so every check keeps one copy of its SQL."""
        tables = list(dict.fromkeys(tables))
        with self.warehouse(read_only=True) as wh:
            self._views.update(view_name(s, n) for s, n in tables)
            register_tables(wh, tables)
            yield wh

    @contextmanager
    def for_region_checks(self) -> Iterator[RegionReader]:
        """mastered.customer, and the Hive folders under `<root>/customer_overview/`, which
        *are* the regional table on Spark, exposed as mastered.customer_by_region with
        country and state from the folder names."""
        from fs_assets.transforms.regional import EXPORT_NAME

        customer = ("mastered", CUSTOMER.name)
        with self.for_checks([customer]) as wh:
            self._views.add(view_name("mastered", "customer_by_region"))
            exists = register_hive(wh, "mastered", "customer_by_region", EXPORT_NAME, customer)
            yield RegionReader(wh, region_exists=exists, hive_is_table=True)

    def write_governed(self, name: str, select_sql: str, key: MaskingKey) -> int:
        """A Parquet table written from the statement, behind its manifest."""
        from fs_assets.engines.spark_governed import write_governed

        with self.warehouse() as wh:
            return write_governed(wh, name, select_sql, key)

    def build_mart(self, name: str, create_sql: str, params: Sequence[object]) -> int:
        """The statement's SELECT transpiled, a Parquet table behind its manifest; the
        dashboards' marts (small, their row order part of them) as one ordered file."""
        from fs_assets.engines.spark_marts import write_mart

        with self.warehouse() as wh:
            return write_mart(wh, name, create_sql, params, summary=name in SUMMARY_MARTS)

    @contextmanager
    def reading(self, key: MaskingKey | None = None) -> Iterator[TableReader]:
        """Each statement's tables exposed as it runs; `key` is not needed: governed
        tables hold their masked values."""
        from fs_assets.engines.spark_marts import TableReader

        with self.warehouse(read_only=True) as wh:
            yield TableReader(wh, self._views)

    def present(self, tables: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Tables with a committed batch or a current version. Before the control file
        exists (nothing ingested from this home yet) no batch is committed, but a build's
        tables may be there already (published from another home): an empty ledger in
        memory, not the error a read-only open of a missing file gives."""
        with (
            open_file(self.control, read_only=True)
            if self.control.path.exists()
            else closing(duckdb.connect())
        ) as conn:
            wh = self._on(conn)
            return {
                (s, n)
                for s, n in tables
                if (wh.batches(s, n) if is_batch_table(s, n) else wh.current_path(s, n))
            }

    def pages_data(self, slugs: Sequence[str], key: MaskingKey) -> Iterator[tuple[str, PageData]]:
        """The pages' statements on Spark (spark_pages.py), small results collected; what
        the pages share read once."""
        from fs_assets.engines.spark_pages import SparkPageSql
        from fs_assets.transforms.marts.page_data import pages_data

        with self.warehouse(read_only=True) as wh:
            yield from pages_data(SparkPageSql(wh, key, self._views), slugs)

    @contextmanager
    def identity(self) -> Iterator[SparkIdentity]:
        """The state in the DuckDB file, Splink and the published tables on Spark
        (spark_identity.SparkIdentity)."""
        from fs_assets.engines.spark_identity import SparkIdentity

        with self.warehouse() as wh:
            yield SparkIdentity(wh)

    def close(self) -> None:
        """Drop the temporary views registered for checks from the shared session (the
        session itself is kept for the next step: starting one takes seconds)."""
        if self._session is not None:
            for view in sorted(self._views):
                self._session.catalog.dropTempView(view)
        self._views.clear()
