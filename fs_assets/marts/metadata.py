"""What each mart table holds and where each of its columns comes from (Dagster metadata).

The column lineage here is what lets `fs-accelerator lineage marts.spend_analysis.spend`
walk from a dashboard number back to the landing files' columns through mastered and raw.
"""

import dagster as dg

from fs_assets.marts.model import MODE_SHARE_COLUMNS, SPEND_COLUMNS


def _m(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["mastered", entity])


FEATURES_KEY = dg.AssetKey(["marts", "customer_features"])
CROSS_SELL_KEY = dg.AssetKey(["marts", "cross_sell"])
FUNNEL_KEY = dg.AssetKey(["marts", "campaign_funnel"])
LEAD_KEY = dg.AssetKey(["marts", "lead_generation"])
SPEND_KEY = dg.AssetKey(["marts", "spend_analysis"])

Cols = list[tuple[str, str, str, list[tuple[dg.AssetKey, str]]]]


def _deps(key: dg.AssetKey, *columns: str) -> list[tuple[dg.AssetKey, str]]:
    return [(key, c) for c in columns]


_TX = _m("transaction")
SPEND_TX = _deps(_TX, "amount", "transaction_status", "transaction_type")
# The input columns the feature groups read, named once.
SPEND_BY_REASON = [*SPEND_TX, (_TX, "transaction_reason")]
SPEND_BY_MODE = [*SPEND_TX, (_TX, "transaction_mode")]
SPEND_OVER_TIME = [*SPEND_TX, (_TX, "transaction_ts")]
TX_STATUS = _deps(_TX, "transaction_status")
TX_TIME = _deps(_TX, "transaction_ts")
CUSTOMER_ATTRS = (
    ("customer_type", "VARCHAR", "Personal, Corporate or Merchant.", "customer_type"),
    ("customer_status", "VARCHAR", "Active, Dormant or Deceased.", "customer_status"),
    ("minor_flag", "VARCHAR", "Yes when under 18.", "minor_flag"),
    ("cibil_score", "INTEGER", "CIBIL credit score.", "cibil_score"),
    ("affluence_level", "VARCHAR", "Affluence level (afflunce_level).", "afflunce_level"),
    ("risk_category", "VARCHAR", "Risk category.", "customer_risk_category"),
    ("segment", "VARCHAR", "Rural, Semi-Urban or Urban.", "cust_segment"),
    ("state", "VARCHAR", "State of residence.", "state"),
    ("country", "VARCHAR", "Country of residence.", "country"),
)

FEATURE_COLUMNS: Cols = [
    ("cust_id", "VARCHAR", "Customer identifier.", _deps(_m("customer"), "cust_id")),
    *((n, t, d, _deps(_m("customer"), src)) for n, t, d, src in CUSTOMER_ATTRS),
    ("all_txns", "BIGINT", "Transactions in the window, any status.", _deps(_TX, "transaction_id")),
    ("failed_txns", "BIGINT", "Failed transactions in the window.", TX_STATUS),
    ("failed_share", "DOUBLE", "failed_txns / all_txns.", TX_STATUS),
    ("spend_txns", "BIGINT", "Successful debits in the window.", SPEND_TX),
    ("total_spend", "DOUBLE", "Sum of successful debits in the window.", SPEND_TX),
    ("avg_ticket", "DOUBLE", "total_spend / spend_txns.", SPEND_TX),
    *((col, "DOUBLE", f"Spend on {r}.", SPEND_BY_REASON) for r, col in SPEND_COLUMNS.items()),
    *(
        (col, "DOUBLE", f"Share of spend payments made by {m}.", SPEND_BY_MODE)
        for m, col in MODE_SHARE_COLUMNS.items()
    ),
    ("deal_share", "DOUBLE", "Share of spend on Ecom and Entertainment.", SPEND_BY_REASON),
    ("dominant_category", "VARCHAR", "Largest spend category.", SPEND_BY_REASON),
    ("dominant_share", "DOUBLE", "Its share of spend.", SPEND_BY_REASON),
    ("last_spend_at", "TIMESTAMP", "Latest spend.", TX_TIME),
    ("recency_days", "BIGINT", "Days from the latest spend to the window end.", TX_TIME),
    ("active_months", "BIGINT", "Months with spend.", TX_TIME),
    ("txns_per_month", "DOUBLE", "Frequency: spend payments per month.", SPEND_TX),
    ("spend_recent", "DOUBLE", "Spend in the recent half of the window.", SPEND_OVER_TIME),
    ("spend_earlier", "DOUBLE", "Spend in the earlier half.", SPEND_OVER_TIME),
    (
        "spend_trend",
        "DOUBLE",
        "(recent - earlier) / earlier; null without earlier spend.",
        SPEND_OVER_TIME,
    ),
    (
        "held_cards",
        "VARCHAR[]",
        "Credit cards held (accounts not closed).",
        [*_deps(_m("account"), "product_id", "account_status"), (_m("product"), "product_type")],
    ),
    ("as_of", "TIMESTAMP", "Window end: the newest transaction.", TX_TIME),
]

_F = FEATURES_KEY
# The features the archetype rules and the eligibility rules read (fs_assets/marts/model.py).
ARCHETYPE_INPUTS = _deps(
    _F,
    "cibil_score",
    "risk_category",
    "failed_share",
    "affluence_level",
    "deal_share",
    "spend_txns",
    "share_card",
)
ELIGIBILITY_INPUTS = _deps(
    _F, "customer_status", "customer_type", "minor_flag", "risk_category", "cibil_score"
)
CROSS_SELL_COLUMNS: Cols = [
    ("cust_id", "VARCHAR", "Customer identifier.", _deps(_F, "cust_id")),
    (
        "archetype",
        "VARCHAR",
        "Cross-sell archetype (first matching rule).",
        ARCHETYPE_INPUTS,
    ),
    (
        "archetype_reason",
        "VARCHAR",
        "The archetype's rule in words.",
        ARCHETYPE_INPUTS,
    ),
    (
        "eligible",
        "BOOLEAN",
        "A card is recommended.",
        [*ELIGIBILITY_INPUTS, (_F, "held_cards")],
    ),
    (
        "recommended_product_id",
        "VARCHAR",
        "Recommended card.",
        [
            *_deps(_F, "dominant_category", "affluence_level", "cibil_score", "held_cards"),
            *_deps(_m("product"), "product_id", "min_cibil_score", "card_tier", "reward_type"),
        ],
    ),
    ("recommended_card", "VARCHAR", "Its name.", _deps(_m("product"), "product_name")),
    ("recommended_tier", "VARCHAR", "Its tier.", _deps(_m("product"), "card_tier")),
    ("recommended_reward", "VARCHAR", "Its reward type.", _deps(_m("product"), "reward_type")),
    (
        "recommendation_reason",
        "VARCHAR",
        "Why this card, or why none.",
        _deps(_F, "dominant_category", "dominant_share", "affluence_level", "cibil_score"),
    ),
    (
        "ineligible_reason",
        "VARCHAR",
        "Why no card, when ineligible.",
        ELIGIBILITY_INPUTS,
    ),
    (
        "campaign_stage",
        "INTEGER",
        "Last funnel stage reached (1-7); null when not targeted.",
        _deps(_F, "cust_id"),
    ),
    ("campaign_stage_name", "VARCHAR", "Its name.", _deps(_F, "cust_id")),
    *(
        (n, t, d, _deps(_F, n))
        for n, t, d, _ in CUSTOMER_ATTRS
        if n in ("affluence_level", "risk_category", "segment", "state", "country", "cibil_score")
    ),
    ("total_spend", "DOUBLE", "Spend in the window.", _deps(_F, "total_spend")),
]

_C = CROSS_SELL_KEY
FUNNEL_COLUMNS: Cols = [
    ("archetype", "VARCHAR", "Cross-sell archetype.", _deps(_C, "archetype")),
    ("stage_order", "BIGINT", "1 = Customer Reached ... 7 = Onboarded.", []),
    ("stage", "VARCHAR", "Funnel stage.", []),
    ("customers", "BIGINT", "Customers who reached the stage.", _deps(_C, "campaign_stage")),
    (
        "conversion_from_previous",
        "DOUBLE",
        "customers / previous stage's.",
        _deps(_C, "campaign_stage"),
    ),
    (
        "conversion_from_reached",
        "DOUBLE",
        "customers / Customer Reached.",
        _deps(_C, "campaign_stage"),
    ),
]
LEAD_COLUMNS: Cols = [
    ("figure", "VARCHAR", "Which chart the row feeds.", []),
    (
        "member",
        "VARCHAR",
        "Category shown (archetype, state, product, mode, reason...).",
        [
            *_deps(_C, "archetype", "risk_category", "affluence_level", "segment", "state"),
            *_deps(_m("product"), "product_name"),
            *_deps(_m("transaction"), "transaction_mode", "transaction_reason"),
        ],
    ),
    ("month", "DATE", "Month, for series over time.", _deps(_m("transaction"), "transaction_ts")),
    ("customers", "BIGINT", "Customers.", _deps(_C, "cust_id")),
    (
        "accounts",
        "BIGINT",
        "Open accounts (product sales).",
        _deps(_m("account"), "account_id", "account_status"),
    ),
    (
        "transactions",
        "BIGINT",
        "Transactions, any status.",
        _deps(_m("transaction"), "transaction_id"),
    ),
    (
        "amount",
        "DECIMAL(38,2)",
        "Amount of those transactions.",
        _deps(_m("transaction"), "amount"),
    ),
    ("share", "DOUBLE", "Share of the figure's total.", []),
]
SPEND_COLUMNS_DOC: Cols = [
    ("figure", "VARCHAR", "Which chart the row feeds.", []),
    ("month", "DATE", "Month.", _deps(_m("transaction"), "transaction_ts")),
    ("segment", "VARCHAR", "Spend segment (Low, Medium, High Spend).", SPEND_TX),
    (
        "category",
        "VARCHAR",
        "Spend category (transaction reason).",
        _deps(_m("transaction"), "transaction_reason"),
    ),
    ("mode", "VARCHAR", "Payment mode.", _deps(_m("transaction"), "transaction_mode")),
    ("customers", "BIGINT", "Customers.", _deps(_m("customer"), "cust_id")),
    ("transactions", "BIGINT", "Successful debits.", SPEND_TX),
    ("spend", "DECIMAL(38,2)", "Their amount.", SPEND_TX),
    ("cumulative_spend", "DECIMAL(38,2)", "Running total by month.", SPEND_TX),
]


# Asset metadata the OpenLineage events read: how each output column uses each input
# column, as "TYPE/SUBTYPE/description" per "<schema>.<table>.<column>" (Dagster's column
# lineage records only which columns, not how).
TRANSFORMATIONS_KEY = "lineage/transformations"
FILTER_COLUMNS = {"transaction_status", "transaction_type"}
NUMERIC = ("BIGINT", "INTEGER", "DOUBLE", "DECIMAL")


def transformation(out: str, out_type: str, dep: str) -> str:
    """How a mart column uses one input column, in OpenLineage's vocabulary."""
    if dep in FILTER_COLUMNS and out not in FILTER_COLUMNS:
        return "INDIRECT/FILTER/spend counts successful debits only"
    if dep == out:
        return "DIRECT/IDENTITY/"
    if out_type.startswith(NUMERIC):
        return "DIRECT/AGGREGATION/counted or summed per customer or figure"
    return "DIRECT/TRANSFORMATION/derived by the rules of fs_assets/marts/model.py"


def column_transformations(cols: Cols) -> dict[str, dict[str, str]]:
    return {
        n: {f"{'.'.join(k.path)}.{c}": transformation(n, t, c) for k, c in deps}
        for n, t, _, deps in cols
        if deps
    }


def column_schema(cols: Cols) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=n, type=t, description=d) for n, t, d, _ in cols]
    )


def column_lineage(cols: Cols) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(
        {
            n: [dg.TableColumnDep(asset_key=k, column_name=c) for k, c in deps]
            for n, _, _, deps in cols
            if deps
        }
    )
