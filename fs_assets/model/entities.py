"""The entities (customer, product, account, fx rate, transaction, campaign, campaign event):
their columns and keys.

The generator, the mastering rules, the checks, the pandera schemas, the partitions and the
update tool all read these declarations, so they cannot drift apart.

Column names follow the seed's mastered table exactly, including its spellings
(`customer_privelege`, `afflunce_level`), because consumers of the data product query
those names.

Where the seed contradicts itself we keep its intent and say so next to the constant:
- `cust_segment`: the generator writes 'Semi', the validity SQL accepts 'Semi-Urban' and
  the profiling job filters `cust_segment = 'Semi'`. The stored value is 'Semi'; the
  dashboards label it 'Semi-Urban' (SEGMENT_LABELS).
- `gender`: the generator writes 'I Prefer not to say', the rule expects
  'I prefer not to say'. One spelling, the rule's, is used everywhere.
- Titles and marital status for 'I prefer not to say' are empty in the seed's generator,
  which its own rule would reject; they are optional (null) for that gender.
- Personal-only attributes (title, gender, marital status, flags, occupation) are null
  for Corporate and Merchant customers, whose reduced attribute set the seed lists; the
  rules require them only for Personal customers.
"""

from __future__ import annotations

from fs_assets.model.columns import (
    ALPHA,
    EMAIL,
    ID10,
    ISO_DATE,
    PII_AGE_BAND,
    PII_DOB,
    PII_MASK,
    Column,
    Entity,
    ForeignKey,
)
from fs_assets.model.places import COUNTRIES, COUNTRY_CODES
from fs_assets.model.products import CARD_TIERS, PRODUCT_TYPES, REWARD_TYPES
from fs_assets.model.value_sets import (
    ACCOUNT_STATUSES,
    CAMPAIGN_CHANNELS,
    CAMPAIGN_EVENT_TYPES,
    CATEGORIES,
    CIBIL_VALID_RANGE,
    CURRENCIES,
    CUSTOMER_STATUSES,
    CUSTOMER_TYPES,
    GENDERS,
    LEVELS,
    MARITAL_STATUSES,
    NATIONALITIES,
    OCCUPATIONS,
    SEGMENTS,
    SOURCING_CHANNELS,
    TITLES,
    TRANSACTION_AMOUNT_RANGE,
    TRANSACTION_MODES,
    TRANSACTION_REASONS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    YES_NO,
)

_AUDIT = (
    Column("created_at", "TIMESTAMP", "When the source system created the record.", required=True),
    Column(
        "modified_at",
        "TIMESTAMP",
        "When the source system last changed the record; with the key it identifies one version.",
        required=True,
    ),
)

CUSTOMER = Entity(
    name="customer",
    key="cust_id",
    description="Customer overview: identity, demographics, contact, address and credit bureau "
    "attributes of a bank customer (Personal, Corporate or Merchant).",
    grain="one row per customer (cust_id), latest version by modified_at",
    columns=(
        Column(
            "cust_id",
            description="Customer identifier, ten alphanumerics.",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "cust_dob", "DATE", "Date of birth (incorporation date for organisations).", pii=PII_DOB
        ),
        Column(
            "cust_first_name",
            description="First name (organisation name for Corporate and Merchant).",
            required=True,
            max_length=35,
            pattern=ALPHA,
            pii=PII_MASK,
        ),
        Column(
            "cust_last_name",
            description="Last name (legal suffix for organisations).",
            required=True,
            max_length=35,
            pattern=ALPHA,
            pii=PII_MASK,
        ),
        Column(
            "cust_middle_name",
            description="Middle name, optional.",
            max_length=35,
            pattern=ALPHA,
            pii=PII_MASK,
        ),
        Column(
            "cust_segment",
            description="Urban, Rural or Semi (Semi-Urban).",
            required=True,
            values=SEGMENTS,
        ),
        Column(
            "cust_title",
            description="Salutation; personal customers only.",
            values=TITLES,
            personal_only=True,
        ),
        Column(
            "customer_category", description="Residency category.", required=True, values=CATEGORIES
        ),
        Column(
            "customer_privelege",
            description="Privileged customer flag (seed spelling).",
            required=True,
            values=YES_NO,
        ),
        Column(
            "customer_type",
            description="Personal, Corporate or Merchant.",
            required=True,
            values=CUSTOMER_TYPES,
        ),
        Column(
            "email_addr",
            description="E-mail address.",
            required=True,
            max_length=50,
            pattern=EMAIL,
            pii=PII_MASK,
        ),
        Column(
            "gender",
            description="Gender; personal customers only.",
            required=True,
            values=GENDERS,
            personal_only=True,
        ),
        Column(
            "marital_status",
            description="Marital status; personal customers only.",
            values=MARITAL_STATUSES,
            personal_only=True,
        ),
        Column(
            "minor_flag",
            description="Yes when under 18.",
            required=True,
            values=YES_NO,
            personal_only=True,
            pii=PII_AGE_BAND,
        ),
        Column(
            "mobile_number1",
            description="Primary mobile number, at most ten digits.",
            required=True,
            max_length=10,
            pattern=r"^[0-9]+$",
            pii=PII_MASK,
        ),
        Column(
            "nationality", description="Nationality group.", required=True, values=NATIONALITIES
        ),
        Column(
            "occupation",
            description="Salaried or Non Salaried; personal customers only.",
            required=True,
            values=OCCUPATIONS,
            personal_only=True,
        ),
        Column(
            "senior_citizen_flag",
            description="Yes when 60 or older.",
            required=True,
            values=YES_NO,
            personal_only=True,
            pii=PII_AGE_BAND,
        ),
        Column(
            "sourcing_channel",
            description="Channel that acquired the customer.",
            required=True,
            values=SOURCING_CHANNELS,
        ),
        Column(
            "customer_risk_category", description="Risk category.", required=True, values=LEVELS
        ),
        Column(
            "afflunce_level",
            description="Affluence level (seed spelling).",
            required=True,
            values=LEVELS,
        ),
        Column(
            "customer_status",
            description="Relationship status.",
            required=True,
            values=CUSTOMER_STATUSES,
        ),
        Column(
            "customer_addressline1",
            description="Address line 1.",
            max_length=50,
            pii=PII_MASK,
            free_text=True,
        ),
        Column(
            "customer_addressline2",
            description="Address line 2.",
            max_length=50,
            pii=PII_MASK,
            free_text=True,
        ),
        Column(
            "customer_addressline3",
            description="Address line 3.",
            max_length=50,
            pii=PII_MASK,
            free_text=True,
        ),
        Column("city", description="City.", required=True, max_length=30),
        Column("state", description="State or province.", required=True, max_length=30),
        Column("country", description="Country of residence.", required=True, values=COUNTRIES),
        Column("pin", description="Postal code.", required=True, max_length=10, pii=PII_MASK),
        *_AUDIT,
        Column(
            "cibil_check_date",
            "DATE",
            "Date of the last CIBIL credit bureau check.",
            required=True,
            pattern=ISO_DATE,
        ),
        Column(
            "cibil_score",
            "INTEGER",
            "CIBIL credit score, 300 to 900.",
            required=True,
            exact_length=3,
            value_range=CIBIL_VALID_RANGE,
        ),
        Column(
            "country_code",
            description="International dialling code of the country.",
            required=True,
            values=tuple(sorted(set(COUNTRY_CODES.values()))),
        ),
        Column(
            "marketing_consent",
            description="Yes when the customer agreed to marketing contact (campaigns).",
            required=True,
            values=YES_NO,
        ),
        Column(
            "do_not_contact",
            description="Yes when the customer asked never to be contacted; overrides consent.",
            required=True,
            values=YES_NO,
        ),
    ),
)

PRODUCT = Entity(
    name="product",
    key="product_id",
    description="Product catalog: deposit accounts and the credit cards offered for cross-sell.",
    grain="one row per product (product_id), latest version by modified_at",
    columns=(
        Column(
            "product_id",
            description="Product identifier.",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column("product_name", description="Marketing name.", required=True, max_length=50),
        Column(
            "product_type",
            description="Savings Account, Current Account or Credit Card.",
            required=True,
            values=PRODUCT_TYPES,
        ),
        Column("card_tier", description="Credit card tier; cards only.", values=CARD_TIERS),
        Column("reward_type", description="Reward programme.", required=True, values=REWARD_TYPES),
        Column(
            "annual_fee", "DECIMAL(18,2)", "Annual fee.", required=True, value_range=(0, 100_000)
        ),
        Column(
            "interest_rate",
            "DOUBLE",
            "Annual interest rate in percent.",
            required=True,
            value_range=(0, 60),
        ),
        Column(
            "min_cibil_score",
            "INTEGER",
            "Lowest CIBIL score eligible (0: none).",
            required=True,
            value_range=(0, 900),
        ),
        Column(
            "credit_limit",
            "DECIMAL(18,2)",
            "Default credit limit; cards only.",
            value_range=(0, 100_000_000),
        ),
        *_AUDIT,
    ),
)

ACCOUNT = Entity(
    name="account",
    key="account_id",
    description="Accounts: which customer holds which product, since when, in what state.",
    grain="one row per account (account_id), latest version by modified_at",
    foreign_keys=(
        ForeignKey("cust_id", "customer", "cust_id"),
        ForeignKey("product_id", "product", "product_id"),
    ),
    columns=(
        Column(
            "account_id",
            description="Account identifier, twelve digits.",
            required=True,
            exact_length=12,
            pattern=r"^[0-9]{12}$",
        ),
        Column(
            "cust_id",
            description="Holder (customer.cust_id).",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "product_id",
            description="Product held (product.product_id).",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "account_status",
            description="Active, Dormant or Closed.",
            required=True,
            values=ACCOUNT_STATUSES,
        ),
        Column("open_date", "DATE", "Date the account was opened.", required=True),
        Column("currency", description="ISO currency code.", required=True, values=CURRENCIES),
        Column(
            "credit_limit",
            "DECIMAL(18,2)",
            "Credit limit; cards only.",
            value_range=(0, 100_000_000),
        ),
        Column(
            "current_balance",
            "DECIMAL(18,2)",
            "Balance at modified_at.",
            required=True,
            value_range=(-100_000_000, 1_000_000_000),
        ),
        *_AUDIT,
    ),
)

FX_RATE = Entity(
    name="fx_rate",
    key="fx_rate_id",
    description="Daily exchange rates: units of a reporting currency per unit of a currency, "
    "used to state every transaction amount in one reporting currency.",
    grain="one row per currency and day (fx_rate_id), latest version by modified_at",
    columns=(
        Column(
            "fx_rate_id",
            description="Currency and day of the rate, e.g. 'USD:2023-01-31'; one rate per "
            "currency per day.",
            required=True,
            exact_length=14,
            pattern=r"^[A-Z]{3}:[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        ),
        Column("rate_date", "DATE", "Day the rate applies to.", required=True),
        Column(
            "currency",
            description="ISO code of the currency converted.",
            required=True,
            values=CURRENCIES,
        ),
        Column(
            "reporting_currency",
            description="ISO code of the currency the rate converts to.",
            required=True,
            values=CURRENCIES,
        ),
        Column(
            "rate",
            "DOUBLE",
            "Units of reporting_currency per unit of currency; positive.",
            required=True,
            value_range=(0, 1_000_000),
        ),
        *_AUDIT,
    ),
)

TRANSACTION = Entity(
    name="transaction",
    key="transaction_id",
    description="Card, UPI and QR payments made from customers' accounts.",
    grain="one row per transaction (transaction_id), latest version by modified_at",
    foreign_keys=(
        ForeignKey("account_id", "account", "account_id"),
        ForeignKey("cust_id", "customer", "cust_id"),
    ),
    columns=(
        Column(
            "transaction_id",
            description="Transaction identifier, sixteen digits.",
            required=True,
            exact_length=16,
            pattern=r"^[0-9]{16}$",
        ),
        Column(
            "account_id",
            description="Account debited or credited.",
            required=True,
            exact_length=12,
            pattern=r"^[0-9]{12}$",
        ),
        Column(
            "cust_id",
            description="Account holder, denormalised for analysis.",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column("transaction_ts", "TIMESTAMP", "When the payment happened.", required=True),
        Column(
            "amount",
            "DECIMAL(18,2)",
            "Amount in the transaction's currency (its account's currency).",
            required=True,
            value_range=TRANSACTION_AMOUNT_RANGE,
        ),
        Column("currency", description="ISO currency code.", required=True, values=CURRENCIES),
        Column(
            "transaction_mode",
            description="UPI, QR or Card.",
            required=True,
            values=TRANSACTION_MODES,
        ),
        Column(
            "transaction_reason",
            description="Spend category.",
            required=True,
            values=TRANSACTION_REASONS,
        ),
        Column(
            "transaction_type",
            description="Debit or Credit.",
            required=True,
            values=TRANSACTION_TYPES,
        ),
        Column(
            "transaction_status",
            description="Success or Failed.",
            required=True,
            values=TRANSACTION_STATUSES,
        ),
        *_AUDIT,
    ),
    derived_columns=(
        Column(
            "amount_reporting",
            "DECIMAL(18,2)",
            "Amount in reporting_currency: amount times the day's rate of its currency "
            "(mastered.fx_rate), rounded to cents.",
            required=True,
        ),
        Column(
            "reporting_currency",
            description="ISO code of the currency of amount_reporting.",
            required=True,
            values=CURRENCIES,
        ),
    ),
)

CAMPAIGN = Entity(
    name="campaign",
    key="campaign_id",
    description="Cross-sell campaigns: which credit card is offered, through which channel, "
    "when, and to which customer archetypes.",
    grain="one row per campaign (campaign_id), latest version by modified_at",
    foreign_keys=(ForeignKey("product_id", "product", "product_id"),),
    columns=(
        Column(
            "campaign_id",
            description="Campaign identifier, ten alphanumerics.",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column("campaign_name", description="Campaign name.", required=True, max_length=50),
        Column(
            "product_id",
            description="Credit card offered (product.product_id).",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "channel",
            description="Channel the offer goes out on.",
            required=True,
            values=CAMPAIGN_CHANNELS,
        ),
        Column("start_date", "DATE", "First day customers are contacted.", required=True),
        Column("end_date", "DATE", "Last day customers are contacted.", required=True),
        Column(
            "target_archetypes",
            description="Customer archetypes the campaign targets, ';'-separated.",
            required=True,
            max_length=200,
        ),
        *_AUDIT,
    ),
)

CAMPAIGN_EVENT = Entity(
    name="campaign_event",
    key="event_id",
    description="What happened to each customer a campaign contacted: contacted, responded, "
    "applied, KYC passed, onboarded; one row per event.",
    grain="one row per event (event_id), latest version by modified_at",
    foreign_keys=(
        ForeignKey("campaign_id", "campaign", "campaign_id"),
        ForeignKey("cust_id", "customer", "cust_id"),
    ),
    columns=(
        Column(
            "event_id",
            description="Event identifier, fourteen digits.",
            required=True,
            exact_length=14,
            pattern=r"^[0-9]{14}$",
        ),
        Column(
            "campaign_id",
            description="Campaign (campaign.campaign_id).",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "cust_id",
            description="Customer (customer.cust_id).",
            required=True,
            exact_length=10,
            pattern=ID10,
        ),
        Column(
            "event_type",
            description="Stage reached: " + ", ".join(CAMPAIGN_EVENT_TYPES) + ", in that order.",
            required=True,
            values=CAMPAIGN_EVENT_TYPES,
        ),
        Column("event_ts", "TIMESTAMP", "When the event happened.", required=True),
        *_AUDIT,
    ),
)

# Dependency order: an entity comes after those its foreign keys and lookups point at.
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (CUSTOMER, PRODUCT, ACCOUNT, FX_RATE, TRANSACTION, CAMPAIGN, CAMPAIGN_EVENT)
}
ENTITY_NAMES = tuple(ENTITIES)


def entity(name: str) -> Entity:
    """Look an entity up by name, with an error that lists the known ones."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}") from None
