"""The cross-sell use case as data: archetypes, eligibility, card choice, campaign, segments.

The seed names the six archetypes (its seven funnel stages are now the five campaign
event types) and the Low/Medium/High spend
segments but not the rules behind them; these are ours, written down here once so the
mart SQL, the asset checks, the charts and the tests read the same thresholds. Every
rule is a SQL predicate over `marts.customer_features` with its thresholds as `?`
parameters, plus the sentence a marketer reads in the mart's `archetype_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass

from fs_assets.model.products import PRODUCT_CATALOG
from fs_assets.model.value_sets import (
    CAMPAIGN_EVENT_TYPES,
    CUSTOMER_STATUSES,
    LEVELS,
    SEGMENT_LABELS,
    SEGMENTS,
    TRANSACTION_MODES,
    TRANSACTION_REASONS,
)

# Spend is what a customer paid: successful debits. Failed payments and credits
# (refunds) are activity, counted in the lead-generation figures, but not spend.
SPEND_STATUS = "Success"
SPEND_TYPE = "Debit"
FAILED_STATUS = "Failed"

# Amounts are summed in the reporting currency (mastered.transaction.amount_reporting,
# converted at mastering with the day's rate), never across currencies. The dashboards'
# marts name it in this column of every row; charts, tiles and tables name it on every
# amount.
CURRENCY_COLUMN = "currency"
SPEND_WINDOW_DAYS = 365
RECENT_DAYS = 182  # "recent half" of the window for the spend trend


def slug(value: str) -> str:
    """'Food & Grocery' -> 'food_grocery': a column-name part for a value."""
    out = "".join(ch.lower() if ch.isalnum() else "_" for ch in value)
    return "_".join(part for part in out.split("_") if part)


SPEND_COLUMNS = {reason: f"spend_{slug(reason)}" for reason in TRANSACTION_REASONS}
MODE_SHARE_COLUMNS = {mode: f"share_{slug(mode)}" for mode in TRANSACTION_MODES}

# Categories whose spend cashback and coupon offers target: what deal chasers buy.
DEAL_CATEGORIES = ("Ecom", "Entertainment")


@dataclass(frozen=True)
class Archetype:
    """One cross-sell archetype: a rule over the features and the rule in words."""

    name: str
    predicate: str  # SQL over marts.customer_features, `?` for each parameter
    params: tuple[object, ...]
    reason: str


LOW_CIBIL = 700
STRESS_FAILED_SHARE = 0.10
HEAVY_FAILED_SHARE = 0.25
MIN_TXNS_FOR_SHARES = 4
PROSPEROUS_CIBIL = 750
DEAL_SHARE = 0.35
DEAL_MIN_TXNS = 5
AVOIDER_CARD_SHARE = 0.15
AVOIDER_MAX_TXNS = 3

# First match wins, in this order; Generic is the rule that always matches, so every
# customer gets exactly one archetype.
ARCHETYPES: tuple[Archetype, ...] = (
    Archetype(
        "Financially Stressed",
        "(cibil_score < ? and (risk_category = 'High' or failed_share >= ?))"
        " or (all_txns >= ? and failed_share >= ?)",
        (LOW_CIBIL, STRESS_FAILED_SHARE, MIN_TXNS_FOR_SHARES, HEAVY_FAILED_SHARE),
        f"CIBIL below {LOW_CIBIL} with high risk or {STRESS_FAILED_SHARE:.0%}+ failed payments, "
        f"or {HEAVY_FAILED_SHARE:.0%}+ of payments failing",
    ),
    Archetype(
        "Recovering Credit Users",
        "cibil_score < ?",
        (LOW_CIBIL,),
        f"CIBIL below {LOW_CIBIL} but paying reliably: rebuilding credit",
    ),
    Archetype(
        "Prosperous and Content",
        "affluence_level = 'High' and cibil_score >= ? and risk_category <> 'High'",
        (PROSPEROUS_CIBIL,),
        f"High affluence, CIBIL {PROSPEROUS_CIBIL}+ and not high risk",
    ),
    Archetype(
        "Deal Chasers",
        "spend_txns >= ? and deal_share >= ?",
        (DEAL_MIN_TXNS, DEAL_SHARE),
        f"{DEAL_SHARE:.0%}+ of spend on {' and '.join(DEAL_CATEGORIES)} "
        f"over {DEAL_MIN_TXNS}+ payments",
    ),
    Archetype(
        "Self Aware Avoiders",
        "spend_txns <= ? or share_card < ?",
        (AVOIDER_MAX_TXNS, AVOIDER_CARD_SHARE),
        f"at most {AVOIDER_MAX_TXNS} payments, or under {AVOIDER_CARD_SHARE:.0%} of them by card",
    ),
    Archetype("Generic", "true", (), "no stronger signal in the transaction history"),
)
ARCHETYPE_NAMES = tuple(a.name for a in ARCHETYPES)


@dataclass(frozen=True)
class Ineligibility:
    """Why a customer gets no card; the first that applies is the stated reason."""

    code: str
    predicate: str
    params: tuple[object, ...]
    reason: str  # a SQL expression (may use the features' columns), the words shown


MIN_CARD_CIBIL = min(p.min_cibil_score for p in PRODUCT_CATALOG if p.product_type == "Credit Card")

# A death recorded on any core record of a person is the person's, whatever their newest
# record says (core systems are not kept in step; a newer record of the same person may
# never have heard of it): the features give the person this status, as a do-not-contact
# request on any record binds them in the lead list.
DECEASED = "Deceased"
assert DECEASED in CUSTOMER_STATUSES

INELIGIBILITY: tuple[Ineligibility, ...] = (
    Ineligibility("deceased", "customer_status = ?", (DECEASED,), "'customer is deceased'"),
    Ineligibility(
        "not_personal",
        "customer_type <> 'Personal'",
        (),
        "customer_type || ' customer: the catalog''s cards are personal cards'",
    ),
    Ineligibility("minor", "minor_flag = 'Yes'", (), "'minor: under 18'"),
    Ineligibility("high_risk", "risk_category = 'High'", (), "'risk category High'"),
    Ineligibility(
        "low_cibil",
        "cibil_score is null or cibil_score < ?",
        (MIN_CARD_CIBIL,),
        f"'CIBIL ' || coalesce(cibil_score::varchar, 'unknown') || ' below the lowest card "
        f"minimum {MIN_CARD_CIBIL}'",
    ),
)
NO_CARD_LEFT = "holds every card open to them"

CARD_TIERS_ORDERED = ("Entry", "Classic", "Gold", "Platinum", "Signature")
# The highest tier a customer is offered, by affluence and by archetype (the lower wins).
TIER_CAP_BY_AFFLUENCE = {"Low": "Classic", "Medium": "Gold", "High": "Signature"}
TIER_CAP_BY_ARCHETYPE = {
    "Financially Stressed": "Entry",
    "Recovering Credit Users": "Entry",
    "Self Aware Avoiders": "Classic",
}
# The reward a customer's largest spend category earns most from.
REWARD_BY_CATEGORY = {
    "Travel": "Travel Miles",
    "Food & Grocery": "Reward Points",
    "Ecom": "Cashback",
    "Entertainment": "Cashback",
    "Fuel": "Fuel Points",
    "Exam": "Cashback",
    "Utilities": "Cashback",
    "Healthcare": "Reward Points",
}
REWARD_BY_ARCHETYPE = {"Deal Chasers": "Cashback"}
DEFAULT_REWARD = "Cashback"
assert set(REWARD_BY_CATEGORY) == set(TRANSACTION_REASONS), "a reason lacks its reward"

# The campaign funnel's stages: one per campaign event type, in stage order. A customer
# reaches a stage when mastered.campaign_event holds a valid event of its type for them.
FUNNEL_STAGE_BY_EVENT = {
    "contacted": "Contacted",
    "responded": "Responded",
    "applied": "Applied",
    "kyc_passed": "KYC Passed",
    "onboarded": "Onboarded",
}
assert tuple(FUNNEL_STAGE_BY_EVENT) == CAMPAIGN_EVENT_TYPES, "a stage per event type, in order"
FUNNEL_STAGES = tuple(FUNNEL_STAGE_BY_EVENT.values())
# A contacted customer converts when they applied (or got further).
CONVERTED_EVENTS = ("applied", "kyc_passed", "onboarded")
assert set(CONVERTED_EVENTS) <= set(CAMPAIGN_EVENT_TYPES)
# The uplift's two groups of contacts: offered the recommended card, or another.
RECOMMENDED, OTHER = "Recommended card", "Other card"
OFFERS = (RECOMMENDED, OTHER)

# Spend segments on a customer's total spend: below the first bound Low, below the second
# Medium, else High (about 87% / 12% / 1% of the generated customers).
SPEND_SEGMENTS = ("Low Spend", "Medium Spend", "High Spend")
SPEND_SEGMENT_BOUNDS = (40_000.0, 80_000.0)

# Natural order of the ordered value sets, for axes, legends and data tables. The entity
# model keeps the seed's listing order (High, Low, Medium), which the generator's weights
# follow; this is the order a reader expects, checked against the model's value sets.
LEVEL_ORDER = ("Low", "Medium", "High")
assert sorted(LEVEL_ORDER) == sorted(LEVELS), "LEVEL_ORDER must list the model's levels"
SEGMENT_ORDER = tuple(SEGMENT_LABELS[s] for s in ("Rural", "Semi", "Urban"))
assert sorted(SEGMENT_ORDER) == sorted(SEGMENT_LABELS[s] for s in SEGMENTS)
# Lead-generation figures whose members have a natural order (others sort by count).
FIGURE_ORDER: dict[str, tuple[str, ...]] = {
    "archetype": ARCHETYPE_NAMES,
    "risk_category": LEVEL_ORDER,
    "affluence_level": LEVEL_ORDER,
    "segment": SEGMENT_ORDER,
}
