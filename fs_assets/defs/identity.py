"""Identity resolution as assets, in the order data flows: source records -> linkage model
-> pairwise predictions -> clusters (with overrides) -> review pairs -> stable golden ids
and their log -> golden customer. Every table is in the warehouse file (`identity` and
`mastered` schemas: PII, inside the governed boundary); each step builds its Splink
linker from the saved model JSON. With fewer than two sources landed there is nothing to
link: each asset says "no multi-source data" and leaves empty tables, not a failure.
"""

import base64
import logging
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb
from pydantic import Field

from fs_assets.defs.content_version import CONTENT_VERSION, content_version
from fs_assets.defs.keys import (
    CLUSTER_VIEW_KEY,
    CLUSTERS_KEY,
    CUSTOMER_IDENTITY_KEY,
    GOLDEN_CUSTOMER_KEY,
    GOLDEN_ID_LOG_KEY,
    LINKAGE_MODEL_KEY,
    PREDICTIONS_KEY,
    REVIEW_PAIRS_KEY,
    SOURCE_RECORDS_KEY,
    mastered_key,
)
from fs_assets.defs.metadata import table_name
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.identity import canonical, golden, incremental, stable_ids, tables
from fs_assets.identity.attributes import ATTRIBUTES, DATE_ATTRIBUTES, SOURCES_DIR
from fs_assets.identity.golden_entity import GOLDEN_ENTITY
from fs_assets.identity.knobs import Thresholds, Training
from fs_assets.identity.mapping import load_mappings
from fs_assets.identity.overrides import OVERRIDES_FILE, load_overrides
from fs_assets.model.columns import PII_DOB, PII_MASK
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import OWNER
from fs_assets.model.paths import DataPaths
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

if TYPE_CHECKING:
    from fs_assets.identity.backend import IdentityBackend  # Splink: loaded by the steps

GROUP = "identity"
THRESHOLDS = Thresholds()
NO_DATA = "no multi-source data: fewer than two sources have landed, nothing to link"
UNCHANGED = "unchanged: no source's mastered table changed since the last read"
SPLINK_LOGGER = "splink"
REPORTS_FOLDER = "identity"  # reports/identity/: the model charts (parameters only)


class LinkageModelConfig(dg.Config):
    seed: int = Field(default=Training.seed, description="Seed of every random step.")
    u_max_pairs: float = Field(
        default=Training.u_max_pairs, description="Random pairs sampled to estimate u."
    )
    em_max_pairs: float = Field(
        default=Training.em_max_pairs, description="Pairs per EM training session."
    )


FULL_RELINK = "Re-link every record, not only what changed since the last run."


class PredictionsConfig(dg.Config):
    full_relink: bool = Field(default=False, description=FULL_RELINK)


class RelinkConfig(dg.Config):
    full_relink: bool = Field(default=False, description=FULL_RELINK)


class ClustersConfig(dg.Config):
    overrides_file: str = Field(
        default="", description="Must-link / cannot-link file; empty means the policies one."
    )
    full_relink: bool = Field(default=False, description=FULL_RELINK)


def _pii(attribute: str) -> str:
    return PII_DOB if attribute in DATE_ATTRIBUTES else PII_MASK


def _attribute_columns(with_source: bool) -> list[dg.TableColumn]:
    columns = []
    for a in ATTRIBUTES:
        kind = "DATE" if a in DATE_ATTRIBUTES else "VARCHAR"
        columns.append(
            dg.TableColumn(a, kind, f"Canonical {a.replace('_', ' ')}.", tags={"pii": _pii(a)})
        )
        if with_source:
            columns.append(dg.TableColumn(f"{a}_source", "VARCHAR", f"Source the {a} won from."))
    return columns


def _schema(*columns: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, d) for n, t, d in columns])


_PAIR_SCHEMA = _schema(
    ("unique_id_l", "VARCHAR", "One record: <source>:<source id>."),
    ("unique_id_r", "VARCHAR", "The other record."),
    ("match_weight", "DOUBLE", "Fellegi-Sunter match weight (log2 of the Bayes factor)."),
    ("match_probability", "DOUBLE", "Probability the two records are one person."),
)
_IDENTITY_SCHEMA = _schema(
    ("source", "VARCHAR", "Source system (its mapping file's `source`)."),
    ("source_id", "VARCHAR", "The record's id in that source."),
    ("unique_id", "VARCHAR", "<source>:<source id>."),
    ("golden_id", "VARCHAR", "The person's golden customer id (G + 10 digits), stable."),
)
_RECORD_SCHEMA = dg.TableSchema(
    columns=[
        *_IDENTITY_SCHEMA.columns[:3],
        dg.TableColumn("trust_rank", "INTEGER", "The source's trust rank (1 = most)."),
        dg.TableColumn("updated_at", "TIMESTAMP", "When the source last changed the record."),
        *_attribute_columns(with_source=False),
    ]
)
# The golden customer's columns and PII tags, as golden_entity.py declares them once.
_GOLDEN_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn(c.name, c.type, c.description, tags={"pii": c.pii} if c.pii else {})
        for c in GOLDEN_ENTITY.columns
    ]
)
_LOG_SCHEMA = _schema(
    ("logged_at", "TIMESTAMP", "When the run wrote the event (UTC)."),
    ("run_id", "VARCHAR", "The Dagster run."),
    ("event", "VARCHAR", "merge (other_golden_id retired into golden_id), split or retire."),
    ("golden_id", "VARCHAR", "The surviving (merge), new (split) or retired (retire) id."),
    ("other_golden_id", "VARCHAR", "The id merged in (merge), split from (split); or NULL."),
    ("unique_id_l", "VARCHAR", "One record of the pair that caused it."),
    ("unique_id_r", "VARCHAR", "The other record."),
    ("match_weight", "DOUBLE", "That pair's match weight (+inf for a must-link)."),
    ("reason", "VARCHAR", "Why, in words (an override quotes its reason)."),
)


_COMMON = {"group_name": GROUP, "owners": [OWNER], "kinds": {"duckdb"}}


def _table(table: str, schema: dg.TableSchema, **more: object) -> dict[str, object]:
    """An identity asset's standard metadata: its warehouse table and columns."""
    schema_name, name = table.split(".")
    return {
        "dagster/table_name": table_name(schema_name, name),
        "dagster/column_schema": schema,
        **more,
    }


def _linkable(con: duckdb.DuckDBPyConnection, context: dg.AssetExecutionContext) -> bool:
    if tables.sources_linked(con) >= 2:
        return True
    context.log.info(NO_DATA)
    return False


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]


def _version(
    context: dg.AssetExecutionContext, key: dg.AssetKey, changed: bool
) -> dict[str, dg.MetadataValue]:
    """`content_version`: this run when it changed the table, else the previous one."""
    version = content_version(context.instance, key, context.run_id, changed)
    return {CONTENT_VERSION: dg.MetadataValue.text(version)}


def _skipped() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": NO_DATA})


class _StepLogHandler(logging.Handler):
    """Hands Splink's log records to a step's log: its warnings (untrained parameters at a
    small sample, an empty EM sample) are notes on the model, at INFO in the step's log in
    the UI, not over a build's progress (which shows WARNING and above); the model's
    metadata shows the parameters themselves."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        super().__init__(logging.INFO)
        self.context = context

    def emit(self, record: logging.LogRecord) -> None:
        message = f"splink: {record.getMessage().strip()}"
        if record.levelno >= logging.WARNING:
            self.context.log.info(message)
        else:
            self.context.log.debug(message)


@contextmanager
def splink_messages_to(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Route the `splink` logger to the step's log for the duration of a step."""
    logger = logging.getLogger(SPLINK_LOGGER)
    handler, propagate, level = _StepLogHandler(context), logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        logger.setLevel(level)


@contextmanager
def identity_backend(warehouse: WarehouseResource) -> Iterator["IdentityBackend"]:
    """The configured engine's identity backend for one step: the state in the DuckDB
    file, the mastered sources, Splink's phases and the published tables on the engine."""
    with warehouse.open_engine() as engine, engine.identity() as backend:
        yield backend


def _paths(warehouse: WarehouseResource) -> DataPaths:
    return DataPaths.of_warehouse(warehouse.path)


# The mastered tables linkage reads: the core feed's customers and each source entity's
# (made from the same mapping files at code-location load, so the two cannot disagree).
MASTERED_SOURCE_KEYS = [
    mastered_key(CUSTOMER.name),
    *(mastered_key(e.name) for e in SOURCE_ENTITIES),
]


def _records_lineage() -> dg.TableColumnLineage:
    """Each column of `identity.records` from the mastered column of every source that
    maps it (the mapping files, read at code-location load like the source entities)."""
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for mapping in load_mappings(SOURCES_DIR):
        table, id_column, version, columns = canonical.mastered_source(mapping)
        key = mastered_key(table)
        for column, source in (
            ("unique_id", id_column),
            ("source_id", id_column),
            ("updated_at", version),
            *columns.items(),
        ):
            deps.setdefault(column, []).append(dg.TableColumnDep(asset_key=key, column_name=source))
    return dg.TableColumnLineage(deps)


@dg.asset(
    key=SOURCE_RECORDS_KEY,
    deps=MASTERED_SOURCE_KEYS,
    pool=WAREHOUSE_POOL,
    metadata=_table(
        tables.RECORDS, _RECORD_SCHEMA, **{"dagster/column_lineage": _records_lineage()}
    ),
    **_COMMON,
    description=(
        "Every source system's valid records, read from its mastered table through its "
        "mapping file (sources/*.yaml): a row a source's rules quarantined is not linked. "
        "Grain: one row per (source, source id), its newest valid version; "
        "identity.features beside it holds the standardised values the model compares."
    ),
)
def source_records(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    mappings = load_mappings(SOURCES_DIR)
    with (
        identity_backend(warehouse) as backend,
        backend.mastered(canonical.mastered_tables(mappings)) as relations,
    ):
        con = backend.con
        state = incremental.mastered_state(con, mappings, relations)
        linkable = incremental.sources_with_rows(state)
        if len(linkable) < 2:
            tables.reset_working_tables(con)
            context.log.info(f"{NO_DATA} (sources with mastered rows: {linkable or 'none'})")
            return dg.MaterializeResult(
                metadata={"status": NO_DATA, "dagster/row_count": 0, "sources_linked": linkable}
            )
        if incremental.unchanged_since_read(con, state):
            return dg.MaterializeResult(
                metadata={
                    "status": UNCHANGED,
                    "dagster/row_count": _count(con, tables.RECORDS),
                    "sources_linked": linkable,
                }
            )
        incremental.forget(con, tables.READ_STATE)
        read = canonical.load_mastered_records(con, mappings, relations)
        records = canonical.standardise(con)
        tables.create_kept_tables(con)
        incremental.remember_read(con, state)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": records,
            "rows_read_per_source": dg.MetadataValue.json(read),
            "sources_linked": linkable,
        }
    )


def _parameters_markdown(saved: dict) -> str:
    """m, u and match weight per comparison level of the saved model."""
    lines = ["| comparison | level | m | u |", "|---|---|---:|---:|"]
    for comparison in saved["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            m, u = level.get("m_probability"), level.get("u_probability")
            cells = [f"{v:.6g}" if v is not None else "untrained" for v in (m, u)]
            label = level.get("label_for_charts", level["sql_condition"])
            lines.append(f"| {comparison['output_column_name']} | {label} | {' | '.join(cells)} |")
    return "\n".join(lines)


@dg.asset(
    key=LINKAGE_MODEL_KEY,
    deps=[SOURCE_RECORDS_KEY],
    group_name=GROUP,
    owners=[OWNER],
    kinds={"duckdb", "json"},
    pool=WAREHOUSE_POOL,
    description=(
        "The Splink (Fellegi-Sunter) model, trained without labels: prior from e-mail and "
        "mobile rules, u by random sampling, m by EM. Saved as Splink JSON, owner-only "
        "(<data>/identity/linkage_model.json); its charts in reports/identity/."
    ),
)
def linkage_model(
    context: dg.AssetExecutionContext, config: LinkageModelConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from fs_assets.identity import model  # Splink: imported by the steps that use it
    from fs_assets.identity.charts import png_markdown, write_model_charts

    paths = _paths(warehouse)
    training = Training(config.seed, config.u_max_pairs, config.em_max_pairs)
    with identity_backend(warehouse) as backend, splink_messages_to(context):
        if not _linkable(backend.con, context):
            return _skipped()
        with backend.linker(model.settings()) as linker:
            model.train(linker, training)
            saved = model.save_model(linker, paths.identity_model)
            charts = write_model_charts(linker, paths.reports / REPORTS_FOLDER)
    metadata: dict[str, object] = {
        "lambda": dg.MetadataValue.float(saved["probability_two_random_records_match"]),
        "m_u_parameters": dg.MetadataValue.md(_parameters_markdown(saved)),
        "model_path": dg.MetadataValue.path(str(paths.identity_model)),
    }
    for chart in charts:
        metadata[f"chart/{chart.name}"] = dg.MetadataValue.md(png_markdown(chart))
        metadata[f"chart/{chart.name}_html"] = dg.MetadataValue.path(str(chart.html))
    return dg.MaterializeResult(metadata=metadata)


def _model_path(warehouse: WarehouseResource) -> Path:
    path = _paths(warehouse).identity_model
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no trained linkage model; materialize identity/linkage_model first"
        )
    return path


@dg.asset(
    key=PREDICTIONS_KEY,
    deps=[LINKAGE_MODEL_KEY, SOURCE_RECORDS_KEY],
    pool=WAREHOUSE_POOL,
    metadata=_table(tables.PAIRS, _PAIR_SCHEMA),
    **_COMMON,
    description=(
        "Candidate pairs (sharing an e-mail, mobile, national id, first address line, or a "
        "date of birth with a name prefix), scored by the saved model. Grain: one row per "
        "pair at or above the review threshold."
    ),
)
def pairwise_predictions(
    context: dg.AssetExecutionContext, config: PredictionsConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from fs_assets.identity import link  # Splink: imported by the steps that use it

    with identity_backend(warehouse) as backend, splink_messages_to(context):
        con = backend.con
        if not _linkable(con, context):
            return _skipped()
        path = _model_path(warehouse)
        sha = incremental.model_sha256(path)
        # An engine that cannot rescore changed records against the rest scores all.
        in_place = backend.rescores_in_place and not config.full_relink
        changed = incremental.records_to_rescore(con, sha) if in_place else None
        incremental.forget(con, tables.SCORED_FEATURES, tables.LINK_STATE)
        with backend.linker(path) as linker:
            if changed is None:
                found: dict[str, object] = {"candidate_pairs": link.block(backend, linker)}
                link.predict(backend, linker, THRESHOLDS)
            else:
                rescored = incremental.predict_changed(con, linker, THRESHOLDS.review)
                found = {"records_rescored": changed, "pairs_rescored": rescored}
        incremental.snapshot_scored(con, sha)
        scored = link.count_pairs(con)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": scored,
            "mode": "full" if changed is None else "incremental",
            **found,
            "review_threshold": THRESHOLDS.review,
        }
    )


def _size_distribution(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    rows = con.execute(
        f"select n, count(*) from (select count(*) as n from {table} group by {column}) "
        "group by n order by n"
    ).fetchall()
    return "\n".join(
        ["| records | clusters |", "|---:|---:|"] + [f"| {n} | {c} |" for n, c in rows]
    )


@dg.asset(
    key=CLUSTERS_KEY,
    deps=[PREDICTIONS_KEY, SOURCE_RECORDS_KEY],
    pool=WAREHOUSE_POOL,
    metadata=_table(
        tables.CLUSTERS,
        _schema(
            ("unique_id", "VARCHAR", "A record: <source>:<source id>."),
            ("cluster_id", "VARCHAR", "Its cluster (this run only; golden ids are stable)."),
        ),
    ),
    **_COMMON,
    description=(
        "Records joined by pairs at or above the match threshold (connected components), "
        "plus must-link overrides, minus the edges cut to honour cannot-link overrides "
        "(policies/identity_overrides.yaml) and to keep records with different national ids "
        "apart. Grain: one row per source record."
    ),
)
def clusters(
    context: dg.AssetExecutionContext, config: ClustersConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from fs_assets.identity import link  # Splink: imported by the steps that use it

    decided = load_overrides(
        Path(config.overrides_file) if config.overrides_file else OVERRIDES_FILE
    )
    with identity_backend(warehouse) as backend:
        con = backend.con
        if not _linkable(con, context):
            return _skipped()
        result = link.cluster_with_overrides(con, THRESHOLDS, decided, config.full_relink)
        sizes = _size_distribution(con, tables.CLUSTERS, "cluster_id")
        rows = _count(con, tables.CLUSTERS)
    if result.unknown_records:
        context.log.warning(
            f"overrides name records not (yet) read, not applied: {list(result.unknown_records)}"
        )
    listed = [
        {"kind": o.kind, "left": o.left, "right": o.right, "reason": o.reason, "line": o.line}
        for o in decided.items
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "clusters": result.clusters,
            "cluster_sizes": dg.MetadataValue.md(sizes),
            "overrides_file": dg.MetadataValue.path(str(decided.path)),
            "overrides_sha256": decided.sha256 or "no file",
            "overrides": dg.MetadataValue.json(listed),
            "must_link_edges_added": result.must_links,
            "edges_cut_by_cannot_link": result.cut,
            "national_id_conflicts_kept_apart": result.national_id_conflicts,
            "overrides_not_applied": dg.MetadataValue.json(list(result.unknown_records)),
            "mode": "full" if result.records_reclustered is None else "incremental",
            "records_reclustered": rows
            if result.records_reclustered is None
            else result.records_reclustered,
        }
    )


@dg.asset(
    key=REVIEW_PAIRS_KEY,
    deps=[PREDICTIONS_KEY],
    pool=WAREHOUSE_POOL,
    metadata=_table(tables.REVIEW_PAIRS, _PAIR_SCHEMA),
    **_COMMON,
    description=(
        "Pairs between the review and the match threshold: a person decides (an override "
        "in policies/identity_overrides.yaml). Grain: one row per pair, likeliest first."
    ),
)
def review_pairs(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from fs_assets.identity import link  # Splink: imported by the steps that use it

    with identity_backend(warehouse) as backend:
        if not _linkable(backend.con, context):
            return _skipped()
        rows = link.review(backend.con, THRESHOLDS)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "review_threshold": THRESHOLDS.review,
            "match_threshold": THRESHOLDS.match,
        }
    )


def _golden_lineage() -> dg.TableColumnLineage:
    deps = {}
    for a in ATTRIBUTES:
        source = [dg.TableColumnDep(asset_key=SOURCE_RECORDS_KEY, column_name=a)]
        deps[a] = source
        deps[f"{a}_source"] = [
            dg.TableColumnDep(asset_key=SOURCE_RECORDS_KEY, column_name="source")
        ]
    deps["golden_id"] = [
        dg.TableColumnDep(asset_key=CUSTOMER_IDENTITY_KEY, column_name="golden_id")
    ]
    deps["source_records"] = [
        dg.TableColumnDep(asset_key=CUSTOMER_IDENTITY_KEY, column_name="unique_id")
    ]
    deps["sources"] = [dg.TableColumnDep(asset_key=SOURCE_RECORDS_KEY, column_name="source")]
    deps["last_updated_at"] = [
        dg.TableColumnDep(asset_key=SOURCE_RECORDS_KEY, column_name="updated_at")
    ]
    return dg.TableColumnLineage(deps)


def _identity_lineage() -> dg.TableColumnLineage:
    """`mastered.customer_identity`: the record's ids from the records read, its golden id
    from its cluster."""
    deps = {
        c: [dg.TableColumnDep(asset_key=SOURCE_RECORDS_KEY, column_name=c)]
        for c in ("source", "source_id", "unique_id")
    }
    deps["golden_id"] = [dg.TableColumnDep(asset_key=CLUSTERS_KEY, column_name="cluster_id")]
    return dg.TableColumnLineage(deps)


@dg.multi_asset(
    name="identity__golden_ids",
    specs=[
        dg.AssetSpec(
            CUSTOMER_IDENTITY_KEY,
            deps=[CLUSTERS_KEY, SOURCE_RECORDS_KEY],
            metadata=_table(
                tables.CUSTOMER_IDENTITY,
                _IDENTITY_SCHEMA,
                **{"dagster/column_lineage": _identity_lineage()},
            ),
            **_COMMON,
            description=(
                "Which person each source record is. Grain: one row per (source, source "
                "id) -> golden customer id. Ids are stable: a run keeps every existing id; "
                "merges and splits are in identity.golden_id_log."
            ),
        ),
        dg.AssetSpec(
            GOLDEN_ID_LOG_KEY,
            deps=[CLUSTERS_KEY, SOURCE_RECORDS_KEY],
            metadata=_table(tables.GOLDEN_ID_LOG, _LOG_SCHEMA),
            **_COMMON,
            description=(
                "Every merge, split and retirement of golden ids between runs, with the pair "
                "and match weight (or override) that caused it. Grain: one row per event; "
                "appended."
            ),
        ),
    ],
    pool=WAREHOUSE_POOL,
    # Selecting one of the two still writes both (one transaction); only the selected
    # ones report a materialization.
    can_subset=True,
)
def golden_ids(
    context: dg.AssetExecutionContext, config: RelinkConfig, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult]:
    with identity_backend(warehouse) as backend:
        con = backend.con
        if not _linkable(con, context):
            backend.publish(tables.CUSTOMER_IDENTITY)  # as the file holds it (Spark: published)
            for key in context.selected_asset_keys:
                yield dg.MaterializeResult(
                    asset_key=key, metadata={"status": NO_DATA, **_version(context, key, False)}
                )
            return
        events, assigned = stable_ids.write_golden_ids(con, context.run_id, config.full_relink)
        backend.publish(tables.CUSTOMER_IDENTITY)
        people = con.execute(
            f"select count(distinct golden_id) from {tables.CUSTOMER_IDENTITY}"
        ).fetchall()[0][0]
        rows = _count(con, tables.CUSTOMER_IDENTITY)
        logged = _count(con, tables.GOLDEN_ID_LOG)
    kinds = Counter(e.event for e in events)
    if CUSTOMER_IDENTITY_KEY in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=CUSTOMER_IDENTITY_KEY,
            metadata={
                "dagster/row_count": rows,
                "golden_customers": people,
                "mode": "full" if config.full_relink or assigned == rows else "incremental",
                "records_assigned": assigned,
                # No record assigned and no id merged, split or retired: the table is as
                # it was (the customer features stay incremental).
                **_version(
                    context, CUSTOMER_IDENTITY_KEY, config.full_relink or bool(assigned or events)
                ),
            },
        )
    if GOLDEN_ID_LOG_KEY in context.selected_asset_keys:
        yield dg.MaterializeResult(
            asset_key=GOLDEN_ID_LOG_KEY,
            metadata={
                "dagster/row_count": logged,
                "merges_this_run": kinds["merge"],
                "splits_this_run": kinds["split"],
                "retired_this_run": kinds[stable_ids.RETIRE],
            },
        )


@dg.asset(
    key=GOLDEN_CUSTOMER_KEY,
    deps=[CUSTOMER_IDENTITY_KEY, SOURCE_RECORDS_KEY],
    pool=WAREHOUSE_POOL,
    metadata=_table(
        tables.GOLDEN_CUSTOMER, _GOLDEN_SCHEMA, **{"dagster/column_lineage": _golden_lineage()}
    ),
    **_COMMON,
    description=(
        "The golden customer record. Grain: one row per golden id; per attribute the valid "
        "value of the most trusted source, then the most recent, with the winning source "
        "in <attribute>_source."
    ),
)
def golden_customer(
    context: dg.AssetExecutionContext, config: RelinkConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    with identity_backend(warehouse) as backend:
        con = backend.con
        if not _linkable(con, context):
            backend.publish(tables.GOLDEN_CUSTOMER)  # the empty table (Spark: published)
            return dg.MaterializeResult(
                metadata={"status": NO_DATA, **_version(context, GOLDEN_CUSTOMER_KEY, False)}
            )
        survival = golden.update_golden_customers(
            con, tables.CUSTOMER_IDENTITY, tables.GOLDEN_CUSTOMER, config.full_relink
        )
        backend.publish(tables.GOLDEN_CUSTOMER)
        rows = _count(con, tables.GOLDEN_CUSTOMER)
    full = survival.recomputed is None
    changed = rows if full else survival.values_changed
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "mode": "full" if full else "incremental",
            "people_recomputed": rows if full else survival.recomputed,
            # People recomputed whose surviving values or membership changed; the others
            # only moved last_updated_at. None changed: the version stays (the customer
            # features stay incremental).
            "people_changed": changed,
            **_version(context, GOLDEN_CUSTOMER_KEY, full or changed > 0),
        }
    )


class ClusterViewConfig(dg.Config):
    clusters: int = Field(default=12, description="How many clusters the view shows.")


@dg.asset(
    key=CLUSTER_VIEW_KEY,
    deps=[CUSTOMER_IDENTITY_KEY, REVIEW_PAIRS_KEY, PREDICTIONS_KEY],
    group_name=GROUP,
    owners=[OWNER],
    kinds={"html", "png"},
    pool=WAREHOUSE_POOL,
    description=(
        "The largest clusters and those with a pair in review, each record by its source and "
        "keyed tokens of its values (masking operators under the masking key: no PII in "
        "clear), with its pairs' match weights; HTML and PNG in reports/identity/."
    ),
)
def cluster_view(
    context: dg.AssetExecutionContext,
    config: ClusterViewConfig,
    warehouse: WarehouseResource,
    masking_key: MaskingKeyResource,
) -> dg.MaterializeResult:
    from fs_assets.identity.cluster_view import write_cluster_view  # vl_convert

    key = masking_key.get()  # no key: fail naming what to set, before any file is written
    with warehouse.connect() as con:
        if not _linkable(con, context):
            return _skipped()
        view = write_cluster_view(
            con, key, _paths(warehouse).reports / REPORTS_FOLDER, config.clusters
        )
    data = base64.b64encode(view.png.read_bytes()).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "clusters_shown": view.clusters,
            "records_shown": view.records,
            "masking_key_id": key.key_id,
            "chart/cluster_view": dg.MetadataValue.md(
                f"**Clusters (keyed tokens)**\n\n![clusters](data:image/png;base64,{data})"
            ),
            "chart/cluster_view_html": dg.MetadataValue.path(str(view.html)),
        }
    )


IDENTITY_ASSETS = [
    source_records,
    linkage_model,
    pairwise_predictions,
    clusters,
    review_pairs,
    golden_ids,
    golden_customer,
    cluster_view,
]
