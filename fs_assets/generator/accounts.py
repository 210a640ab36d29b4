"""Accounts: a deposit account for every customer, credit cards for some, by CIBIL score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fs_assets.generator import text
from fs_assets.generator.customers import CustomerChunk
from fs_assets.generator.sampling import (
    AS_OF_SECONDS,
    DAY_SECONDS,
    uniform_below,
    uniform_index,
    weighted_codes,
)
from fs_assets.model.places import COUNTRIES
from fs_assets.model.products import PRODUCT_CATALOG
from fs_assets.model.value_sets import (
    ACCOUNT_STATUS_WEIGHTS,
    ACCOUNT_STATUSES,
    ACCOUNTS_PER_CUSTOMER,
    ACCOUNTS_PER_CUSTOMER_WEIGHTS,
    CURRENCIES,
    CURRENCY_BY_COUNTRY,
)

FIRST_ACCOUNT_ID = 100_000_000_000  # twelve digits
# Balances: deposits log-normal around this median (currency units); card balances are an
# outstanding amount, up to this share of the limit; closed accounts hold nothing.
DEPOSIT_BALANCE_MEDIAN = 25_000.0
DEPOSIT_BALANCE_SIGMA = 1.2
CARD_UTILISATION_MAX = 0.8
BALANCE_MAX_CENTS = 1_000_000_000 * 100

_PRODUCT_TEXT = pa.array([p.product_id for p in PRODUCT_CATALOG], pa.string())
_SAVINGS = np.array(
    [i for i, p in enumerate(PRODUCT_CATALOG) if p.product_type == "Savings Account"]
)
_BUSINESS = next(i for i, p in enumerate(PRODUCT_CATALOG) if p.product_name == "Business Current")
# Cards in order of their minimum score, so the eligible ones are a prefix of the list.
_CARDS = sorted(
    (i for i, p in enumerate(PRODUCT_CATALOG) if p.product_type == "Credit Card"),
    key=lambda i: PRODUCT_CATALOG[i].min_cibil_score,
)
_CARD_ORDER = np.array(_CARDS)
_CARD_MIN_SCORE = np.array([PRODUCT_CATALOG[i].min_cibil_score for i in _CARDS])
_IS_CARD = np.array([p.product_type == "Credit Card" for p in PRODUCT_CATALOG])
_LIMIT_CENTS = np.array([round((p.credit_limit or 0.0) * 100) for p in PRODUCT_CATALOG])
_CURRENCY_OF_COUNTRY = np.array([CURRENCIES.index(CURRENCY_BY_COUNTRY[c]) for c in COUNTRIES])
_CLOSED = ACCOUNT_STATUSES.index("Closed")
# Transactions happen only on accounts that are still in use.
_TRANSACTING = np.array([s in ("Active", "Dormant") for s in ACCOUNT_STATUSES])


@dataclass(frozen=True)
class AccountChunk:
    """The written columns plus what transactions need of each account."""

    columns: dict[str, pa.Array]
    account_id: pa.Array
    cust_id: pa.Array
    currency: np.ndarray  # index into CURRENCIES
    transacting: np.ndarray
    created_s: np.ndarray

    @property
    def size(self) -> int:
        return len(self.account_id)


def draw_account_counts(rng: np.random.Generator, customers: int) -> np.ndarray:
    """Accounts per customer; drawn before the accounts so their ids can be numbered."""
    codes = weighted_codes(rng, ACCOUNTS_PER_CUSTOMER_WEIGHTS, customers)
    return np.asarray(ACCOUNTS_PER_CUSTOMER, dtype=np.int64)[codes]


def build_accounts(
    rng: np.random.Generator,
    first_account: int,
    customers: CustomerChunk,
    per_customer: np.ndarray,
) -> AccountChunk:
    """`per_customer` accounts for each customer, numbered from FIRST_ACCOUNT_ID + first."""
    owner = np.repeat(np.arange(customers.size), per_customer)
    n = owner.shape[0]
    first_of_owner = np.cumsum(per_customer) - per_customer
    slot = np.arange(n) - first_of_owner[owner]

    personal = customers.personal[owner]
    eligible_cards = np.searchsorted(_CARD_MIN_SCORE, customers.cibil_score[owner], side="right")
    card = _CARD_ORDER[uniform_index(rng, eligible_cards, n)]
    savings = _SAVINGS[uniform_index(rng, len(_SAVINGS), n)]
    # With no eligible card, a further account is another deposit account like the first.
    deposit = np.where(personal, savings, _BUSINESS)
    product = np.where((slot > 0) & (eligible_cards > 0), card, deposit)
    is_card = _IS_CARD[product]

    status = weighted_codes(rng, ACCOUNT_STATUS_WEIGHTS, n)
    limit = _LIMIT_CENTS[product]
    deposit_balance = (
        DEPOSIT_BALANCE_MEDIAN * 100 * np.exp(DEPOSIT_BALANCE_SIGMA * rng.standard_normal(n))
    )
    card_balance = -(rng.random(n) * CARD_UTILISATION_MAX * limit)
    balance = np.rint(np.where(is_card, card_balance, deposit_balance))
    balance = np.minimum(balance, BALANCE_MAX_CENTS).astype(np.int64)
    balance[status == _CLOSED] = 0

    # The first account opens with the customer; later ones any time up to the snapshot.
    customer_created = customers.created_s[owner]
    later = customer_created + uniform_below(rng, AS_OF_SECONDS - customer_created)
    created = np.where(slot == 0, customer_created, later)
    modified = created + uniform_below(rng, AS_OF_SECONDS - created)

    account_id = text.integers(FIRST_ACCOUNT_ID + first_account + np.arange(n, dtype=np.int64))
    cust_id = customers.cust_id.take(pa.array(owner))
    currency = _CURRENCY_OF_COUNTRY[customers.country[owner]]
    columns = {
        "account_id": account_id,
        "cust_id": cust_id,
        "product_id": _PRODUCT_TEXT.take(pa.array(product)),
        "account_status": text.labels(ACCOUNT_STATUSES, status),
        "open_date": text.dates(created // DAY_SECONDS),
        "currency": text.labels(CURRENCIES, currency),
        "credit_limit": text.money(limit, is_card),
        "current_balance": text.money(balance),
        "created_at": text.timestamps(created),
        "modified_at": text.timestamps(modified),
    }
    return AccountChunk(
        columns=columns,
        account_id=account_id,
        cust_id=cust_id,
        currency=currency,
        transacting=_TRANSACTING[status],
        created_s=created,
    )


def expected_accounts_per_customer() -> float:
    """Mean of ACCOUNTS_PER_CUSTOMER under its weights."""
    weights = np.asarray(ACCOUNTS_PER_CUSTOMER_WEIGHTS, dtype=np.float64)
    return float(np.dot(ACCOUNTS_PER_CUSTOMER, weights) / weights.sum())


def transacting_share() -> float:
    """Share of accounts whose status allows transactions."""
    weights = np.asarray(ACCOUNT_STATUS_WEIGHTS, dtype=np.float64)
    return float(weights[_TRANSACTING].sum() / weights.sum())
