"""Transactions: Poisson counts per account in use, log-normal amounts per spend reason.

Timing: the window is whole calendar months, and each month's volume follows the calendar
(TRANSACTION_MONTH_INTENSITY), not the number of accounts open. A month's volume is shared
among the accounts open in it, so accounts opened during the window take a share of a
steady customer base's payments instead of piling theirs into the window's last months,
and no transaction precedes its account's opening.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from fs_assets.entities import (
    AS_OF,
    CURRENCIES,
    TRANSACTION_AMOUNT_PARAMS,
    TRANSACTION_AMOUNT_RANGE,
    TRANSACTION_MODE_WEIGHTS,
    TRANSACTION_MODES,
    TRANSACTION_MONTH_INTENSITY,
    TRANSACTION_REASON_WEIGHTS,
    TRANSACTION_REASONS,
    TRANSACTION_STATUS_WEIGHTS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPE_WEIGHTS,
    TRANSACTION_TYPES,
    TRANSACTION_WINDOW_MONTHS,
    TRANSACTIONS_PER_CUSTOMER,
)
from fs_assets.generator import text
from fs_assets.generator.accounts import (
    AccountChunk,
    expected_accounts_per_customer,
    transacting_share,
)
from fs_assets.generator.sampling import month_numbers, month_starts, uniform_below, weighted_codes

FIRST_TRANSACTION_ID = 1_000_000_000_000_000  # sixteen digits
# Per account in use, so that customers average TRANSACTIONS_PER_CUSTOMER transactions.
RATE_PER_ACCOUNT = TRANSACTIONS_PER_CUSTOMER / (
    expected_accounts_per_customer() * transacting_share()
)
# Edges of the window's months in seconds: month m is [EDGES[m], EDGES[m + 1]).
MONTH_EDGES = month_starts(AS_OF, TRANSACTION_WINDOW_MONTHS)
_MONTH_SECONDS = np.diff(MONTH_EDGES)
# Share of a year's transactions that falls in each window month: intensity times length.
_MONTH_SHARE = _MONTH_SECONDS * np.array(
    [
        TRANSACTION_MONTH_INTENSITY[month - 1]
        for month in month_numbers(AS_OF, TRANSACTION_WINDOW_MONTHS)
    ]
)
_MONTH_SHARE = _MONTH_SHARE / _MONTH_SHARE.sum()

_LOG_MEDIAN = np.log([TRANSACTION_AMOUNT_PARAMS[r][0] for r in TRANSACTION_REASONS])
_SIGMA = np.array([TRANSACTION_AMOUNT_PARAMS[r][1] for r in TRANSACTION_REASONS])
_MIN_CENTS, _MAX_CENTS = (round(v * 100) for v in TRANSACTION_AMOUNT_RANGE)


def monthly_rates(accounts: AccountChunk) -> np.ndarray:
    """Expected transactions per account (rows) and window month (columns).

    An account in use gets a month's rate in proportion to the part of the month it was
    open; the rates are scaled so that the chunk's accounts together make that month's
    share of the year (RATE_PER_ACCOUNT a year per account in use, on average).
    """
    created = accounts.created_s[:, None]
    open_s = np.clip(MONTH_EDGES[1:] - np.maximum(MONTH_EDGES[:-1], created), 0, None)
    open_part = open_s / _MONTH_SECONDS * accounts.transacting[:, None]
    in_use = max(int(accounts.transacting.sum()), 1)
    mean_open = open_part.sum(axis=0) / in_use
    scale = np.divide(
        RATE_PER_ACCOUNT * _MONTH_SHARE,
        mean_open,
        out=np.zeros_like(mean_open),
        where=mean_open > 0,
    )
    return open_part * scale


def draw_transaction_counts(rng: np.random.Generator, accounts: AccountChunk) -> np.ndarray:
    """Transactions per account (none on closed ones); drawn first so ids can be numbered."""
    return rng.poisson(monthly_rates(accounts).sum(axis=1))


def build_transactions(
    rng: np.random.Generator,
    first_transaction: int,
    accounts: AccountChunk,
    counts: np.ndarray,
) -> dict[str, pa.Array]:
    """`counts` transactions per account, numbered from FIRST_TRANSACTION_ID + first."""
    account = np.repeat(np.arange(accounts.size), counts)
    n = account.shape[0]

    # A month in proportion to the account's rates, then uniform over the part of that
    # month the account was open.
    cdf = np.cumsum(monthly_rates(accounts), axis=1)
    cdf /= np.maximum(cdf[:, -1:], np.finfo(np.float64).tiny)
    edges = np.ascontiguousarray(cdf[:, :-1].T)  # one row per month edge: fast gathers
    draws = rng.random(n)
    month = np.zeros(n, dtype=np.int8)
    for edge in edges:
        month += draws >= edge[account]
    start = np.maximum(MONTH_EDGES[month], accounts.created_s[account])
    ts = start + uniform_below(rng, MONTH_EDGES[month + 1] - 1 - start)
    reason = weighted_codes(rng, TRANSACTION_REASON_WEIGHTS, n)
    log_amount = _LOG_MEDIAN[reason] + _SIGMA[reason] * rng.standard_normal(n)
    cents = np.clip(np.rint(np.exp(log_amount) * 100), _MIN_CENTS, _MAX_CENTS)
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
