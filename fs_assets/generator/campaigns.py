"""Campaigns and their events: one cross-sell campaign per credit card, and what happened to
each customer one of them contacted.

Only contactable customers (adult, living, personal, marketing consent, no do-not-contact
request) are contacted, a share of them. Each contacted customer gets one campaign: often
the one offering the card the cross-sell would pick from what the generator knows (the
highest tier within the affluence cap whose CIBIL minimum the customer meets; the
"fitting" card), otherwise any. How far a customer gets depends on that fit, risk and
affluence, so the uplift of recommended cards is measurable in the marts. Events follow
the stages in order, days apart, and none lies after the snapshot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fs_assets.generator import text
from fs_assets.generator.customers import CustomerChunk
from fs_assets.generator.sampling import (
    AS_OF_SECONDS,
    DAY_SECONDS,
    day_number,
    second_number,
    uniform_below,
    uniform_index,
)
from fs_assets.model.products import PRODUCT_CATALOG
from fs_assets.model.value_sets import (
    CAMPAIGN_CHANNELS,
    CAMPAIGN_EVENT_TYPES,
    FIRST_CAMPAIGN_EVENT_ID,
    LEVELS,
    TARGET_SEPARATOR,
)
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    CARD_TIERS_ORDERED,
    TIER_CAP_BY_AFFLUENCE,
)

# Share of contactable customers a campaign contacts, and of those the share offered
# their fitting card (the rest get a campaign drawn uniformly).
REACH_SHARE = 0.30
FIT_OFFER_SHARE = 0.50
# Chance of each stage after contacted, given the one before (responded, applied,
# kyc_passed, onboarded), and what moves it: a fitting card (response and application),
# High risk (application and KYC), Low or High affluence (every step).
STEP_RATES = (0.40, 0.55, 0.80, 0.85)
FIT_LIFT = (1.5, 1.4, 1.0, 1.0)
HIGH_RISK_FACTOR = (1.0, 0.7, 0.8, 1.0)
AFFLUENCE_FACTOR = {"Low": 0.9, "Medium": 1.0, "High": 1.1}
MAX_STEP_RATE = 0.95
# Days between a stage and the next, uniform within (lowest, highest).
STEP_DELAY_DAYS = ((0, 7), (0, 14), (1, 5), (1, 10))
CAMPAIGN_YEAR = 2023
CAMPAIGN_WEEKS = 8
assert len(STEP_RATES) == len(CAMPAIGN_EVENT_TYPES) - 1 == len(STEP_DELAY_DAYS)


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    campaign_name: str
    product_id: str
    channel: str
    start_date: dt.date
    end_date: dt.date
    target_archetypes: tuple[str, ...]


_CARDS = tuple(p for p in PRODUCT_CATALOG if p.product_type == "Credit Card")


def campaign_of_month(index: int) -> Campaign:
    """The campaign of month `index` (0: January of CAMPAIGN_YEAR): the cards in turn, from
    the month's first day for CAMPAIGN_WEEKS. The sample lands the first one per card; a
    simulated month lands its own (simulate.py)."""
    card = _CARDS[index % len(_CARDS)]
    start = dt.date(CAMPAIGN_YEAR + index // 12, 1 + index % 12, 1)
    targets = tuple(
        ARCHETYPE_NAMES[(index + k) % len(ARCHETYPE_NAMES)] for k in range(2)
    )  # two archetypes each, in turn
    return Campaign(
        campaign_id=f"CMP{index + 1:07d}",
        campaign_name=f"{card.product_name} {start:%B} {start.year}",
        product_id=card.product_id,
        channel=CAMPAIGN_CHANNELS[index % len(CAMPAIGN_CHANNELS)],
        start_date=start,
        end_date=start + dt.timedelta(weeks=CAMPAIGN_WEEKS) - dt.timedelta(days=1),
        target_archetypes=targets,
    )


CAMPAIGNS: tuple[Campaign, ...] = tuple(campaign_of_month(i) for i in range(len(_CARDS)))
_TIER_RANK = np.array([CARD_TIERS_ORDERED.index(c.card_tier or "") for c in _CARDS])
_MIN_CIBIL = np.array([c.min_cibil_score for c in _CARDS])
_FEE = np.array([c.annual_fee for c in _CARDS])
_CAP_RANK = np.array([CARD_TIERS_ORDERED.index(TIER_CAP_BY_AFFLUENCE[lv]) for lv in LEVELS])
_AFFLUENCE = np.array([AFFLUENCE_FACTOR[lv] for lv in LEVELS])
_HIGH = LEVELS.index("High")
_START_S = np.array(
    [second_number(dt.datetime.combine(c.start_date, dt.time())) for c in CAMPAIGNS]
)
_END_S = np.array([second_number(dt.datetime.combine(c.end_date, dt.time())) for c in CAMPAIGNS])
_END_S = _END_S + DAY_SECONDS - 1


def build_campaigns(
    campaigns: tuple[Campaign, ...] = CAMPAIGNS, created_s: np.ndarray | None = None
) -> dict[str, pa.Array]:
    """One row per campaign, created the day before it starts (or at `created_s`)."""
    if created_s is None:
        created_s = (
            np.array(
                [second_number(dt.datetime.combine(c.start_date, dt.time())) for c in campaigns]
            )
            - DAY_SECONDS
        )
    created = text.timestamps(created_s)
    return {
        "campaign_id": pa.array([c.campaign_id for c in campaigns], pa.string()),
        "campaign_name": pa.array([c.campaign_name for c in campaigns], pa.string()),
        "product_id": pa.array([c.product_id for c in campaigns], pa.string()),
        "channel": pa.array([c.channel for c in campaigns], pa.string()),
        "start_date": text.dates(np.array([day_number(c.start_date) for c in campaigns])),
        "end_date": text.dates(np.array([day_number(c.end_date) for c in campaigns])),
        "target_archetypes": pa.array(
            [TARGET_SEPARATOR.join(c.target_archetypes) for c in campaigns], pa.string()
        ),
        "created_at": created,
        "modified_at": created,
    }


def fitting_campaign(cibil: np.ndarray, affluence: np.ndarray) -> np.ndarray:
    """Per customer, the campaign of the highest-tier card within the affluence cap whose
    CIBIL minimum they meet (then the lowest fee); -1 when none."""
    ok = (_MIN_CIBIL[None, :] <= cibil[:, None]) & (
        _TIER_RANK[None, :] <= _CAP_RANK[affluence][:, None]
    )
    score = np.where(ok, _TIER_RANK[None, :] * 1e7 - _FEE[None, :], -np.inf)
    best = score.argmax(axis=1)
    return np.where(ok.any(axis=1), best, -1)


def build_campaign_events(
    rng: np.random.Generator, first_event: int, customers: CustomerChunk
) -> dict[str, pa.Array]:
    """The events of a chunk's customers, numbered from FIRST_CAMPAIGN_EVENT_ID + first."""
    n = customers.size
    reached = customers.contactable & (rng.random(n) < REACH_SHARE)
    fit = fitting_campaign(customers.cibil_score, customers.affluence)
    offer_fit = (rng.random(n) < FIT_OFFER_SHARE) & (fit >= 0)
    campaign = np.where(offer_fit, fit, uniform_index(rng, len(CAMPAIGNS), n))
    fits = campaign == fit
    start = np.maximum(_START_S[campaign], customers.created_s)
    span = _END_S[campaign] - start
    reached &= span >= 0
    ts = start + uniform_below(rng, np.maximum(span, 0))
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    alive = reached & (ts < AS_OF_SECONDS)
    rows.append((np.flatnonzero(alive), np.zeros(int(alive.sum()), np.int64), ts[alive]))
    for step, rate in enumerate(STEP_RATES):
        p = np.full(n, rate) * _AFFLUENCE[customers.affluence]
        p = np.where(fits, p * FIT_LIFT[step], p)
        p = np.where(customers.risk == _HIGH, p * HIGH_RISK_FACTOR[step], p)
        low, high = STEP_DELAY_DAYS[step]
        ts = ts + low * DAY_SECONDS + uniform_below(rng, np.full(n, (high - low) * DAY_SECONDS))
        alive &= (rng.random(n) < np.minimum(p, MAX_STEP_RATE)) & (ts < AS_OF_SECONDS)
        rows.append((np.flatnonzero(alive), np.full(int(alive.sum()), step + 1), ts[alive]))
    who = np.concatenate([r[0] for r in rows])
    stage = np.concatenate([r[1] for r in rows])
    when = np.concatenate([r[2] for r in rows]).astype(np.int64)
    order = np.lexsort((stage, who))
    who, stage, when = who[order], stage[order], when[order]
    ids = FIRST_CAMPAIGN_EVENT_ID + first_event + np.arange(who.shape[0], dtype=np.int64)
    campaign_ids = pa.array([c.campaign_id for c in CAMPAIGNS], pa.string())
    stamps = text.timestamps(when)
    return {
        "event_id": text.integers(ids),
        "campaign_id": campaign_ids.take(pa.array(campaign[who])),
        "cust_id": customers.cust_id.take(pa.array(who)),
        "event_type": text.labels(CAMPAIGN_EVENT_TYPES, stage),
        "event_ts": stamps,
        "created_at": stamps,
        "modified_at": stamps,
    }
