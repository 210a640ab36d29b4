"""What each mart table holds and where each of its columns comes from (Dagster metadata).

The column lineage here is what lets `fs-accelerator lineage marts.spend_analysis.spend`
walk from a dashboard number back to the landing files' columns through mastered and raw.
"""

import dagster as dg

from fs_assets.defs.keys import (
    CROSS_SELL_KEY,
    CUSTOMER_IDENTITY_KEY,
    FEATURES_KEY,
    GOLDEN_CUSTOMER_KEY,
    mastered_key,
)
from fs_assets.model.value_sets import (
    CUSTOMER_STATUSES,
    CUSTOMER_TYPES,
    SEGMENT_LABELS,
    TRANSACTION_MODES,
)
from fs_assets.transforms.marts.features import WINDOW_MONTHS, WRITTEN_AT
from fs_assets.transforms.marts.model import (
    ARCHETYPE_NAMES,
    CURRENCY_COLUMN,
    DEAL_CATEGORIES,
    DECEASED,
    FUNNEL_STAGES,
    MODE_SHARE_COLUMNS,
    RECENT_DAYS,
    SPEND_COLUMNS,
    SPEND_SEGMENT_BOUNDS,
    SPEND_SEGMENTS,
    SPEND_WINDOW_DAYS,
)

Cols = list[tuple[str, str, str, list[tuple[dg.AssetKey, str]]]]

# Units, said the same way in every description: amounts are in the reporting currency
# (model.py says why), shares are fractions, the window is the features'.
MONEY = "in reporting currency units (mastered.transaction.reporting_currency)"
FRACTION = "a fraction, 0 to 1"
WINDOW = f"the {SPEND_WINDOW_DAYS} days up to as_of"
SPEND = "successful debits"
LOW, HIGH = SPEND_SEGMENT_BOUNDS
SEGMENT_RULE = (
    f"{SPEND_SEGMENTS[0]} below {LOW:,.0f}, {SPEND_SEGMENTS[1]} below {HIGH:,.0f}, else "
    f"{SPEND_SEGMENTS[2]}, on the person's total {SPEND} over all time (all their core "
    f"records), {MONEY}"
)


def _one_of(values: tuple[str, ...] | list[str]) -> str:
    """'A, B or C'."""
    return f"{', '.join(values[:-1])} or {values[-1]}"


STAGE_RANGE = f"1 ({FUNNEL_STAGES[0]}) to {len(FUNNEL_STAGES)} ({FUNNEL_STAGES[-1]})"


def _deps(key: dg.AssetKey, *columns: str) -> list[tuple[dg.AssetKey, str]]:
    return [(key, c) for c in columns]


_TX = mastered_key("transaction")
_EV = mastered_key("campaign_event")
_CMP = mastered_key("campaign")
SPEND_TX = _deps(_TX, "amount_reporting", "transaction_status", "transaction_type")
CURRENCY_DOC = (
    CURRENCY_COLUMN,
    "VARCHAR",
    "ISO code of the reporting currency every amount of the table is in.",
    _deps(_TX, "reporting_currency"),
)
# The input columns the feature groups read, named once.
SPEND_BY_REASON = [*SPEND_TX, (_TX, "transaction_reason")]
SPEND_BY_MODE = [*SPEND_TX, (_TX, "transaction_mode")]
SPEND_OVER_TIME = [*SPEND_TX, (_TX, "transaction_ts")]
TX_STATUS = _deps(_TX, "transaction_status")
TX_TIME = _deps(_TX, "transaction_ts")
CUSTOMER_ATTRS = (
    (
        "customer_type",
        "VARCHAR",
        f"Customer type: {_one_of(CUSTOMER_TYPES)}.",
        "customer_type",
    ),
    (
        "customer_status",
        "VARCHAR",
        f"Relationship status: {_one_of(CUSTOMER_STATUSES)}.",
        "customer_status",
    ),
    (
        "minor_flag",
        "VARCHAR",
        "'Yes' when under 18, else 'No' (personal customers only).",
        "minor_flag",
    ),
    ("cibil_score", "INTEGER", "CIBIL credit score, 300 to 900 (higher is better).", "cibil_score"),
    (
        "affluence_level",
        "VARCHAR",
        "Affluence level: Low, Medium or High (mastered.customer.afflunce_level).",
        "afflunce_level",
    ),
    (
        "risk_category",
        "VARCHAR",
        "Credit risk category: Low, Medium or High.",
        "customer_risk_category",
    ),
    (
        "segment",
        "VARCHAR",
        f"Area the customer lives in: {_one_of(sorted(SEGMENT_LABELS.values()))}.",
        "cust_segment",
    ),
    ("state", "VARCHAR", "State or province of residence.", "state"),
    ("country", "VARCHAR", "Country of residence.", "country"),
)

FEATURE_COLUMNS: Cols = [
    (
        "cust_id",
        "VARCHAR",
        "Customer identifier (mastered.customer).",
        _deps(mastered_key("customer"), "cust_id"),
    ),
    (
        "golden_id",
        "VARCHAR",
        "The person's golden customer id (mastered.customer_identity): one per person "
        "across source systems; null until identity resolution links the core feed.",
        _deps(CUSTOMER_IDENTITY_KEY, "golden_id"),
    ),
    (
        "person_id",
        "VARCHAR",
        "The person the core record belongs to: the golden id, or 'cust:' and the cust_id "
        "for a customer identity resolution has not linked; the marts count people by it.",
        [
            *_deps(CUSTOMER_IDENTITY_KEY, "golden_id"),
            *_deps(mastered_key("customer"), "cust_id"),
        ],
    ),
    (
        "person_record",
        "BOOLEAN",
        "True on one core record per person (the newest by modified_at, then the lowest "
        "cust_id): the record through which the marts count the person once.",
        [
            *_deps(CUSTOMER_IDENTITY_KEY, "golden_id"),
            *_deps(mastered_key("customer"), "cust_id", "modified_at"),
        ],
    ),
    *((n, t, d, _deps(mastered_key("customer"), src)) for n, t, d, src in CUSTOMER_ATTRS),
    *(
        (
            f"person_{a}",
            "VARCHAR",
            f"The person's {a} of residence: the golden record's (mastered.golden_customer, "
            f"survivorship over every source) where it has one, else the person record's.",
            [*_deps(GOLDEN_CUSTOMER_KEY, a), *_deps(mastered_key("customer"), a, "modified_at")],
        )
        for a in ("state", "country")
    ),
    (
        "all_txns",
        "BIGINT",
        f"Number of transactions of any status in {WINDOW}.",
        _deps(_TX, "transaction_id"),
    ),
    ("failed_txns", "BIGINT", f"Number of failed transactions in {WINDOW}.", TX_STATUS),
    (
        "failed_share",
        "DOUBLE",
        f"Failed transactions per transaction in the window (failed_txns / all_txns), "
        f"{FRACTION}; 0 without transactions.",
        TX_STATUS,
    ),
    ("spend_txns", "BIGINT", f"Number of {SPEND} (spend payments) in {WINDOW}.", SPEND_TX),
    ("total_spend", "DOUBLE", f"Sum of {SPEND} in {WINDOW}, {MONEY}.", SPEND_TX),
    (
        "avg_ticket",
        "DOUBLE",
        f"Average successful debit in the window (total_spend / spend_txns), {MONEY}; "
        "0 without spend.",
        SPEND_TX,
    ),
    *(
        (col, "DOUBLE", f"Sum of {SPEND} with reason {r} in {WINDOW}, {MONEY}.", SPEND_BY_REASON)
        for r, col in SPEND_COLUMNS.items()
    ),
    *(
        (
            col,
            "DOUBLE",
            f"Fraction of the window's {SPEND} paid by {m}, by count ({FRACTION}).",
            SPEND_BY_MODE,
        )
        for m, col in MODE_SHARE_COLUMNS.items()
    ),
    (
        "deal_share",
        "DOUBLE",
        f"Fraction of the window's spend amount on {' and '.join(DEAL_CATEGORIES)} ({FRACTION}).",
        SPEND_BY_REASON,
    ),
    (
        "dominant_category",
        "VARCHAR",
        "Transaction reason with the largest spend amount in the window; null without spend.",
        SPEND_BY_REASON,
    ),
    (
        "dominant_share",
        "DOUBLE",
        f"dominant_category's fraction of the window's spend amount ({FRACTION}).",
        SPEND_BY_REASON,
    ),
    (
        "last_spend_at",
        "TIMESTAMP",
        "Time of the latest successful debit in the window; null without spend.",
        TX_TIME,
    ),
    (
        "recency_days",
        "BIGINT",
        "Whole days from last_spend_at to as_of; null without spend.",
        TX_TIME,
    ),
    (
        "active_months",
        "BIGINT",
        "Number of calendar months in the window with at least one successful debit (0 to 13).",
        TX_TIME,
    ),
    (
        "txns_per_month",
        "DOUBLE",
        f"Successful debits per month: spend_txns / the window's {WINDOW_MONTHS:.1f} months.",
        SPEND_TX,
    ),
    (
        "spend_recent",
        "DOUBLE",
        f"Sum of {SPEND} in the {RECENT_DAYS} days up to as_of, {MONEY}.",
        SPEND_OVER_TIME,
    ),
    (
        "spend_earlier",
        "DOUBLE",
        f"Sum of {SPEND} in the window before those {RECENT_DAYS} days, {MONEY}.",
        SPEND_OVER_TIME,
    ),
    (
        "spend_trend",
        "DOUBLE",
        "Relative change of spend, (spend_recent - spend_earlier) / spend_earlier, as a "
        "fraction (0.25 = +25 %); null without earlier spend.",
        SPEND_OVER_TIME,
    ),
    (
        "held_cards",
        "VARCHAR[]",
        "product_ids of the credit cards the customer holds in accounts that are not closed.",
        [
            *_deps(mastered_key("account"), "product_id", "account_status"),
            (mastered_key("product"), "product_type"),
        ],
    ),
    (
        "as_of",
        "TIMESTAMP",
        "End of the window: the newest transaction_ts in mastered.transaction.",
        TX_TIME,
    ),
    (
        WRITTEN_AT,
        "TIMESTAMP",
        "When this row was written (UTC): by the full build or by the incremental update "
        "that last rewrote its customer. Not a feature: the catalog counts the rows "
        "written since its last profile.",
        [],
    ),
]
# A person's features are the person's (features.py): the record keeps only its ids and
# region; the attributes are the person record's (a death: any record's), the activity
# and cards all their core records', both on every row of the person, through the
# identity links.
_RECORD_OWN = {"cust_id", "golden_id", "person_id", "person_record", "as_of", WRITTEN_AT}
_RECORD_OWN |= {"state", "country", "person_state", "person_country"}
_PERSON_RECORD_ATTRS = {n for n, *_ in CUSTOMER_ATTRS} - {"state", "country"}
_PERSONS = {
    "customer_status": f" The person's: {DECEASED} when any of their core records says so, "
    "else their person record's, on each of their rows.",
    **{
        n: " The person's: their person record's, on each of their rows."
        for n in _PERSON_RECORD_ATTRS - {"customer_status"}
    },
}
FEATURE_COLUMNS = [
    (
        (n, t, d, deps)
        if n in _RECORD_OWN
        else (
            n,
            t,
            d
            + _PERSONS.get(n, " The person's: over all their core records, on each of their rows."),
            [*deps, *_deps(CUSTOMER_IDENTITY_KEY, "golden_id")],
        )
    )
    for n, t, d, deps in FEATURE_COLUMNS
]

_F = FEATURES_KEY
# The features the archetype and eligibility rules read (fs_assets/transforms/marts/model.py).
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
    ("cust_id", "VARCHAR", "Customer identifier (mastered.customer).", _deps(_F, "cust_id")),
    (
        "archetype",
        "VARCHAR",
        f"Cross-sell archetype, the first rule that holds: {', '.join(ARCHETYPE_NAMES)}.",
        ARCHETYPE_INPUTS,
    ),
    (
        "archetype_reason",
        "VARCHAR",
        "The rule that gave the archetype, in words.",
        ARCHETYPE_INPUTS,
    ),
    (
        "eligible",
        "BOOLEAN",
        "True when a card is recommended; false when ineligible_reason says why not.",
        [*ELIGIBILITY_INPUTS, (_F, "held_cards")],
    ),
    (
        "recommended_product_id",
        "VARCHAR",
        "product_id of the recommended credit card (mastered.product); null when none.",
        [
            *_deps(_F, "dominant_category", "affluence_level", "cibil_score", "held_cards"),
            *_deps(
                mastered_key("product"), "product_id", "min_cibil_score", "card_tier", "reward_type"
            ),
        ],
    ),
    (
        "recommended_card",
        "VARCHAR",
        "Product name of the recommended card; null when none.",
        _deps(mastered_key("product"), "product_name"),
    ),
    (
        "recommended_tier",
        "VARCHAR",
        "Card tier of the recommended card; null when none.",
        _deps(mastered_key("product"), "card_tier"),
    ),
    (
        "recommended_reward",
        "VARCHAR",
        "Reward type of the recommended card (e.g. Cashback, Travel Miles); null when none.",
        _deps(mastered_key("product"), "reward_type"),
    ),
    (
        "recommendation_reason",
        "VARCHAR",
        "Why this card was chosen, or why no card was, in words.",
        _deps(_F, "dominant_category", "dominant_share", "affluence_level", "cibil_score"),
    ),
    (
        "ineligible_reason",
        "VARCHAR",
        "Why no card is recommended (deceased, minor, high risk, ...); null when eligible.",
        ELIGIBILITY_INPUTS,
    ),
    (
        "campaign_stage",
        "INTEGER",
        f"Number of the furthest funnel stage of the customer's campaign events, {STAGE_RANGE}; "
        "null when never contacted.",
        _deps(_EV, "event_type"),
    ),
    (
        "campaign_stage_name",
        "VARCHAR",
        "Name of the furthest funnel stage reached; null when never contacted.",
        _deps(_EV, "event_type"),
    ),
    (
        "person_campaign_stage",
        "INTEGER",
        "Number of the furthest funnel stage of the campaign events on any of the person's "
        f"core records, {STAGE_RANGE}; null when the person was never contacted.",
        [*_deps(_EV, "event_type", "cust_id"), *_deps(_F, "person_id")],
    ),
    (
        "person_campaign_stage_name",
        "VARCHAR",
        "Name of the furthest funnel stage the person reached on any of their core records "
        "(the sales lead list's campaign_stage); null when never contacted.",
        [*_deps(_EV, "event_type", "cust_id"), *_deps(_F, "person_id")],
    ),
    (
        "offered_product_id",
        "VARCHAR",
        "Card of the campaign that contacted the customer last (mastered.campaign); null when "
        "never contacted.",
        [*_deps(_EV, "campaign_id"), *_deps(mastered_key("campaign"), "product_id")],
    ),
    (
        "onboarded_product_id",
        "VARCHAR",
        "Card of the campaign the customer was onboarded in (its onboarded event, the latest "
        "if several); null when never onboarded.",
        [*_deps(_EV, "campaign_id"), *_deps(mastered_key("campaign"), "product_id")],
    ),
    (
        "person_onboarded_product_id",
        "VARCHAR",
        "Card of the campaign of the latest onboarded event on any of the person's core "
        "records; null when the person was never onboarded. Campaign sales per card count "
        "each person once at this card.",
        [
            *_deps(_EV, "campaign_id", "cust_id"),
            *_deps(mastered_key("campaign"), "product_id"),
            *_deps(_F, "person_id"),
        ],
    ),
    (
        "offered_recommended",
        "BOOLEAN",
        "Whether the card offered is the recommended card; null when never contacted or no "
        "card is recommended.",
        [*_deps(_EV, "campaign_id"), *_deps(mastered_key("campaign"), "product_id")],
    ),
    *(
        (n, t, d, _deps(_F, n))
        for n, t, d, _ in CUSTOMER_ATTRS
        if n in ("affluence_level", "risk_category", "segment", "state", "country")
    ),
    *(
        (
            f"person_{a}",
            "VARCHAR",
            f"The person's {a} of residence (customer_features.person_{a}: the golden "
            "record's, else the person record's); the lead mart's state figure counts by it.",
            _deps(_F, f"person_{a}"),
        )
        for a in ("state", "country")
    ),
    *((n, t, d, _deps(_F, n)) for n, t, d, _ in CUSTOMER_ATTRS if n == "cibil_score"),
    (
        "total_spend",
        "DOUBLE",
        f"Sum of {SPEND} in {WINDOW}, {MONEY} (customer_features.total_spend).",
        _deps(_F, "total_spend"),
    ),
    (
        "golden_id",
        "VARCHAR",
        "The person's golden customer id (customer_features.golden_id); null until identity "
        "resolution links the core feed.",
        _deps(_F, "golden_id"),
    ),
    (
        "person_id",
        "VARCHAR",
        "The person the core record belongs to (customer_features.person_id): the golden "
        "id, or 'cust:' and the cust_id for a customer not linked.",
        _deps(_F, "person_id"),
    ),
    (
        "person_record",
        "BOOLEAN",
        "True on the one core record through which the person counts "
        "(customer_features.person_record).",
        _deps(_F, "person_record"),
    ),
]

_C = CROSS_SELL_KEY
FUNNEL_COLUMNS: Cols = [
    ("archetype", "VARCHAR", "Cross-sell archetype the row counts.", _deps(_C, "archetype")),
    ("stage_order", "BIGINT", f"Stage number, {STAGE_RANGE}.", []),
    ("stage", "VARCHAR", f"Stage name ({', '.join(FUNNEL_STAGES)}).", []),
    (
        "customers",
        "BIGINT",
        "Number of distinct people (cross_sell.person_id) of the archetype (their person "
        "record's) with a valid event of the stage's type on any of their core records.",
        [*_deps(_C, "archetype", "person_id"), *_deps(_EV, "cust_id", "event_type")],
    ),
    (
        "conversion_from_previous",
        "DOUBLE",
        f"customers / the previous stage's customers, {FRACTION}; null at stage 1 and after "
        "an empty stage.",
        _deps(_EV, "cust_id", "event_type"),
    ),
    (
        "conversion_from_reached",
        "DOUBLE",
        f"customers / the customers at stage 1 ({FUNNEL_STAGES[0]}), {FRACTION}; null when "
        "none were reached.",
        _deps(_EV, "cust_id", "event_type"),
    ),
]
UPLIFT_COLUMNS: Cols = [
    ("archetype", "VARCHAR", "Cross-sell archetype.", _deps(_C, "archetype")),
    (
        "offer",
        "VARCHAR",
        "'Recommended card' when the contact's campaign offered the recommended card of the "
        "person's person record, else 'Other card'.",
        [*_deps(_CMP, "product_id"), *_deps(_C, "recommended_product_id")],
    ),
    (
        "contacted",
        "BIGINT",
        "Number of contacts (person, campaign pairs with a contacted event on any of the "
        "person's core records) of the archetype's people with a recommended card, offered "
        "this way.",
        [
            *_deps(_EV, "cust_id", "campaign_id", "event_type"),
            *_deps(_C, "recommended_product_id", "person_id"),
        ],
    ),
    (
        "converted",
        "BIGINT",
        "Of those contacts, the number with an applied, kyc_passed or onboarded event in the "
        "same campaign on any of the person's core records.",
        _deps(_EV, "cust_id", "campaign_id", "event_type"),
    ),
    ("conversion", "DOUBLE", f"converted / contacted, {FRACTION}; null when none.", []),
    (
        "uplift_points",
        "DOUBLE",
        "The archetype's conversion of contacts offered the recommended card minus of "
        "contacts offered another card, in percentage points; null when either group is "
        "empty.",
        [],
    ),
]
LEAD_COLUMNS: Cols = [
    ("figure", "VARCHAR", "Which chart of the lead-generation dashboard the row feeds.", []),
    (
        "member",
        "VARCHAR",
        "The category the row counts, by figure: archetype, risk category, affluence level, "
        "segment, 'State, Country', product name, recommended card, payment mode or reason.",
        [
            *_deps(_C, "archetype", "risk_category", "affluence_level", "segment", "state"),
            *_deps(mastered_key("product"), "product_name"),
            *_deps(mastered_key("transaction"), "transaction_mode", "transaction_reason"),
        ],
    ),
    (
        "month",
        "DATE",
        "First day of the month, on the transactions-per-month rows; null on the others.",
        _deps(mastered_key("transaction"), "transaction_ts"),
    ),
    (
        "customers",
        "BIGINT",
        "Number of customers in the member (product sales: distinct holders of open accounts).",
        _deps(_C, "cust_id"),
    ),
    (
        "accounts",
        "BIGINT",
        "Number of open (not closed) accounts of the product; product sales rows only.",
        _deps(mastered_key("account"), "account_id", "account_status"),
    ),
    (
        "transactions",
        "BIGINT",
        "Number of transactions of any status; transaction rows (mode, reason) only.",
        _deps(mastered_key("transaction"), "transaction_id"),
    ),
    (
        "amount",
        "DECIMAL(38,2)",
        f"Sum of those transactions' amounts, any status, {MONEY}.",
        _deps(mastered_key("transaction"), "amount_reporting"),
    ),
    (
        "share",
        "DOUBLE",
        f"The member's part of its figure's total customers, accounts or transactions, "
        f"{FRACTION}; null on the per-month rows.",
        [],
    ),
    CURRENCY_DOC,
]
SPEND_COLUMNS_DOC: Cols = [
    ("figure", "VARCHAR", "Which chart of the spend-analysis dashboard the row feeds.", []),
    (
        "month",
        "DATE",
        "First day of the month of the spend; per-month rows only.",
        _deps(mastered_key("transaction"), "transaction_ts"),
    ),
    ("segment", "VARCHAR", f"Spend segment: {SEGMENT_RULE}.", SPEND_TX),
    (
        "category",
        "VARCHAR",
        "Spend category (the transaction reason, e.g. Travel, Ecom).",
        _deps(mastered_key("transaction"), "transaction_reason"),
    ),
    (
        "mode",
        "VARCHAR",
        f"Payment mode: {_one_of(TRANSACTION_MODES)}.",
        _deps(mastered_key("transaction"), "transaction_mode"),
    ),
    (
        "customers",
        "BIGINT",
        "Number of people (cross_sell.person_id: a person's core records count once) in "
        "the segment, or paying in the segment/category/mode flow.",
        [*_deps(mastered_key("customer"), "cust_id"), *_deps(_C, "person_id")],
    ),
    ("transactions", "BIGINT", f"Number of {SPEND} in the row's group.", SPEND_TX),
    ("spend", "DECIMAL(38,2)", f"Sum of {SPEND} in the row's group, {MONEY}.", SPEND_TX),
    (
        "cumulative_spend",
        "DECIMAL(38,2)",
        f"Sum of {SPEND} from the first month through this one, {MONEY}; per-month rows only.",
        SPEND_TX,
    ),
    CURRENCY_DOC,
]


# Asset metadata the OpenLineage events read: how each output column uses each input
# column, as "TYPE/SUBTYPE/description" per "<schema>.<table>.<column>" (Dagster's column
# lineage records only which columns, not how).
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
    return "DIRECT/TRANSFORMATION/derived by the rules of fs_assets/transforms/marts/model.py"


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
