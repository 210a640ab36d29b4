"""Asset keys and table names, built once: a key's prefix is the DuckDB schema of its table.

Keys are tuples of strings here (no Dagster); `fs_assets.defs.keys` turns them into
`AssetKey`s for the graph, the catalog and the lineage.
"""

from __future__ import annotations

from fs_assets.model.columns import Entity
from fs_assets.model.rules import q

KeyPath = tuple[str, ...]

LANDING_SCHEMA = "landing"
RAW_SCHEMA = "raw"
MASTERED_SCHEMA = "mastered"
QUARANTINE_SCHEMA = "quarantine"
MARTS_SCHEMA = "marts"
META_SCHEMA = "meta"

OWNER = "team:customer-data"
# Metadata key under which an asset lists its column transformations (read by the lineage).
TRANSFORMATIONS_KEY = "lineage/transformations"


def raw_path(entity: str) -> KeyPath:
    return (RAW_SCHEMA, entity)


def mastered_path(entity: str) -> KeyPath:
    return (MASTERED_SCHEMA, entity)


def history_name(ent: Entity) -> str:
    return f"{ent.name}_history"


MOCK_SOURCES_PATH: KeyPath = (LANDING_SCHEMA, "mock_sources")
REGION_PATH: KeyPath = mastered_path("customer_by_region")
FEATURES_PATH: KeyPath = (MARTS_SCHEMA, "customer_features")
CROSS_SELL_PATH: KeyPath = (MARTS_SCHEMA, "cross_sell")
FUNNEL_PATH: KeyPath = (MARTS_SCHEMA, "campaign_funnel")
LEAD_PATH: KeyPath = (MARTS_SCHEMA, "lead_generation")
SPEND_PATH: KeyPath = (MARTS_SCHEMA, "spend_analysis")

# Tables (schema-qualified, quoted): the warehouse's names for each entity's layers.
LEDGER = f"{META_SCHEMA}.ingest_ledger"
# Ledger statuses whose bytes are in raw: the same bytes again add nothing.
LEDGER_ACCEPTED = ("ingested", "duplicate")
STATE = f"{META_SCHEMA}.master_state"
# Keys each build of a referenced entity re-evaluated (NULL key: a full build), so the
# entities reading it re-evaluate only the rows that reference those keys.
CHANGES = f"{META_SCHEMA}.master_changes"


def raw_table(ent: Entity) -> str:
    return f"{RAW_SCHEMA}.{q(ent.name)}"


def ingest_rejects_table(ent: Entity) -> str:
    return f"{QUARANTINE_SCHEMA}.{q(ent.name + '_ingest_rejects')}"


def mastered_table(ent: Entity) -> str:
    return f"{MASTERED_SCHEMA}.{q(ent.name)}"


def rejects_table(ent: Entity) -> str:
    return f"{QUARANTINE_SCHEMA}.{q(ent.name + '_rejects')}"


def pending_table(ent: Entity) -> str:
    return f"{QUARANTINE_SCHEMA}.{q(ent.name + '_pending_corrections')}"


def superseded_table(ent: Entity) -> str:
    return f"{QUARANTINE_SCHEMA}.{q(ent.name + '_superseded_invalid')}"


def history_table(ent: Entity) -> str:
    return f"{MASTERED_SCHEMA}.{q(history_name(ent))}"
