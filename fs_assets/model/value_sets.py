"""Accepted values, weights and limits of the entities' columns (the generator draws from
the same tuples the rules accept), and the snapshot's reference dates."""

from __future__ import annotations

import datetime as dt

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

# Marketing permissions (over YES_NO): whether the customer agreed to marketing contact,
# and whether they asked not to be contacted at all (which overrides consent). Not PII.
MARKETING_CONSENT_WEIGHTS = (0.65, 0.35)
DO_NOT_CONTACT_WEIGHTS = (0.06, 0.94)

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

# Ages (in whole years, as of the version's modified_at) of the minor and senior flags.
MINOR_BELOW_AGE = 18
SENIOR_FROM_AGE = 60
# Control characters no text column may hold (C0, DEL and C1). Free text (address lines)
# may keep tab, line feed and carriage return, as ingestion does.
CONTROL_CHARACTERS = r"[\x00-\x1f\x7f-\x9f]"
FREE_TEXT_CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"

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
# Campaigns (the cross-sell campaigns and what happened to each customer contacted)
# ---------------------------------------------------------------------------------------
CAMPAIGN_CHANNELS = ("Email", "SMS", "Branch", "Online")
# The stages of a campaign, in order: each event type follows the one before it.
CAMPAIGN_EVENT_TYPES = ("contacted", "responded", "applied", "kyc_passed", "onboarded")
# Separator of a campaign's target archetypes in one text column.
TARGET_SEPARATOR = ";"
FIRST_CAMPAIGN_EVENT_ID = 10_000_000_000_001  # fourteen digits
