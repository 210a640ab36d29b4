"""The catalog's assets: `catalog/customer_profile`, `catalog/scanner`, `catalog/data_product`.

`build_catalog_assets(assets, checks)` is called by the definitions module with every
other asset and check, so the scanner depends on every asset that writes a warehouse table
and runs after them (an asset added later is picked up without touching this module). The
assets read the definitions' metadata from the asset graph of exactly those definitions:
`context.repository_def` is not set when a job runs with `execute_in_process` (as
`fs-accelerator build` does), so the graph is kept with the assets instead.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from pydantic import Field

from fs_assets.catalog.graph_view import GraphView
from fs_assets.catalog.manifest import MANIFEST_FILE, OUTPUT_SCHEMAS, build_manifest, to_yaml
from fs_assets.catalog.manifest import write_manifest as write_manifest_file
from fs_assets.catalog.profile import SLICES, profile_customer, profile_markdown, write_profile
from fs_assets.catalog.scanner import (
    DISTINCT_CHANGE_SHARE,
    DISTINCT_MAX_AGE,
    missing_tables,
    scan_warehouse,
    stored_profiles,
    tables_markdown,
    write_catalog,
)
from fs_assets.catalog.specs import CATALOG_GROUP, CATALOG_SCHEMA, PROFILE_SCHEMA, TABLES_SCHEMA
from fs_assets.catalog.tables import declared_tables
from fs_assets.defs.asset_graph import graph_view, table_of
from fs_assets.defs.catalog_metadata import table_schema
from fs_assets.defs.governed import same_rows_views
from fs_assets.defs.history import history_unions
from fs_assets.defs.keys import DATA_PRODUCT_KEY, PROFILE_KEY, SCANNER_KEY, mastered_key
from fs_assets.defs.metadata import table_name
from fs_assets.defs.seed_names import seed_same_rows
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import OWNER, KeyPath
from fs_assets.model.paths import data_paths
from fs_assets.transforms.change_record import CHECK_MODE, CHECK_MODE_REASON, FULL
from fs_assets.transforms.governance.policies import load_policies
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

if TYPE_CHECKING:
    from fs_assets.engines.spark_warehouse import SparkWarehouse

CUSTOMER_KEY = mastered_key("customer")
# The scanner's checks compare every table's name with the definitions: no row is read.
NAMES_IN_FULL = {CHECK_MODE: FULL, CHECK_MODE_REASON: "every table's name; no row read"}


class GraphOf:
    """The asset graph of a set of definitions, built on first use (after all are known)."""

    def __init__(self, definitions: Sequence[dg.AssetsDefinition]) -> None:
        self._definitions = list(definitions)
        self._graph: GraphView | None = None

    def extend(self, definitions: Sequence[dg.AssetsDefinition]) -> None:
        self._definitions += definitions
        self._graph = None

    def get(self) -> GraphView:
        if self._graph is None:
            self._graph = graph_view(AssetGraph.from_assets(self._definitions))
        return self._graph


def _last_materialized(
    instance: dg.DagsterInstance, keys: Iterable[KeyPath] = ()
) -> Callable[[KeyPath], dt.datetime | None]:
    """When each asset last materialized; `keys` are read in one query up front (one
    query per key cost the scanner more than profiling the small tables)."""
    cache: dict[KeyPath, dt.datetime | None] = {}

    def stamp(event: dg.EventLogEntry | None) -> dt.datetime | None:
        if event is None:
            return None
        return dt.datetime.fromtimestamp(event.timestamp, dt.UTC).replace(tzinfo=None)

    wanted = sorted(set(keys))
    if wanted:
        cache.update(dict.fromkeys(wanted))
        for record in instance.get_asset_records([dg.AssetKey(k) for k in wanted]):
            entry = record.asset_entry
            cache[tuple(entry.asset_key.path)] = stamp(entry.last_materialization)

    def lookup(key: KeyPath) -> dt.datetime | None:
        if key not in cache:
            cache[key] = stamp(instance.get_latest_materialization_event(dg.AssetKey(key)))
        return cache[key]

    return lookup


@contextmanager
def _catalog_file(
    warehouse: WarehouseResource,
) -> Iterator[tuple[duckdb.DuckDBPyConnection, "SparkWarehouse | None"]]:
    """The DuckDB file the catalog is written to, and the Spark warehouse whose tables it
    describes on the Spark engine (None on DuckDB: the tables are the file's own)."""
    if warehouse.on_spark:
        with warehouse.spark() as spark:
            yield spark.control, spark
    else:
        with warehouse.connect() as conn:
            yield conn, None


@dg.asset(
    key=PROFILE_KEY,
    group_name=CATALOG_GROUP,
    owners=[OWNER],
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    deps=[CUSTOMER_KEY],
    description=(
        "Basic column profile of mastered.customer, the seed's profiling job: for every "
        "column the rows, nulls, distinct values, min and max, and the five commonest values "
        "of categoricals, over all customers and over the seed's slice (Semi, United States, "
        "Salaried, Chicago). Grain: one row per (slice, column). PII columns get counts only."
    ),
    metadata={
        "dagster/table_name": table_name(CATALOG_SCHEMA, "customer_profile"),
        "dagster/column_schema": table_schema(PROFILE_SCHEMA),
    },
)
def customer_profile(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with _catalog_file(warehouse) as (conn, spark):
        if spark is None:
            rows = profile_customer(conn)
        else:  # mastered.customer is a Parquet version: Spark jobs profile it
            from fs_assets.catalog.spark_scan import profile_customer_spark

            rows = profile_customer_spark(spark)
        write_profile(conn, rows)
    sizes = {
        sl.name: next((r["row_count"] for r in rows if r["slice"] == sl.name), 0) for sl in SLICES
    }
    context.log.info(f"profiled mastered.customer: {sizes}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(rows)),
            "rows_by_slice": dg.MetadataValue.json(sizes),
            "profile": dg.MetadataValue.md(profile_markdown(rows)),
        }
    )


class ScannerConfig(dg.Config):
    rescan_all: bool = Field(
        default=False,
        description="Profile every table again, also those whose data has not changed since "
        "the last scan.",
    )
    refresh_distinct: bool = Field(
        default=False,
        description="Profile every changed table over every row, also those a small change "
        "lets keep their distinct counts or column statistics (taken again anyway when "
        f"older than {DISTINCT_MAX_AGE.total_seconds() / 3600:g} h, or when the rows changed "
        f"since pass {DISTINCT_CHANGE_SHARE:.0%} of a table).",
    )


def build_scanner_asset(deps: Sequence[dg.AssetKey], graph: GraphOf) -> dg.AssetsDefinition:
    """The scanner, downstream of `deps` (every asset that writes a warehouse table)."""

    @dg.asset(
        key=SCANNER_KEY,
        group_name=CATALOG_GROUP,
        owners=[OWNER],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        deps=sorted(set(deps)),
        description=(
            "Catalog of the warehouse, the seed's scanner workflow: every table and view of "
            "every schema (but catalog) with its type, row count, description, owner, "
            "producing asset and last materialization, in catalog.tables; every column with "
            "its type, nullability, description, PII tag and profile (nulls, approximate "
            "distinct, min, max) in catalog.columns. Grain: one row per table (per column). "
            "Only tables whose data changed since the last scan are profiled again; the "
            "others keep their profile (scanned_at says when it was taken). A large table "
            "changed by a small share keeps the statistics it cannot derive from the change "
            "(profile_mode and distinct_as_of say which and since when)."
        ),
        metadata={
            "dagster/table_name": table_name(CATALOG_SCHEMA, "tables"),
            "dagster/column_schema": table_schema(TABLES_SCHEMA),
        },
        check_specs=[
            dg.AssetCheckSpec(
                "no_orphan_tables",
                asset=SCANNER_KEY,
                description="Every warehouse table and view is written by an asset: its own "
                "`dagster/table_name`, or a quarantine/meta table mapped to its writer.",
            ),
            dg.AssetCheckSpec(
                "no_missing_tables",
                asset=SCANNER_KEY,
                description="Every asset that declares `dagster/table_name` and has been "
                "materialized has its table in the warehouse.",
            ),
        ],
    )
    def _scanner(
        context: dg.AssetExecutionContext,
        config: ScannerConfig,
        warehouse: WarehouseResource,
        masking_key: MaskingKeyResource,
    ) -> dg.MaterializeResult:
        declared = declared_tables(graph.get())
        producers = [k for table in declared.values() for k in table.producers]
        last = _last_materialized(context.instance, producers)
        key = masking_key.get()  # no key: fail before touching the catalog
        with _catalog_file(warehouse) as (conn, spark):
            # The governed views' keyed columns (tokens, hashes) read NULL in a session
            # without the key: profile them as the roles' exports hold them.
            key.apply(conn)
            stored = stored_profiles(conn) if spark is not None and not config.rescan_all else {}
            result = scan_warehouse(
                conn,
                declared,
                last,
                reuse=not config.rescan_all,
                same_rows={**same_rows_views(load_policies()), **seed_same_rows()},
                unions=history_unions([*ENTITIES.values(), *SOURCE_ENTITIES]),
                refresh_distinct=config.refresh_distinct,
            )
            if spark is not None:  # the tables are Spark's Parquet versions, not the file's
                from fs_assets.catalog.spark_scan import add_spark_tables

                add_spark_tables(result, spark, last, stored)
            write_catalog(conn, result)
            catalog_tables = {
                f"{CATALOG_SCHEMA}.{t}"
                for (t,) in conn.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = current_database() and table_schema = ?",
                    [CATALOG_SCHEMA],
                ).fetchall()
            }
        orphans = result.orphans()
        missing = missing_tables(declared, result.names | catalog_tables, last)
        if orphans:
            context.log.warning(f"tables no asset writes: {orphans}")
        if missing.missing:
            context.log.warning(f"declared tables missing from the warehouse: {missing.missing}")
        columns = result.column_rows()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(len(result.tables)),
                "dagster/column_schema": table_schema(TABLES_SCHEMA),
                "columns_cataloged": dg.MetadataValue.int(len(columns)),
                "tables_rescanned": dg.MetadataValue.json(result.rescanned),
                "tables_reused": dg.MetadataValue.json(sorted(result.reused)),
                "tables_derived": dg.MetadataValue.json(sorted(result.derived)),
                "distinct_counts_kept": dg.MetadataValue.json(result.distinct_kept),
                "column_statistics_kept": dg.MetadataValue.json(sorted(result.kept)),
                "pii_columns": dg.MetadataValue.int(sum(1 for c in columns if c["pii_tag"])),
                "tables": dg.MetadataValue.md(tables_markdown(result)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name="no_orphan_tables",
                    passed=not orphans,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "orphan_tables": dg.MetadataValue.json(orphans),
                        "tables_scanned": len(result.tables),
                        **NAMES_IN_FULL,
                    },
                ),
                dg.AssetCheckResult(
                    check_name="no_missing_tables",
                    passed=not missing.missing,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "missing_tables": dg.MetadataValue.json(missing.missing),
                        "not_materialized_yet": dg.MetadataValue.json(missing.never_materialized),
                        **NAMES_IN_FULL,
                    },
                ),
            ],
        )

    return _scanner


def build_data_product_asset(deps: Sequence[dg.AssetKey], graph: GraphOf) -> dg.AssetsDefinition:
    """The manifest asset, downstream of the product's outputs."""

    @dg.asset(
        key=DATA_PRODUCT_KEY,
        group_name=CATALOG_GROUP,
        owners=[OWNER],
        kinds={"yaml"},
        deps=sorted(set(deps)),
        description=(
            "The data product manifest customer-overview-dp (domain financial-services), "
            f"generated from the definitions into <data>/{MANIFEST_FILE}: resources, inputs "
            "(landing folders), outputs (mastered and governed tables), quality checks and "
            "masking policies. Validated against its schema when written and when read."
        ),
    )
    def _data_product(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        # The warehouse resource only locates the data folder; the file is not opened.
        manifest = build_manifest(graph.get(), load_policies())
        path = data_paths(warehouse.home).home / MANIFEST_FILE
        written = write_manifest_file(path, manifest)
        data = written.v1alpha.data
        context.log.info(
            f"wrote {path}: {len(data.outputs)} outputs, {len(data.quality)} quality checks"
        )
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "outputs": dg.MetadataValue.json([o.ref for o in data.outputs]),
                "quality_checks": dg.MetadataValue.int(len(data.quality)),
                "policies": dg.MetadataValue.json([p.name for p in data.policies]),
                "manifest": dg.MetadataValue.md(f"```yaml\n{to_yaml(written)}```"),
            }
        )

    return _data_product


def build_catalog_assets(
    assets: Sequence[dg.AssetsDefinition], checks: Sequence[dg.AssetsDefinition] = ()
) -> list[dg.AssetsDefinition]:
    """The catalog assets for a project whose other assets and checks are given."""
    specs = [spec for a in assets for spec in a.specs]
    writers = [s.key for s in specs if table_of(s.metadata) and s.key.path[0] != CATALOG_SCHEMA]
    outputs = [
        s.key for s in specs if (t := table_of(s.metadata)) and t.split(".", 1)[0] in OUTPUT_SCHEMAS
    ]
    graph = GraphOf([*assets, *checks])
    catalog = [
        customer_profile,
        build_scanner_asset([*writers, PROFILE_KEY], graph),
        build_data_product_asset(outputs, graph),
    ]
    graph.extend(catalog)
    return catalog
