"""Products: the catalog from entities.py, verbatim; nothing random."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fs_assets.generator import text
from fs_assets.generator.sampling import second_number
from fs_assets.model.products import PRODUCT_CATALOG
from fs_assets.model.value_sets import HISTORY_START


def _cents(values: list[float | None]) -> tuple[np.ndarray, np.ndarray]:
    valid = np.array([v is not None for v in values])
    cents = np.array([round((v or 0.0) * 100) for v in values], dtype=np.int64)
    return cents, valid


def build_products() -> dict[str, pa.Array]:
    """One row per catalog product, created and last modified when the history starts."""
    catalog = PRODUCT_CATALOG
    fee, _ = _cents([p.annual_fee for p in catalog])
    limit, has_limit = _cents([p.credit_limit for p in catalog])
    # repr keeps '3.5' and '0.0' as pandas would write a float column.
    rates = pa.array([repr(float(p.interest_rate)) for p in catalog], pa.string())
    created = text.timestamps(np.full(len(catalog), second_number(HISTORY_START)))
    return {
        "product_id": pa.array([p.product_id for p in catalog], pa.string()),
        "product_name": pa.array([p.product_name for p in catalog], pa.string()),
        "product_type": pa.array([p.product_type for p in catalog], pa.string()),
        "card_tier": pa.array([p.card_tier for p in catalog], pa.string()),
        "reward_type": pa.array([p.reward_type for p in catalog], pa.string()),
        "annual_fee": text.money(fee),
        "interest_rate": rates,
        "min_cibil_score": text.integers(np.array([p.min_cibil_score for p in catalog])),
        "credit_limit": text.money(limit, has_limit),
        "created_at": created,
        "modified_at": created,
    }
