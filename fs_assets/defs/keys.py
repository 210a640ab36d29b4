"""The graph's `AssetKey`s, made from the key paths of `fs_assets.model.keys` in one place."""

from __future__ import annotations

import dagster as dg

from fs_assets.catalog import specs
from fs_assets.model import keys
from fs_assets.model.columns import Entity


def raw_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(keys.raw_path(entity))


def mastered_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(keys.mastered_path(entity))


def mastered_checks_name(entity: str) -> str:
    """The name (and step key) of an entity's one mastered check step."""
    return f"mastered_{entity}_checks"


def history_key(ent: Entity) -> dg.AssetKey:
    return mastered_key(keys.history_name(ent))


MOCK_SOURCES_KEY = dg.AssetKey(keys.MOCK_SOURCES_PATH)
REGION_KEY = dg.AssetKey(keys.REGION_PATH)
FEATURES_KEY = dg.AssetKey(keys.FEATURES_PATH)
CROSS_SELL_KEY = dg.AssetKey(keys.CROSS_SELL_PATH)
FUNNEL_KEY = dg.AssetKey(keys.FUNNEL_PATH)
UPLIFT_KEY = dg.AssetKey(keys.UPLIFT_PATH)
LEAD_KEY = dg.AssetKey(keys.LEAD_PATH)
SPEND_KEY = dg.AssetKey(keys.SPEND_PATH)

SOURCE_RECORDS_KEY = dg.AssetKey(keys.SOURCE_RECORDS_PATH)
LINKAGE_MODEL_KEY = dg.AssetKey(keys.LINKAGE_MODEL_PATH)
PREDICTIONS_KEY = dg.AssetKey(keys.PREDICTIONS_PATH)
CLUSTERS_KEY = dg.AssetKey(keys.CLUSTERS_PATH)
REVIEW_PAIRS_KEY = dg.AssetKey(keys.REVIEW_PAIRS_PATH)
CUSTOMER_IDENTITY_KEY = dg.AssetKey(keys.CUSTOMER_IDENTITY_PATH)
GOLDEN_CUSTOMER_KEY = dg.AssetKey(keys.GOLDEN_CUSTOMER_PATH)
GOLDEN_ID_LOG_KEY = dg.AssetKey(keys.GOLDEN_ID_LOG_PATH)
CLUSTER_VIEW_KEY = dg.AssetKey(keys.CLUSTER_VIEW_PATH)

SCANNER_KEY = dg.AssetKey(specs.SCANNER_KEY)
PROFILE_KEY = dg.AssetKey(specs.PROFILE_KEY)
DATA_PRODUCT_KEY = dg.AssetKey(specs.DATA_PRODUCT_KEY)
