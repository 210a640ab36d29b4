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
IDENTITY_SCHEMA = "identity"  # identity resolution's working tables (PII)

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
UPLIFT_PATH: KeyPath = (MARTS_SCHEMA, "campaign_uplift")
LEAD_PATH: KeyPath = (MARTS_SCHEMA, "lead_generation")
SPEND_PATH: KeyPath = (MARTS_SCHEMA, "spend_analysis")

# Identity resolution, in the order data flows (fs_assets/defs/identity.py).
SOURCE_RECORDS_PATH: KeyPath = (IDENTITY_SCHEMA, "source_records")
LINKAGE_MODEL_PATH: KeyPath = (IDENTITY_SCHEMA, "linkage_model")
PREDICTIONS_PATH: KeyPath = (IDENTITY_SCHEMA, "pairwise_predictions")
CLUSTERS_PATH: KeyPath = (IDENTITY_SCHEMA, "clusters")
REVIEW_PAIRS_PATH: KeyPath = (IDENTITY_SCHEMA, "review_pairs")
CUSTOMER_IDENTITY_PATH: KeyPath = mastered_path("customer_identity")
GOLDEN_CUSTOMER_PATH: KeyPath = mastered_path("golden_customer")
GOLDEN_ID_LOG_PATH: KeyPath = (IDENTITY_SCHEMA, "golden_id_log")
CLUSTER_VIEW_PATH: KeyPath = (IDENTITY_SCHEMA, "cluster_view")

# Tables (schema-qualified, quoted): the warehouse's names for each entity's layers.
LEDGER = f"{META_SCHEMA}.ingest_ledger"
# Ledger statuses whose bytes are in raw: the same bytes again add nothing.
LEDGER_ACCEPTED = ("ingested", "duplicate")
STATE = f"{META_SCHEMA}.master_state"
# The last mastering write per entity (its mode, base build and the counts it left) and the
# keys it rewrote; written in the write's transaction, read by the mastered checks.
CHANGES = f"{META_SCHEMA}.master_changes"
CHANGED_KEYS = f"{META_SCHEMA}.master_changed_keys"
# Per entity and check: the last build the mastered checks evaluated, and whether it passed.
CHECK_EVIDENCE = f"{META_SCHEMA}.check_evidence"
# Keys each build of a referenced entity re-evaluated (NULL key: a full build), so the
# entities reading it re-evaluate only the rows that reference those keys.
REFERENCE_CHANGES = f"{META_SCHEMA}.reference_changes"
# The tables a full mastering build in passes writes before they replace its outputs (in
# their schema, so the swap is a rename). Only a killed build leaves them, until the
# entity's next build drops them; the catalog does not list them.
BUILDING_PREFIX = "_building_"


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


def mart_table(name: str) -> str:
    return f"{MARTS_SCHEMA}.{q(name)}"


def history_table(ent: Entity) -> str:
    return f"{MASTERED_SCHEMA}.{q(history_name(ent))}"


def reconciled_tables(ent: Entity) -> tuple[str, str, str, str, str, str]:
    """Every table a raw version ends in, in one order: raw, mastered, rejects, pending
    corrections, history, superseded (what the reconciliation and the change record count)."""
    return (
        raw_table(ent),
        mastered_table(ent),
        rejects_table(ent),
        pending_table(ent),
        history_table(ent),
        superseded_table(ent),
    )


def past_versions_name(ent: Entity) -> str:
    """The stored part of the history: valid versions that are no longer current."""
    return f"{history_name(ent)}_past"


def past_versions_table(ent: Entity) -> str:
    return f"{MASTERED_SCHEMA}.{q(past_versions_name(ent))}"
