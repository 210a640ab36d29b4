"""The declared side of the catalog: which asset writes which table, and what its columns mean.

An asset's own table is declared in its Dagster definition (`dagster/table_name`,
`dagster/column_schema`, owners, description). Raw and mastered assets also write tables
that no definition names: the quarantine tables and the meta tables (and the scanner
writes `catalog.columns` beside `catalog.tables`). SIDE_TABLES below is the one place that
says who writes those; the scanner's orphan check, the catalog's producing_asset column
and the OpenLineage outputs all read it, so they cannot disagree.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from fs_assets.catalog.graph_view import DeclaredColumn, GraphView
from fs_assets.catalog.specs import COLUMNS_SCHEMA, COLUMNS_TABLE, SCANNER_KEY
from fs_assets.identity import tables as identity_tables
from fs_assets.identity.source_entity import load_source_entities
from fs_assets.model.columns import PII_MASK
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import (
    CHANGED_KEYS,
    CHANGES,
    CHECK_EVIDENCE,
    CLUSTERS_PATH,
    GOLDEN_CUSTOMER_PATH,
    LEDGER,
    PREDICTIONS_PATH,
    REFERENCE_CHANGES,
    SOURCE_RECORDS_PATH,
    STATE,
    KeyPath,
    history_name,
    ingest_rejects_table,
    mastered_path,
    past_versions_table,
    pending_table,
    raw_path,
    rejects_table,
    superseded_table,
)

WAREHOUSE_PREFIX = "warehouse."
TABLE_NAME_KEY = "dagster/table_name"
COLUMN_SCHEMA_KEY = "dagster/column_schema"
COLUMN_LINEAGE_KEY = "dagster/column_lineage"


@dataclass(frozen=True)
class DeclaredTable:
    """A warehouse table or view some asset says it writes."""

    name: str  # "<schema>.<table>"
    producers: tuple[KeyPath, ...]
    description: str
    owners: tuple[str, ...]
    columns: tuple[DeclaredColumn, ...] = ()
    side: bool = False  # written by the producer besides its own `dagster/table_name`

    @property
    def schema(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def producer_label(self) -> str:
        return ", ".join(user_string(k) for k in self.producers)

    @property
    def owner_label(self) -> str:
        return ", ".join(self.owners)

    def column(self, name: str) -> DeclaredColumn | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def pii_columns(self) -> dict[str, str]:
        return {c.name: c.pii for c in self.columns if c.pii}

    @property
    def masked_columns(self) -> set[str]:
        return {c.name for c in self.columns if c.masked}


@dataclass(frozen=True)
class SideTable:
    """A table an asset writes besides its own, and whose columns describe it."""

    name: str
    producers: tuple[KeyPath, ...]
    description: str
    # The asset whose declared columns this table repeats (a reject table holds the
    # entity's columns as delivered): their descriptions and PII tags apply here too.
    columns_like: KeyPath | None = None
    extra_columns: tuple[DeclaredColumn, ...] = ()


def user_string(key: KeyPath) -> str:
    """('mastered', 'customer') -> 'mastered/customer', as Dagster shows a key."""
    return "/".join(key)


def _plain(quoted: str) -> str:
    """'quarantine."customer_rejects"' -> 'quarantine.customer_rejects'."""
    return quoted.replace('"', "")


_REJECT_EXTRAS = (
    DeclaredColumn("_failed_rules", "VARCHAR[]", "Names of the validity rules the row broke."),
    DeclaredColumn("_source_file", "VARCHAR", "Landing file the version came from."),
    DeclaredColumn("_source_row", "BIGINT", "Data row number within that file."),
    DeclaredColumn("_ingested_at", "TIMESTAMP", "When the file was ingested (UTC)."),
    DeclaredColumn("_rejected_at", "TIMESTAMP", "When mastering quarantined the row (UTC)."),
)
_INGEST_REJECT_EXTRAS = (
    DeclaredColumn("_source_file", "VARCHAR", "Landing file the row came from."),
    DeclaredColumn("_source_row", "BIGINT", "Data row number within that file."),
    DeclaredColumn("_reason", "VARCHAR", "Why the row cannot be versioned (no key, bad time)."),
    DeclaredColumn("_rejected_at", "TIMESTAMP", "When the row was quarantined (UTC)."),
)


_EDGE_COLUMNS = (
    DeclaredColumn("unique_id_l", "VARCHAR", "One record: <source>:<source id>."),
    DeclaredColumn("unique_id_r", "VARCHAR", "The other record."),
    DeclaredColumn("match_weight", "DOUBLE", "The pair's match weight (+inf: a must-link)."),
    DeclaredColumn("match_probability", "DOUBLE", "The pair's match probability."),
    DeclaredColumn("edge_reason", "VARCHAR", "The override behind the row, if any."),
)


def _features_table(name: str, writer: KeyPath, description: str) -> SideTable:
    """A table of the standardised source records: the source records' columns and the
    full name the model compares."""
    return SideTable(
        name,
        (writer,),
        description,
        columns_like=SOURCE_RECORDS_PATH,
        extra_columns=(DeclaredColumn("full_name", "VARCHAR", "First and last name.", PII_MASK),),
    )


def _identity_side_tables() -> list[SideTable]:
    """Identity resolution's working tables besides each asset's own."""
    return [
        _features_table(
            identity_tables.FEATURES,
            SOURCE_RECORDS_PATH,
            "Standardised values of every source record, as the linkage model compares them "
            "(lower case, letters only in names, digits in phones; invalid values NULL).",
        ),
        SideTable(
            identity_tables.CLUSTER_EDGES,
            (CLUSTERS_PATH,),
            "The edges clustered: pairs at or above the match threshold and must-link overrides.",
            extra_columns=_EDGE_COLUMNS,
        ),
        SideTable(
            identity_tables.CUT_EDGES,
            (CLUSTERS_PATH,),
            "Cannot-link overrides honoured and the edges cut for them, with the reason.",
            extra_columns=_EDGE_COLUMNS,
        ),
        *_identity_state_tables(),
    ]


def _identity_state_tables() -> list[SideTable]:
    """What the last identity run read, scored, clustered and survived, kept so the next
    run re-links only what changed (fs_assets/identity/incremental.py, golden.py)."""
    return [
        SideTable(
            identity_tables.READ_STATE,
            (SOURCE_RECORDS_PATH,),
            "Per source: the mastered build, row count and mapping file that "
            "identity.records was last read from.",
            extra_columns=(
                DeclaredColumn("source", "VARCHAR", "The source system."),
                DeclaredColumn("mastered_table", "VARCHAR", "The mastered table read."),
                DeclaredColumn("build_id", "BIGINT", "That table's build when it was read."),
                DeclaredColumn("mastered_rows", "BIGINT", "Its row count then."),
                DeclaredColumn("mapping_sha256", "VARCHAR", "The source's mapping file's hash."),
            ),
        ),
        _features_table(
            identity_tables.SCORED_FEATURES,
            PREDICTIONS_PATH,
            "The standardised source records as the pairs were last scored.",
        ),
        SideTable(
            identity_tables.LINK_STATE,
            (PREDICTIONS_PATH,),
            "The linkage model the pairs were last scored with.",
            extra_columns=(
                DeclaredColumn("model_sha256", "VARCHAR", "SHA-256 of the saved model file."),
            ),
        ),
        SideTable(
            identity_tables.CLUSTERED_RECORDS,
            (CLUSTERS_PATH,),
            "The records and their national ids as last clustered.",
            extra_columns=(
                DeclaredColumn("unique_id", "VARCHAR", "The source record."),
                DeclaredColumn("national_id", "VARCHAR", "Its national id.", PII_MASK),
            ),
        ),
        SideTable(
            identity_tables.CLUSTERED_PAIRS,
            (CLUSTERS_PATH,),
            "The pairs at or above the match threshold as last clustered.",
            extra_columns=_EDGE_COLUMNS[:3],
        ),
        SideTable(
            identity_tables.COMPONENTS,
            (CLUSTERS_PATH,),
            "Connected components of the last clustering, before any cannot-link cut.",
            extra_columns=(
                DeclaredColumn("unique_id", "VARCHAR", "The source record."),
                DeclaredColumn("component_id", "VARCHAR", "Its connected component."),
            ),
        ),
        SideTable(
            identity_tables.SURVIVED,
            (GOLDEN_CUSTOMER_PATH,),
            "Per golden id: a fingerprint of its records when its golden record was last "
            "chosen, so only people whose records changed are chosen again.",
            extra_columns=(
                DeclaredColumn("golden_id", "VARCHAR", "The person."),
                DeclaredColumn("fingerprint", "UBIGINT", "Hash of the person's records."),
                DeclaredColumn("records", "BIGINT", "How many records the person had."),
            ),
        ),
    ]


def side_tables() -> tuple[SideTable, ...]:
    """Every table an asset writes besides its `dagster/table_name`, with its writers."""
    entities = (*ENTITIES.values(), *load_source_entities())
    raw = tuple(raw_path(e.name) for e in entities)
    mastered = tuple(mastered_path(e.name) for e in entities)
    tables: list[SideTable] = []
    for ent in entities:
        tables.append(
            SideTable(
                _plain(ingest_rejects_table(ent)),
                (raw_path(ent.name),),
                f"Rows of {ent.name} landing files that cannot be versioned (no {ent.key} or "
                "no valid modified_at) or hold a control character, with their file, row and "
                "reason.",
                columns_like=raw_path(ent.name),
                extra_columns=_INGEST_REJECT_EXTRAS,
            )
        )
        tables.append(
            SideTable(
                _plain(rejects_table(ent)),
                (mastered_path(ent.name),),
                f"{ent.name} keys with no valid version: the newest version, as delivered, "
                "with the rules it broke; never dropped.",
                columns_like=raw_path(ent.name),
                extra_columns=_REJECT_EXTRAS,
            )
        )
        tables.append(
            SideTable(
                _plain(pending_table(ent)),
                (mastered_path(ent.name),),
                f"Pending corrections: {ent.name} versions newer than the mastered (last "
                "valid) one that broke a validity rule, as delivered, with the rules, file "
                "and row; the mastered row stays until a valid version arrives.",
                columns_like=raw_path(ent.name),
                extra_columns=_REJECT_EXTRAS,
            )
        )
        tables.append(
            SideTable(
                _plain(past_versions_table(ent)),
                (mastered_path(ent.name),),
                f"Valid {ent.name} versions a newer valid version replaced, with "
                "[valid_from, valid_to): the stored part of the history; the view "
                f"mastered.{history_name(ent)} adds the current rows from mastered.",
                columns_like=mastered_path(history_name(ent)),
            )
        )
        tables.append(
            SideTable(
                _plain(superseded_table(ent)),
                (mastered_path(ent.name),),
                f"Invalid {ent.name} versions a newer version already replaced (older than "
                "the mastered row, e.g. an invalid late correction, or an older version of a "
                "rejected key), as delivered, with the rules, file and row: on record, never "
                "in force.",
                columns_like=raw_path(ent.name),
                extra_columns=_REJECT_EXTRAS,
            )
        )
    tables.append(
        SideTable(
            LEDGER,
            raw,
            "Ledger of landing files: one row per file handled, with its sha256, status, "
            "row counts, error and run.",
        )
    )
    tables.append(
        SideTable(
            STATE,
            mastered,
            "Mastering state per entity: last build, raw watermark and rules fingerprint "
            "(what makes the next build incremental).",
        )
    )
    tables += _identity_side_tables()
    tables.append(
        SideTable(
            CHANGES,
            mastered,
            "The last mastering write per entity: build, the build it started from, mode, "
            "the builds of the tables its rules read, and the row counts it left.",
        )
    )
    tables.append(
        SideTable(
            CHANGED_KEYS,
            mastered,
            "The keys the last incremental mastering write of each entity rewrote (what "
            "the mastered checks evaluate).",
        )
    )
    tables.append(
        SideTable(
            CHECK_EVIDENCE,
            mastered,
            "Per entity and mastered check: the last build evaluated, its outcome and mode "
            "(the evidence an incremental evaluation needs).",
        )
    )
    tables.append(
        SideTable(
            REFERENCE_CHANGES,
            mastered,
            "Keys each build of a referenced entity re-evaluated (a NULL key: a full build), "
            "and whether they entered or left mastered: the readers re-evaluate only the rows "
            "referencing them. Pruned once every reader has built past them.",
        )
    )
    tables.append(
        SideTable(
            COLUMNS_TABLE,
            (SCANNER_KEY,),
            "Catalog of columns: one row per column of every warehouse table and view, with "
            "its description, PII tag, owner and profile (nulls, distinct, min, max).",
            extra_columns=tuple(
                DeclaredColumn(c.name, c.type, c.description or "") for c in COLUMNS_SCHEMA
            ),
        )
    )
    return tuple(tables)


def warehouse_table(table_name: object) -> str | None:
    """'warehouse.mastered.customer' -> 'mastered.customer'; None when not a warehouse table."""
    if not isinstance(table_name, str) or not table_name.startswith(WAREHOUSE_PREFIX):
        return None
    return table_name.removeprefix(WAREHOUSE_PREFIX)


def declared_tables(graph: GraphView) -> dict[str, DeclaredTable]:
    """Every table the definitions in `graph` write, own tables and side tables."""
    tables: dict[str, DeclaredTable] = {}
    keys = graph.asset_keys()
    for key in sorted(keys):
        node = graph.get(key)
        if node.table is None:
            continue
        tables[node.table] = DeclaredTable(
            name=node.table,
            producers=(key,),
            description=node.description,
            owners=node.owners,
            columns=node.columns,
        )
    for side in side_tables():
        producers = tuple(k for k in side.producers if k in keys)
        if not producers:
            continue  # a partial graph (a test's subset) without the writer
        like = graph.get(side.columns_like) if side.columns_like in keys else None
        # The entity's own columns repeat; audit columns (leading underscore) differ per
        # table and come from the side table's extra_columns instead.
        base = like.columns if like else ()
        tables[side.name] = DeclaredTable(
            name=side.name,
            producers=producers,
            description=side.description,
            owners=_owners(graph.get(k).owners for k in producers),
            columns=tuple(c for c in base if not c.name.startswith("_")) + side.extra_columns,
            side=True,
        )
    return tables


def _owners(lists: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(o for owners in lists for o in owners))


def tables_by_producer(tables: Mapping[str, DeclaredTable]) -> dict[KeyPath, list[str]]:
    """Asset key -> the tables it writes (its own first)."""
    out: dict[KeyPath, list[str]] = {}
    for table in sorted(tables.values(), key=lambda t: (t.side, t.name)):
        for key in table.producers:
            out.setdefault(key, []).append(table.name)
    return out
