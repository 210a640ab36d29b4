"""The bank's product catalog, which the generator lands and the cross-sell recommends."""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------------------------------
# Products, accounts and transactions (the seed names these entities without listing
# their columns; these are ours, shaped for the credit-card cross-sell use case)
# ---------------------------------------------------------------------------------------
PRODUCT_TYPES = ("Savings Account", "Current Account", "Credit Card")
REWARD_TYPES = ("None", "Cashback", "Travel Miles", "Reward Points", "Fuel Points")
CARD_TIERS = ("Entry", "Classic", "Gold", "Platinum", "Signature")


@dataclass(frozen=True)
class CatalogProduct:
    product_id: str
    product_name: str
    product_type: str
    card_tier: str | None
    reward_type: str
    annual_fee: float
    interest_rate: float
    min_cibil_score: int
    credit_limit: float | None


# The bank's product catalog. Deposit accounts every customer can hold, and credit cards
# whose eligibility (minimum CIBIL score) and rewards drive the cross-sell use case.
PRODUCT_CATALOG: tuple[CatalogProduct, ...] = (
    CatalogProduct(
        "PRD0000001", "Everyday Savings", "Savings Account", None, "None", 0.0, 3.5, 0, None
    ),
    CatalogProduct(
        "PRD0000002", "Premium Savings", "Savings Account", None, "None", 0.0, 4.0, 0, None
    ),
    CatalogProduct(
        "PRD0000003", "Business Current", "Current Account", None, "None", 0.0, 0.0, 0, None
    ),
    CatalogProduct(
        "PRD0000004", "Starter Card", "Credit Card", "Entry", "Cashback", 0.0, 42.0, 650, 50000.0
    ),
    CatalogProduct(
        "PRD0000005",
        "Shopper Cashback",
        "Credit Card",
        "Classic",
        "Cashback",
        499.0,
        40.0,
        700,
        150000.0,
    ),
    CatalogProduct(
        "PRD0000006",
        "Grocery Plus",
        "Credit Card",
        "Classic",
        "Reward Points",
        499.0,
        40.0,
        700,
        150000.0,
    ),
    CatalogProduct(
        "PRD0000007",
        "Fuel Saver",
        "Credit Card",
        "Classic",
        "Fuel Points",
        299.0,
        40.0,
        680,
        100000.0,
    ),
    CatalogProduct(
        "PRD0000008",
        "Voyager Gold",
        "Credit Card",
        "Gold",
        "Travel Miles",
        2499.0,
        38.0,
        750,
        400000.0,
    ),
    CatalogProduct(
        "PRD0000009",
        "Platinum Rewards",
        "Credit Card",
        "Platinum",
        "Reward Points",
        4999.0,
        36.0,
        780,
        800000.0,
    ),
    CatalogProduct(
        "PRD0000010",
        "Signature Travel",
        "Credit Card",
        "Signature",
        "Travel Miles",
        9999.0,
        34.0,
        800,
        1500000.0,
    ),
)
DEPOSIT_PRODUCT_IDS = tuple(
    p.product_id for p in PRODUCT_CATALOG if p.product_type != "Credit Card"
)
CARD_PRODUCT_IDS = tuple(p.product_id for p in PRODUCT_CATALOG if p.product_type == "Credit Card")
