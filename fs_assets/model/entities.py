"""The one entity model: columns, keys, value sets, distributions and PII tags.

Everything that knows what a customer, account, product, fx rate or transaction looks like
this module: the mock-data generator, the mastering rules, the asset checks, the pandera
schemas, the partitions and the update tool. Keeping the facts here means the generator
cannot produce a value the rules reject without a test noticing.

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

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

# ---------------------------------------------------------------------------------------
# PII tags (the seed's policy column tags)
# ---------------------------------------------------------------------------------------
PII_MASK = "TW.mask"
PII_DOB = "TW.dob"
# Quasi-identifiers the seed left untagged: the minor and senior-citizen flags reveal an age
# band (with pin and gender, enough to single people out). Not the seed's tag.
PII_AGE_BAND = "TW.age_band"
PII_TAGS = (PII_MASK, PII_DOB, PII_AGE_BAND)

# ---------------------------------------------------------------------------------------
# Value sets
# ---------------------------------------------------------------------------------------
YES_NO = ("Yes", "No")

CUSTOMER_TYPES = ("Personal", "Corporate", "Merchant")
# Share of each customer type. The seed's overview script builds Personal customers and a
# 50/50 Merchant/Corporate frame but does not give the split between them; 80% personal.
CUSTOMER_TYPE_WEIGHTS = (0.80, 0.10, 0.10)

SEGMENTS = ("Urban", "Rural", "Semi")
SEGMENT_WEIGHTS = (0.50, 0.30, 0.20)
SEGMENT_LABELS = {"Urban": "Urban", "Rural": "Rural", "Semi": "Semi-Urban"}

CATEGORIES = ("Non Resident", "Resident Indian")
CATEGORY_WEIGHTS = (0.50, 0.60)  # the seed's weights; random.choices normalises them

PRIVILEGE_WEIGHTS = (0.50, 0.50)  # over YES_NO

GENDERS = ("Male", "Female", "Non Binary", "Transgender", "Intersex", "I prefer not to say")
GENDER_WEIGHTS = (0.60, 0.60, 0.10, 0.10, 0.10, 0.10)
GENDER_NOT_SAID = "I prefer not to say"

TITLES = ("Mr", "Miss", "Mrs", "Mx", "Dr")
TITLES_BY_GENDER: dict[str, tuple[str, ...]] = {
    "Male": ("Mr", "Dr"),
    "Female": ("Miss", "Mrs", "Dr"),
    "Non Binary": ("Mx",),
    "Transgender": ("Mx",),
    "Intersex": ("Mx",),
    GENDER_NOT_SAID: (),
}
MINOR_TITLE_BY_GENDER = {"Male": "Mr", "Female": "Miss"}

MARITAL_STATUSES = ("Single", "Married", "Widowed", "I prefer not to say")
MARITAL_BY_TITLE: dict[str, tuple[str, ...]] = {
    "Mr": ("Single", "Married"),
    "Mrs": ("Married",),
    "Dr": ("Single", "Married"),
    "Mx": ("I prefer not to say",),
    "Miss": ("Single", "Widowed"),
}

NATIONALITIES = (
    "Australian",
    "Brazilian",
    "Canadian",
    "European",
    "Indian",
    "Indonesian",
    "Norwegian",
    "Singaporean",
    "American",
)
NATIONALITY_WEIGHTS = (0.1, 0.2, 0.2, 0.2, 0.5, 0.2, 0.2, 0.2, 0.5)

OCCUPATIONS = ("Salaried", "Non Salaried")
OCCUPATION_WEIGHTS = (0.70, 0.30)

SOURCING_CHANNELS = ("Branch", "Partner", "Online")
SOURCING_WEIGHTS = (0.40, 0.20, 0.40)

CUSTOMER_STATUSES = ("Active", "Dormant", "Deceased")
CUSTOMER_STATUS_WEIGHTS = (0.80, 0.10, 0.10)

LEVELS = ("High", "Low", "Medium")
RISK_WEIGHTS = (0.30, 0.30, 0.30)
AFFLUENCE_WEIGHTS = (0.30, 0.40, 0.50)

# Personal customers' age buckets: (min_age, max_age, share, minor_flag, senior_flag).
# The remainder after the buckets is minors, as in the seed.
AGE_BUCKETS = (
    (10, 17, 0.10, "Yes", "No"),
    (18, 30, 0.30, "No", "No"),
    (30, 45, 0.35, "No", "No"),
    (45, 59, 0.10, "No", "No"),
    (60, 100, 0.15, "No", "Yes"),
)
# Corporate/Merchant "date of birth" is an incorporation date in this window, set for
# this share of them (the seed's generate_random_date_list(date_percentage)).
ORG_DOB_WINDOW = (dt.date(2000, 1, 1), dt.date(2023, 8, 31))
ORG_DOB_SHARE = 0.80

CIBIL_CHECK_WINDOW = (dt.date(2023, 10, 1), dt.date(2023, 11, 11))
CIBIL_LOW_SHARE = 0.03
CIBIL_LOW_RANGE = (310, 650)
CIBIL_HIGH_RANGE = (651, 900)
CIBIL_VALID_RANGE = (300, 900)

COUNTRY_CODES: dict[str, str] = {
    "India": "+91",
    "Norway": "+47",
    "Australia": "+61",
    "Brazil": "+55",
    "United States": "+1",
    "France": "+33",
    "Germany": "+49",
    "Spain": "+34",
    "Indonesia": "+62",
    "Canada": "+1",
    "Singapore": "+65",
    "Netherlands": "+31",
    "Italy": "+39",
}
COUNTRIES = tuple(sorted(COUNTRY_CODES))

# (city, state, pin, country) per nationality, as in the seed.
CITIES_BY_NATIONALITY: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "Australian": (
        ("Sydney", "New South Wales", "2000", "Australia"),
        ("Melbourne", "Victoria", "3000", "Australia"),
        ("Brisbane", "Queensland", "4000", "Australia"),
        ("Perth", "Western Australia", "6000", "Australia"),
        ("Adelaide", "South Australia", "5000", "Australia"),
    ),
    "Brazilian": (
        ("Rio de Janeiro", "Rio de Janeiro", "20000", "Brazil"),
        ("Sao Paulo", "Sao Paulo", "01000", "Brazil"),
        ("Brasília", "Federal District", "70000", "Brazil"),
        ("Salvador", "Bahia", "40000", "Brazil"),
        ("Fortaleza", "Ceará", "60000", "Brazil"),
    ),
    "American": (
        ("New York City", "New York", "10001", "United States"),
        ("Los Angeles", "California", "90001", "United States"),
        ("Chicago", "Illinois", "60601", "United States"),
        ("Houston", "Texas", "77001", "United States"),
        ("Miami", "Florida", "33101", "United States"),
    ),
    "Canadian": (
        ("Toronto", "Ontario", "M5V 1J9", "Canada"),
        ("Vancouver", "British Columbia", "V6B 1E2", "Canada"),
        ("Montreal", "Quebec", "H2X 1J1", "Canada"),
        ("Calgary", "Alberta", "T2P 0R5", "Canada"),
        ("Ottawa", "Ontario", "K1P 1J1", "Canada"),
    ),
    "European": (
        ("Paris", "Île-de-France", "75001", "France"),
        ("Rome", "Lazio", "00100", "Italy"),
        ("Madrid", "Madrid", "28001", "Spain"),
        ("Berlin", "Berlin", "10115", "Germany"),
        ("Amsterdam", "North Holland", "1012 JS", "Netherlands"),
    ),
    "Indonesian": (
        ("Jakarta", "Jakarta", "10110", "Indonesia"),
        ("Surabaya", "East Java", "60111", "Indonesia"),
        ("Bandung", "West Java", "40111", "Indonesia"),
        ("Medan", "North Sumatra", "20111", "Indonesia"),
        ("Makassar", "South Sulawesi", "90111", "Indonesia"),
    ),
    "Norwegian": (
        ("Oslo", "Oslo", "0010", "Norway"),
        ("Bergen", "Vestland", "5015", "Norway"),
        ("Trondheim", "Trondelag", "7010", "Norway"),
        ("Stavanger", "Rogaland", "4006", "Norway"),
        ("Tromsø", "Troms og Finnmark", "9008", "Norway"),
    ),
    "Singaporean": (
        ("Singapore", "Singapore", "049317", "Singapore"),
        ("Bedok", "Singapore", "469001", "Singapore"),
        ("Jurong East", "Singapore", "609731", "Singapore"),
        ("Tampines", "Singapore", "529653", "Singapore"),
        ("Woodlands", "Singapore", "738099", "Singapore"),
    ),
    "Indian": (
        ("Mumbai", "Maharashtra", "400001", "India"),
        ("Delhi", "Delhi", "110001", "India"),
        ("Bangalore", "Karnataka", "560001", "India"),
        ("Kolkata", "West Bengal", "700001", "India"),
        ("Chennai", "Tamil Nadu", "600001", "India"),
        ("Hyderabad", "Telangana", "500001", "India"),
        ("Pune", "Maharashtra", "411001", "India"),
        ("Chandigarh", "Chandigarh", "160001", "India"),
        ("Jaipur", "Rajasthan", "302001", "India"),
        ("Ahmedabad", "Gujarat", "380001", "India"),
        ("Kochi", "Kerala", "682001", "India"),
        ("Lucknow", "Uttar Pradesh", "226001", "India"),
        ("Bhopal", "Madhya Pradesh", "462001", "India"),
        ("Patna", "Bihar", "800001", "India"),
        ("Coimbatore", "Tamil Nadu", "641001", "India"),
    ),
}
RESIDENT_CATEGORY = "Resident Indian"
RESIDENT_NATIONALITY = "Indian"


def country_state_pairs() -> tuple[tuple[str, str], ...]:
    """The valid (country, state) pairs, sorted; the partitions of the regional layout."""
    pairs = {(c, s) for rows in CITIES_BY_NATIONALITY.values() for (_, s, _, c) in rows}
    return tuple(sorted(pairs))


def country_state_city_triples() -> tuple[tuple[str, str, str], ...]:
    """The valid (country, state, city) places of the model, sorted."""
    rows = CITIES_BY_NATIONALITY.values()
    return tuple(sorted({(c, s, city) for places in rows for (city, s, _, c) in places}))


STATES = tuple(sorted({s for _, s in country_state_pairs()}))
CITIES = tuple(sorted({c for rows in CITIES_BY_NATIONALITY.values() for (c, _, _, _) in rows}))

# Postal code format per country: the shape of the pins above (digits and length; Canada
# and the Netherlands use letters too). `pin__country_format` applies it.
PIN_FORMAT_BY_COUNTRY: dict[str, str] = {
    "Australia": r"^[0-9]{4}$",
    "Brazil": r"^[0-9]{5}$",
    "Canada": r"^[A-Z][0-9][A-Z] [0-9][A-Z][0-9]$",
    "France": r"^[0-9]{5}$",
    "Germany": r"^[0-9]{5}$",
    "India": r"^[0-9]{6}$",
    "Indonesia": r"^[0-9]{5}$",
    "Italy": r"^[0-9]{5}$",
    "Netherlands": r"^[0-9]{4} [A-Z]{2}$",
    "Norway": r"^[0-9]{4}$",
    "Singapore": r"^[0-9]{6}$",
    "Spain": r"^[0-9]{5}$",
    "United States": r"^[0-9]{5}$",
}
# Mobile numbers: ten digits starting 6-9, the generator's MOBILE_RANGE, in every country
# (the seed draws them from one Indian-style range). Per country, so a country with another
# plan changes one entry; `mobile_number1__country_format` applies it.
MOBILE_RANGE = (6_000_000_000, 9_999_999_999)
MOBILE_FORMAT_BY_COUNTRY: dict[str, str] = dict.fromkeys(COUNTRIES, r"^[6-9][0-9]{9}$")
# Ages (in whole years, as of the version's modified_at) of the minor and senior flags.
MINOR_BELOW_AGE = 18
SENIOR_FROM_AGE = 60
# Control characters no text column may hold (C0, DEL and C1). Free text (address lines)
# may keep tab, line feed and carriage return, as ingestion does.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
FREE_TEXT_CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"

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

ACCOUNT_STATUSES = ("Active", "Dormant", "Closed")
ACCOUNT_STATUS_WEIGHTS = (0.85, 0.10, 0.05)
# Accounts per customer (one to three), and their weights.
ACCOUNTS_PER_CUSTOMER = (1, 2, 3)
ACCOUNTS_PER_CUSTOMER_WEIGHTS = (0.50, 0.35, 0.15)
CURRENCIES = ("INR", "NOK", "AUD", "BRL", "USD", "EUR", "IDR", "CAD", "SGD")
# Every amount of the marts is in one reporting currency: this one unless the warehouse
# resource is configured otherwise ($FS_ACCELERATOR_REPORTING_CURRENCY).
DEFAULT_REPORTING_CURRENCY = "INR"
# Plausible units of DEFAULT_REPORTING_CURRENCY per unit of each currency at the start of
# the transaction window (late 2022); the generator drifts them a little every day.
FX_BASE_RATES = {
    "INR": 1.0,
    "NOK": 8.1,
    "AUD": 55.2,
    "BRL": 15.4,
    "USD": 82.3,
    "EUR": 81.6,
    "IDR": 0.0052,
    "CAD": 60.4,
    "SGD": 59.2,
}
# Daily drift of a generated rate: the standard deviation of its daily log change.
FX_DAILY_SIGMA = 0.003
# When a day's rate is published (the generated rows' created_at and modified_at).
FX_PUBLISHED_AT = dt.time(17, 0)
CURRENCY_BY_COUNTRY = {
    "India": "INR",
    "Norway": "NOK",
    "Australia": "AUD",
    "Brazil": "BRL",
    "United States": "USD",
    "France": "EUR",
    "Germany": "EUR",
    "Spain": "EUR",
    "Indonesia": "IDR",
    "Canada": "CAD",
    "Singapore": "SGD",
    "Netherlands": "EUR",
    "Italy": "EUR",
}

TRANSACTION_MODES = ("UPI", "QR", "Card")
TRANSACTION_MODE_WEIGHTS = (0.45, 0.20, 0.35)
TRANSACTION_REASONS = (
    "Travel",
    "Food & Grocery",
    "Ecom",
    "Exam",
    "Utilities",
    "Healthcare",
    "Entertainment",
    "Fuel",
)
TRANSACTION_REASON_WEIGHTS = (0.12, 0.30, 0.20, 0.05, 0.12, 0.06, 0.08, 0.07)
# Log-normal amount per reason: (median amount, sigma), in DEFAULT_REPORTING_CURRENCY
# units; the generator pays it in the account's currency at FX_BASE_RATES.
TRANSACTION_AMOUNT_PARAMS = {
    "Travel": (4500.0, 0.9),
    "Food & Grocery": (900.0, 0.7),
    "Ecom": (1800.0, 0.9),
    "Exam": (2500.0, 0.5),
    "Utilities": (1500.0, 0.5),
    "Healthcare": (2000.0, 0.9),
    "Entertainment": (800.0, 0.7),
    "Fuel": (1500.0, 0.4),
}
TRANSACTION_TYPES = ("Debit", "Credit")
TRANSACTION_TYPE_WEIGHTS = (0.95, 0.05)
TRANSACTION_STATUSES = ("Success", "Failed")
TRANSACTION_STATUS_WEIGHTS = (0.97, 0.03)
# Mean transactions per customer (Poisson per account, scaled by account share).
TRANSACTIONS_PER_CUSTOMER = 10
TRANSACTION_AMOUNT_RANGE = (0.01, 10_000_000.0)

# Reference day of the generated snapshot: ages, dates and histories are relative to it, so
# the same arguments give the same bytes on any day.
AS_OF = dt.date(2023, 11, 30)
HISTORY_START = dt.datetime(2020, 1, 1)
# Transactions cover the whole calendar months before AS_OF's month (AS_OF's own month is
# not over yet), so no time series starts or ends with a part month.
TRANSACTION_WINDOW_MONTHS = 12
# Payment volume per day by calendar month (January first), relative to an ordinary day:
# a post-holiday dip in January and February, the fiscal year-end in March, Independence
# Day sales in August, the Dussehra/Diwali festive season in October and November, and the
# December holidays. Each month's volume is its intensity times its days.
TRANSACTION_MONTH_INTENSITY = (
    0.94,
    0.92,
    1.02,
    0.97,
    0.99,
    0.96,
    0.98,
    1.04,
    1.00,
    1.12,
    1.10,
    1.18,
)

FIRST_CUSTOMER_ID = 1_000_000_001  # ten digits, as in the seed

# ---------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------
SqlType = Literal["VARCHAR", "DATE", "TIMESTAMP", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL(18,2)"]


@dataclass(frozen=True)
class Column:
    """One column of an entity: its type once mastered, and what the rules know of it."""

    name: str
    type: SqlType = "VARCHAR"
    description: str = ""
    required: bool = False
    values: tuple[str, ...] | None = None
    max_length: int | None = None
    exact_length: int | None = None
    pattern: str | None = None
    value_range: tuple[float, float] | None = None
    pii: str | None = None
    # The rule applies only to rows of this customer type (personal-only attributes).
    personal_only: bool = False
    # A typed source (Parquet) may deliver this integer column as a float; an integer
    # value (839.0) is then stored as '839'. Off: a float column rejects the file.
    integral_float_ok: bool = False
    # Free text (an address line): tab and line breaks are not control characters here.
    free_text: bool = False

    @property
    def source_header(self) -> str:
        """How the source system spells the header: 'Cust First Name' for cust_first_name."""
        return " ".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class ForeignKey:
    column: str
    entity: str
    ref_column: str


@dataclass(frozen=True)
class Entity:
    """A business entity: a landing folder, a raw history table and a mastered table."""

    name: str
    key: str
    columns: tuple[Column, ...]
    description: str
    grain: str
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    # Business-critical categorical columns that the seed's quality job asserts on.
    soda_columns: tuple[str, ...] = ()
    # Columns mastering adds from other mastered tables (not delivered by the source);
    # how each is computed is in `fs_assets/model/cross_entity.py`.
    derived_columns: tuple[Column, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(
            f"{self.name} has no column {name!r}; columns: {', '.join(self.column_names)}"
        )

    @property
    def pii_columns(self) -> dict[str, str]:
        return {c.name: c.pii for c in self.columns if c.pii}


ID10 = r"^[A-Za-z0-9]{10}$"  # the seed's cust_id format; products reuse it
ALPHA = r"^[a-zA-Z]+$"
# The seed's email rule: '^[a-z0-9.]+@[a-z]+\.[a-z]{2,3}'. Kept, anchored at the end too,
# so 'a@b.comX' cannot pass on its prefix.
EMAIL = r"^[a-z0-9.]+@[a-z]+\.[a-z]{2,3}$"
ISO_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"

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
    soda_columns=(
        "cust_segment",
        "sourcing_channel",
        "customer_risk_category",
        "customer_category",
        "customer_privelege",
    ),
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
    ),
)

PRODUCT = Entity(
    name="product",
    key="product_id",
    description="Product catalog: deposit accounts and the credit cards offered for cross-sell.",
    grain="one row per product (product_id), latest version by modified_at",
    soda_columns=("product_type",),
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
    soda_columns=("account_status",),
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
    soda_columns=("currency", "reporting_currency"),
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
    soda_columns=("transaction_mode", "transaction_reason"),
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

# Dependency order: an entity comes after those its foreign keys and lookups point at.
ENTITIES: dict[str, Entity] = {
    e.name: e for e in (CUSTOMER, PRODUCT, ACCOUNT, FX_RATE, TRANSACTION)
}
ENTITY_NAMES = tuple(ENTITIES)


def entity(name: str) -> Entity:
    """Look an entity up by name, with an error that lists the known ones."""
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITY_NAMES)}") from None


# The attributes the seed's update tool lets a user change, per customer type.
PERSONAL_UPDATABLE = (
    "cust_segment",
    "cust_title",
    "customer_category",
    "customer_privelege",
    "customer_type",
    "email_addr",
    "gender",
    "marital_status",
    "minor_flag",
    "mobile_number1",
    "nationality",
    "occupation",
    "senior_citizen_flag",
    "customer_risk_category",
    "afflunce_level",
    "customer_status",
    "customer_addressline1",
    "customer_addressline2",
    "customer_addressline3",
    "city",
    "state",
    "country",
    "pin",
    "country_code",
    "cibil_check_date",
    "cibil_score",
)
ORGANISATION_UPDATABLE = tuple(
    c
    for c in PERSONAL_UPDATABLE
    if c
    not in {
        "cust_title",
        "gender",
        "marital_status",
        "minor_flag",
        "occupation",
        "senior_citizen_flag",
    }
)

OWNER = "team:customer-data"
