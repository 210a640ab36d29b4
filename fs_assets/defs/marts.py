"""`marts/*` assets: cross-sell features and scores, and the four dashboards with charts.

Every mart is one DuckDB statement that the configured engine builds
(`Engine.build_mart`: a DuckDB table in one short write connection, or on Spark its
SELECT transpiled into a Parquet table); only the features' incremental plan is DuckDB's
alone (`Engine.marts_in_place`). The dashboards are one step (`dashboards`, each page still
its own asset, selectable alone): their mart rows and KPIs read back through the engine
(`Engine.reading`: small results), then the pages' filter cubes and the analyst's governed
customer list (`Engine.pages_data`, on either engine, what the pages share read once), each
page rendered here while the next is read: a PNG per chart, the dashboard's
self-contained HTML page and `reports/index.html`. The materialization carries the charts
as inline images (the UI renders them), the page's path and the mart's headline figures.
"""

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from fs_assets.defs.automation import DOWNSTREAM
from fs_assets.defs.content_version import version_stamp
from fs_assets.defs.governed import governed_key
from fs_assets.defs.keys import (
    CROSS_SELL_KEY,
    CUSTOMER_IDENTITY_KEY,
    FEATURES_KEY,
    FUNNEL_KEY,
    GOLDEN_CUSTOMER_KEY,
    LEAD_KEY,
    SPEND_KEY,
    UPLIFT_KEY,
    mastered_key,
)
from fs_assets.defs.marts_metadata import (
    CROSS_SELL_COLUMNS,
    FEATURE_COLUMNS,
    FUNNEL_COLUMNS,
    LEAD_COLUMNS,
    SPEND_COLUMNS_DOC,
    UPLIFT_COLUMNS,
    Cols,
    column_lineage,
    column_schema,
    column_transformations,
)
from fs_assets.defs.metadata import table_name
from fs_assets.engines.base import Engine
from fs_assets.identity.source_entity import core_source
from fs_assets.identity.tables import CUSTOMER_IDENTITY, GOLDEN_CUSTOMER
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import (
    CROSS_SELL_PATH,
    FEATURES_PATH,
    MARTS_SCHEMA,
    OWNER,
    TRANSFORMATIONS_KEY,
)
from fs_assets.model.paths import DataPaths
from fs_assets.transforms.change_record import SCOPE_KEYS, load_scope_keys
from fs_assets.transforms.marts.chart_images import ChartImages, ImageWorker
from fs_assets.transforms.marts.charts import Chart, funnel_charts, lead_charts, spend_charts
from fs_assets.transforms.marts.cross_sell import CROSS_SELL_TABLE, cross_sell_sql
from fs_assets.transforms.marts.dashboards import (
    FUNNEL_TABLE,
    LEAD_TABLE,
    SPEND_TABLE,
    funnel_sql,
    lead_sql,
    reporting_currency,
    spend_sql,
)
from fs_assets.transforms.marts.features import (
    FEATURES_TABLE,
    IdentityLink,
    build_features,
    features_sql,
    plan_features,
    update_features,
)
from fs_assets.transforms.marts.model import FUNNEL_STAGES
from fs_assets.transforms.marts.page_data import PAGE_ROLE, PageData
from fs_assets.transforms.marts.quality import quality_kpis, quarantine_names
from fs_assets.transforms.marts.report import png_markdown, write_dashboard
from fs_assets.transforms.marts.uplift import (
    UPLIFT_TABLE,
    uplift_by_archetype,
    uplift_charts,
    uplift_sql,
)
from fs_assets.transforms.reader import SqlReader
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

GROUP = "marts"
# A mart's statement and its `?` parameters (features_sql, funnel_sql, ...).
Statement = Callable[[], tuple[str, list[object]]]


def reports_dir(warehouse: WarehouseResource) -> Path:
    """Dashboards live beside the warehouse file: <data folder>/reports."""
    return DataPaths.of_warehouse(warehouse.path).reports


def _mart_spec(
    table: str, cols: Cols, deps: Sequence[dg.AssetKey], description: str, kinds: set[str]
) -> dict:
    """What every mart asset declares: group, owner, deps, automation, table metadata."""
    return {
        "group_name": GROUP,
        "owners": [OWNER],
        "kinds": kinds,
        "deps": list(deps),
        "automation_condition": DOWNSTREAM,
        "description": description,
        "metadata": {
            "dagster/table_name": table_name(*table.split(".", 1)),
            "dagster/column_schema": column_schema(cols),
            "dagster/column_lineage": column_lineage(cols),
            TRANSFORMATIONS_KEY: dg.MetadataValue.json(column_transformations(cols)),
        },
    }


def _mart_asset(
    key: dg.AssetKey,
    table: str,
    cols: Cols,
    deps: Sequence[dg.AssetKey],
    description: str,
    kinds: set[str],
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    return dg.asset(
        key=key, pool=WAREHOUSE_POOL, **_mart_spec(table, cols, deps, description, kinds)
    )


# The features' materialization metadata: the builds the table was made from (plan_features).
BUILT_FROM = "built_from"


class FeaturesConfig(dg.Config):
    full_rebuild: bool = Field(
        default=False,
        description="Rebuild every customer's features, not only those of the customers the "
        "last customer write changed.",
    )


def _built_from(event: dg.EventLogEntry | None) -> dict[str, object] | None:
    """The `built_from` of a features materialization, if it recorded one."""
    mat = event.asset_materialization if event is not None else None
    value = mat.metadata.get(BUILT_FROM) if mat is not None else None
    return value.value if isinstance(value, dg.JsonMetadataValue) else None


@_mart_asset(
    FEATURES_KEY,
    FEATURES_TABLE,
    FEATURE_COLUMNS,
    [
        *(mastered_key(e) for e in ("customer", "transaction", "account", "product")),
        CUSTOMER_IDENTITY_KEY,
        GOLDEN_CUSTOMER_KEY,
    ],
    "One row per mastered customer, holding its person's features: spend per category, "
    "mode mix, frequency, recency, average ticket and spend trend over the last year of "
    "transactions of all their core records, the credit cards held on any of them, CIBIL, "
    "affluence, risk and segment of their person record, the person's golden id and "
    "region (the golden record's state and country).",
    {"duckdb"},
)
def customer_features(
    context: dg.AssetExecutionContext, config: FeaturesConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    identity = _identity_link()
    with warehouse.open_engine() as engine:
        if not engine.marts_in_place:
            return _features_in_full(context, engine, identity)
    previous = _built_from(context.instance.get_latest_materialization_event(FEATURES_KEY))
    # The identity links and the golden records (the person's region) as read: a change
    # of either rebuilds in full. Their content versions, not their materialization times:
    # an identity run that changed nothing leaves the features incremental.
    stamp = "/".join(
        version_stamp(context.instance.get_latest_materialization_event(key))
        for key in (CUSTOMER_IDENTITY_KEY, GOLDEN_CUSTOMER_KEY)
    )
    with warehouse.connect() as conn:
        conn.execute(f"create schema if not exists {MARTS_SCHEMA}")
        plan = plan_features(conn, previous, stamp, config.full_rebuild)
        updated = 0
        if plan.mode == "full":
            build_features(conn, identity)
        elif plan.mode == "incremental":
            load_scope_keys(conn, CUSTOMER)
            updated = update_features(conn, SCOPE_KEYS, identity)
        rows = conn.execute(f"select count(*) from {FEATURES_TABLE}").fetchall()[0][0]
    context.log.info(f"customer features: {plan.mode} ({plan.reason}), {updated} rows rewritten")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "mode": dg.MetadataValue.text(plan.mode),
            "mode_reason": dg.MetadataValue.text(plan.reason),
            "customers_rewritten": dg.MetadataValue.int(updated),
            BUILT_FROM: dg.MetadataValue.json({**plan.built_from, "rows": rows}),
        }
    )


def _identity_link() -> IdentityLink | None:
    """Where the features find each core customer's golden id and golden record: the
    identity tables, under the core feed's source name; None without a core mapping."""
    core = core_source()
    return IdentityLink(CUSTOMER_IDENTITY, core, GOLDEN_CUSTOMER) if core is not None else None


def _features_in_full(
    context: dg.AssetExecutionContext, engine: Engine, identity: IdentityLink | None
) -> dg.MaterializeResult:
    """The features rebuilt in full by an engine that cannot rewrite rows in place (Spark:
    a Parquet table from the same statement; no change record there), over the identity
    tables as far as the engine holds them (Spark: as the identity assets published them),
    the rule DuckDB follows with its file's tables (`IdentityLink.as_present`)."""
    if identity is not None:
        found = engine.present(identity.tables())
        identity = identity.as_present(lambda schema, name: (schema, name) in found)
    rows = engine.build_mart(FEATURES_PATH[-1], *features_sql(identity))
    reason = f"the {engine.name} engine rebuilds the features in full"
    links = "without identity links" if identity is None else f"over {identity.table}"
    context.log.info(f"customer features: full ({reason}), {links}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "mode": dg.MetadataValue.text("full"),
            "mode_reason": dg.MetadataValue.text(reason),
            "customers_rewritten": dg.MetadataValue.int(0),
            # Names no DuckDB build: a later DuckDB run rebuilds in full.
            BUILT_FROM: dg.MetadataValue.json({"engine": engine.name, "rows": rows}),
        }
    )


@_mart_asset(
    CROSS_SELL_KEY,
    CROSS_SELL_TABLE,
    CROSS_SELL_COLUMNS,
    [
        FEATURES_KEY,
        mastered_key("product"),
        mastered_key("campaign"),
        mastered_key("campaign_event"),
    ],
    "Per customer: the cross-sell archetype (first matching rule of "
    "fs_assets/transforms/marts/model.py), the recommended credit card with the reason in "
    "words, or why none, how far the campaigns took the customer (mastered.campaign_event) "
    "and the card offered to them.",
    {"duckdb"},
)
def cross_sell(warehouse: WarehouseResource) -> dg.MaterializeResult:
    summary = (
        f"select archetype, count(*), count(recommended_product_id) from {CROSS_SELL_TABLE} "
        "group by archetype order by 1"
    )
    with warehouse.open_engine() as engine:  # a DuckDB table, or Parquet written by Spark
        rows = engine.build_mart(CROSS_SELL_PATH[-1], *cross_sell_sql())
        with engine.reading() as reader:
            by_archetype = reader.execute(summary).fetchall()
    md = "\n".join(
        ["| archetype | customers | with a card |", "|---|---|---|"]
        + [f"| {a} | {n:,} | {k:,} |" for a, n, k in by_archetype]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(rows),
            "recommended": dg.MetadataValue.int(sum(k for _, _, k in by_archetype)),
            "archetypes": dg.MetadataValue.md(md),
        }
    )


def _one(conn: SqlReader, sql: str, params: list[object] | None = None) -> object:
    return conn.execute(sql, params or []).fetchall()[0][0]


def _funnel_kpis(conn: SqlReader, engine: Engine | None = None) -> dict[str, str]:
    reached, onboarded = conn.execute(
        f"select sum(customers) filter (where stage_order = 1),"
        f" sum(customers) filter (where stage_order = ?) from {FUNNEL_TABLE}",
        [len(FUNNEL_STAGES)],
    ).fetchall()[0]
    rate = (onboarded or 0) / reached if reached else 0.0
    return {
        "Customers reached": f"{reached or 0:,}",
        "Onboarded": f"{onboarded or 0:,}",
        "Conversion": f"{rate:.1%}",
    }


def _lead_kpis(conn: SqlReader, engine: Engine | None = None) -> dict[str, str]:
    total = _one(conn, f"select customers from {LEAD_TABLE} where figure = 'total_customers'")
    txns = _one(conn, f"select sum(transactions) from {LEAD_TABLE} where figure = 'reason'")
    leads = _one(conn, f"select count(*) from {CROSS_SELL_TABLE} where eligible and person_record")
    return {
        "Total customers": f"{total or 0:,}",
        "Leads (card recommended)": f"{leads or 0:,}",
        "Transactions": f"{txns or 0:,}",
        # What mastering kept out of these figures (without an engine: a DuckDB connection's).
        **quality_kpis(conn, engine.present(quarantine_names()) if engine else None),
    }


def _spend_kpis(conn: SqlReader, engine: Engine | None = None) -> dict[str, str]:
    spend, txns = conn.execute(
        f"select sum(spend), sum(transactions) from {SPEND_TABLE} where figure = 'monthly'"
    ).fetchall()[0]
    return {
        f"Spend ({reporting_currency(conn, SPEND_TABLE)})": f"{float(spend or 0):,.2f}",
        "Spend transactions": f"{txns or 0:,}",
    }


def _uplift_kpis(conn: SqlReader, engine: Engine | None = None) -> dict[str, str]:
    return {
        f"Uplift: {a}": "n/a" if u is None else f"{u:+.1f} pts"
        for a, u in uplift_by_archetype(conn).items()
    }


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: its mart (a table the engine builds) and the page drawn from it."""

    key: dg.AssetKey
    table: str
    cols: Cols
    deps: tuple[dg.AssetKey, ...]
    description: str
    statement: Statement
    title: str
    intro: str
    charts_of: Callable[[SqlReader], list[Chart]]
    kpis_of: Callable[[SqlReader, Engine | None], dict[str, str]]

    @property
    def slug(self) -> str:
        """The mart's name, also its page's (`reports/<slug>.html`)."""
        return self.key.path[-1]

    def spec(self) -> dg.AssetSpec:
        return dg.AssetSpec(
            self.key,
            **_mart_spec(self.table, self.cols, self.deps, self.description, DASHBOARD_KINDS),
        )


DASHBOARD_KINDS = {"duckdb", "vega"}
DASHBOARDS = (
    Dashboard(
        FUNNEL_KEY,
        FUNNEL_TABLE,
        FUNNEL_COLUMNS,
        (
            CROSS_SELL_KEY,
            mastered_key("campaign_event"),
            mastered_key("transaction"),
            governed_key(PAGE_ROLE, "customer"),
        ),
        "Campaign Funnel dashboard: people per archetype at each stage of the credit-card "
        "campaigns (distinct people with a valid event of the stage in mastered.campaign_event "
        "on any of their core records), with conversion rates; charts in <data>/reports.",
        funnel_sql,
        "Campaign Funnel",
        "How the credit-card campaign moved each archetype's customers from first contact "
        "to onboarding.",
        funnel_charts,
        _funnel_kpis,
    ),
    Dashboard(
        UPLIFT_KEY,
        UPLIFT_TABLE,
        UPLIFT_COLUMNS,
        (
            CROSS_SELL_KEY,
            mastered_key("campaign_event"),
            mastered_key("campaign"),
            governed_key(PAGE_ROLE, "customer"),
        ),
        "Uplift of recommended cards: per archetype, the conversion (applied or further in the "
        "same campaign) of contacts (a person and a campaign that reached any of their core "
        "records) by a campaign offering the person's recommended card against contacts by a "
        "campaign offering another card.",
        uplift_sql,
        "Campaign Uplift",
        "Whether offering the card the cross-sell recommends converts better than another "
        "card, per archetype.",
        uplift_charts,
        _uplift_kpis,
    ),
    Dashboard(
        LEAD_KEY,
        LEAD_TABLE,
        LEAD_COLUMNS,
        (
            CROSS_SELL_KEY,
            mastered_key("account"),
            mastered_key("product"),
            mastered_key("transaction"),
            governed_key(PAGE_ROLE, "customer"),
        ),
        "Lead Generation dashboard: customers by archetype, risk, affluence, segment and "
        "state; sales per product; transactions by mode over time and by reason.",
        lead_sql,
        "Lead Generation",
        "Who the customers are and how they transact: the pool the cross-sell draws on.",
        lead_charts,
        _lead_kpis,
    ),
    Dashboard(
        SPEND_KEY,
        SPEND_TABLE,
        SPEND_COLUMNS_DOC,
        (
            mastered_key("customer"),
            mastered_key("transaction"),
            CROSS_SELL_KEY,
            governed_key(PAGE_ROLE, "customer"),
        ),
        "Spend Analysis dashboard: cumulative and category-wise spend over time, "
        "Low/Medium/High spend segments, spend flows (Sankey) and the treemap of spend "
        "dimensions.",
        spend_sql,
        "Spend Analysis",
        "What customers spend, on what, how, and how it adds up over time.",
        spend_charts,
        _spend_kpis,
    ),
)
DASHBOARDS_STEP = "dashboards"


@dataclass(frozen=True)
class _BuiltMart:
    """A dashboard's mart as built, its charts' rows and its KPIs: what its page draws;
    and its charts' images, being drawn (per chart name)."""

    rows: int
    charts: list[Chart]
    kpis: dict[str, str]
    images: dict[str, Future[ChartImages]]


@dg.multi_asset(
    name=DASHBOARDS_STEP,
    specs=[d.spec() for d in DASHBOARDS],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def dashboards(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    masking_key: MaskingKeyResource,
) -> Iterator[dg.MaterializeResult]:
    """The selected dashboards in one step: each mart built on the engine and its charts'
    rows and KPIs read back (small results); then the pages' filter cubes and governed
    customer list, what the pages share read once (`Engine.pages_data`); each page
    rendered in a thread while the next page's cubes are read (the engine's statements
    release the GIL). The charts' images are drawn in a worker process from the moment
    their rows are read (vl-convert holds the GIL: chart_images.py). A dashboard that
    fails leaves the others materialized; the step then fails naming it."""
    chosen = [d for d in DASHBOARDS if d.key in context.selected_asset_keys]
    failed: dict[str, BaseException] = {}
    built: dict[str, _BuiltMart] = {}
    reports = reports_dir(warehouse)
    with (
        ImageWorker() as worker,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="render") as renderer,
    ):
        javascript = worker.javascript()
        rendering: list[tuple[Dashboard, Future[dg.MaterializeResult]]] = []
        with warehouse.open_engine() as engine:
            for dash in chosen:
                try:
                    rows = engine.build_mart(dash.slug, *dash.statement())
                    with engine.reading() as reader:
                        charts = dash.charts_of(reader)
                        kpis = dash.kpis_of(reader, engine)
                    images = {c.name: worker.images(c.spec, c.grammar) for c in charts}
                    built[dash.slug] = _BuiltMart(rows, charts, kpis, images)
                except Exception as exc:  # the other dashboards still build
                    context.log.error(f"dashboard {dash.slug}: {exc}")
                    failed[dash.slug] = exc
            ready = [d for d in chosen if d.slug in built]
            try:
                pages = engine.pages_data([d.slug for d in ready], masking_key.get())
                for dash, (_, data) in zip(ready, pages, strict=True):
                    job = renderer.submit(
                        _render, reports, dash, built[dash.slug], data, javascript
                    )
                    rendering.append((dash, job))
            except Exception as exc:  # pages already handed over are still recorded
                handed = {dash.slug for dash, _ in rendering}
                for dash in ready:
                    if dash.slug not in handed:
                        context.log.error(f"dashboard {dash.slug}: page data not read: {exc}")
                        failed[dash.slug] = exc
        for dash, job in rendering:
            try:
                yield job.result()
            except Exception as exc:
                context.log.error(f"dashboard {dash.slug}: page not written: {exc}")
                failed[dash.slug] = exc
    if failed:
        first = next(iter(failed.values()))
        raise RuntimeError(
            f"dashboard(s) {', '.join(sorted(failed))} failed ({first}); the others are "
            "materialized. Rerun the failed ones once the cause is fixed."
        ) from first


def _render(
    reports: Path, dash: Dashboard, mart: _BuiltMart, data: PageData, javascript: Future[str]
) -> dg.MaterializeResult:
    """Write the dashboard's PNGs, page and manifest; its materialization."""
    images = {name: job.result() for name, job in mart.images.items()}
    files = write_dashboard(
        reports,
        dash.slug,
        dash.title,
        dash.intro,
        mart.kpis,
        mart.charts,
        data,
        images,
        javascript.result(),
    )
    metadata: dict[str, dg.RawMetadataValue] = {
        "dagster/row_count": dg.MetadataValue.int(mart.rows),
        "dashboard": dg.MetadataValue.path(str(files.page)),
        "index": dg.MetadataValue.path(str(files.index)),
        "charts": dg.MetadataValue.int(len(mart.charts)),
        # What the page's filters carry: it grows with the filter cells, not the customers.
        "page_bytes": dg.MetadataValue.int(files.page.stat().st_size),
        "filter_cube_rows": dg.MetadataValue.int(sum(c.num_rows for c in data.cubes)),
        "listed_customers": dg.MetadataValue.int(len(data.customers.rows) if data.customers else 0),
        **{f"kpi/{k}": v for k, v in mart.kpis.items()},
    }
    for chart in mart.charts:
        png = images[chart.name].ui_png
        metadata[f"chart/{chart.name}"] = dg.MetadataValue.md(png_markdown(chart, png))
    return dg.MaterializeResult(asset_key=dash.key, metadata=metadata)


MART_ASSETS = [customer_features, cross_sell, dashboards]
