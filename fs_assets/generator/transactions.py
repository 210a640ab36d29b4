"""Transactions: Poisson counts per account in use, log-normal amounts per spend reason.

When they happen (whole calendar months, seasonality, after the account opened) is
`timing.py`'s job.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fs_assets.generator import text
from fs_assets.generator.accounts import (
    AccountChunk,
    expected_accounts_per_customer,
    transacting_share,
)
from fs_assets.generator.sampling import weighted_codes
from fs_assets.generator.timing import MonthlyRates, transaction_times
from fs_assets.model.value_sets import (
    CURRENCIES,
    FX_BASE_RATES,
    TRANSACTION_AMOUNT_PARAMS,
    TRANSACTION_AMOUNT_RANGE,
    TRANSACTION_MODE_WEIGHTS,
    TRANSACTION_MODES,
    TRANSACTION_REASON_WEIGHTS,
    TRANSACTION_REASONS,
    TRANSACTION_STATUS_WEIGHTS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPE_WEIGHTS,
    TRANSACTION_TYPES,
    TRANSACTIONS_PER_CUSTOMER,
)

FIRST_TRANSACTION_ID = 1_000_000_000_000_000  # sixteen digits
# Per account in use, so that customers average TRANSACTIONS_PER_CUSTOMER transactions.
RATE_PER_ACCOUNT = TRANSACTIONS_PER_CUSTOMER / (
    expected_accounts_per_customer() * transacting_share()
)
_LOG_MEDIAN = np.log([TRANSACTION_AMOUNT_PARAMS[r][0] for r in TRANSACTION_REASONS])
_SIGMA = np.array([TRANSACTION_AMOUNT_PARAMS[r][1] for r in TRANSACTION_REASONS])
_MIN_CENTS, _MAX_CENTS = (round(v * 100) for v in TRANSACTION_AMOUNT_RANGE)
# Amounts are drawn in DEFAULT_REPORTING_CURRENCY units and paid in the account's currency
# at its base rate, so a coffee costs about the same whatever the currency.
_UNITS_PER_REPORTING = np.array([1.0 / FX_BASE_RATES[c] for c in CURRENCIES])


def draw_transaction_counts(rng: np.random.Generator, accounts: AccountChunk) -> np.ndarray:
    """Transactions per account (none on closed ones); drawn first so ids can be numbered."""
    return rng.poisson(MonthlyRates.of(accounts, RATE_PER_ACCOUNT).per_account(accounts))


def build_transactions(
    rng: np.random.Generator,
    first_transaction: int,
    accounts: AccountChunk,
    counts: np.ndarray,
) -> dict[str, pa.Array]:
    """`counts` transactions per account, numbered from FIRST_TRANSACTION_ID + first."""
    account = np.repeat(np.arange(accounts.size), counts)
    n = account.shape[0]

    ts = transaction_times(rng, MonthlyRates.of(accounts, RATE_PER_ACCOUNT), accounts, account)
    reason = weighted_codes(rng, TRANSACTION_REASON_WEIGHTS, n)
    log_amount = _LOG_MEDIAN[reason] + _SIGMA[reason] * rng.standard_normal(n)
    local = np.exp(log_amount) * 100 * _UNITS_PER_REPORTING[accounts.currency[account]]
    cents = np.clip(np.rint(local), _MIN_CENTS, _MAX_CENTS)
    mode = weighted_codes(rng, TRANSACTION_MODE_WEIGHTS, n)
    kind = weighted_codes(rng, TRANSACTION_TYPE_WEIGHTS, n)
    status = weighted_codes(rng, TRANSACTION_STATUS_WEIGHTS, n)

    ids = FIRST_TRANSACTION_ID + first_transaction + np.arange(n, dtype=np.int64)
    rows = pa.array(account)
    ts_text = text.timestamps(ts)
    return {
        "transaction_id": text.integers(ids),
        "account_id": accounts.account_id.take(rows),
        "cust_id": accounts.cust_id.take(rows),
        "transaction_ts": ts_text,
        "amount": text.money(cents.astype(np.int64)),
        "currency": text.labels(CURRENCIES, accounts.currency[account]),
        "transaction_mode": text.labels(TRANSACTION_MODES, mode),
        "transaction_reason": text.labels(TRANSACTION_REASONS, reason),
        "transaction_type": text.labels(TRANSACTION_TYPES, kind),
        "transaction_status": text.labels(TRANSACTION_STATUSES, status),
        "created_at": ts_text,
        "modified_at": ts_text,
    }
