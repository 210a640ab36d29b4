"""When transactions happen: whole calendar months, the calendar's seasonality, open accounts.

The window is the TRANSACTION_WINDOW_MONTHS whole months before AS_OF's month. Each month's
volume follows TRANSACTION_MONTH_INTENSITY, not the number of accounts open: a month's
volume is shared among the accounts in use that were open in it, in proportion to the part
of the month they were open. So accounts opened during the window take a share of a
steady customer base's payments instead of piling a year's worth into its last months,
and no transaction precedes its account's opening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fs_assets.generator.accounts import AccountChunk
from fs_assets.generator.sampling import month_numbers, month_starts, uniform_below
from fs_assets.model.value_sets import AS_OF, TRANSACTION_MONTH_INTENSITY, TRANSACTION_WINDOW_MONTHS

# Edges of the window's months in seconds: month m is [MONTH_EDGES[m], MONTH_EDGES[m + 1]).
MONTH_EDGES = month_starts(AS_OF, TRANSACTION_WINDOW_MONTHS)
_MONTH_SECONDS = np.diff(MONTH_EDGES)
# Share of a year's transactions that falls in each window month: intensity times length.
_WEIGHT = _MONTH_SECONDS * np.array(
    [TRANSACTION_MONTH_INTENSITY[m - 1] for m in month_numbers(AS_OF, TRANSACTION_WINDOW_MONTHS)]
)
MONTH_SHARE = _WEIGHT / _WEIGHT.sum()


@dataclass(frozen=True)
class MonthlyRates:
    """Expected transactions per account and month for one chunk of accounts.

    Accounts in use opened before the window all have the same rates (`full`); only those
    opened during it (`late`, sorted indexes) need a row of their own (`late_rates`).
    """

    full: np.ndarray  # (months,)
    late: np.ndarray  # (k,) account indexes
    late_rates: np.ndarray  # (k, months)

    @classmethod
    def of(cls, accounts: AccountChunk, per_year: float) -> MonthlyRates:
        """Rates that give each month its share of `per_year` per account in use."""
        in_use = accounts.transacting
        late = np.flatnonzero(in_use & (accounts.created_s > MONTH_EDGES[0]))
        created = accounts.created_s[late, None]
        open_s = np.clip(MONTH_EDGES[1:] - np.maximum(MONTH_EDGES[:-1], created), 0, None)
        open_part = open_s / _MONTH_SECONDS
        n_in_use = int(in_use.sum())
        # Mean open part of a month over the accounts in use: early ones count whole.
        mean_open = (n_in_use - late.shape[0] + open_part.sum(axis=0)) / max(n_in_use, 1)
        full = np.divide(
            per_year * MONTH_SHARE, mean_open, out=np.zeros_like(mean_open), where=mean_open > 0
        )
        return cls(full, late, open_part * full)

    def per_account(self, accounts: AccountChunk) -> np.ndarray:
        """Expected transactions of each account over the window."""
        expected = np.where(accounts.transacting, self.full.sum(), 0.0)
        expected[self.late] = self.late_rates.sum(axis=1)
        return expected


def _month_codes(draws: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Month indexes for uniform draws under one cumulative distribution (a pass per edge)."""
    codes = np.zeros(draws.shape[0], dtype=np.int64)
    for edge in cdf[:-1]:
        codes += draws >= edge
    return codes


def transaction_times(
    rng: np.random.Generator, rates: MonthlyRates, accounts: AccountChunk, account: np.ndarray
) -> np.ndarray:
    """Seconds of each transaction of `account` (row indexes into `accounts`).

    A month in proportion to the account's rates, then uniform over the part of that month
    the account was open.
    """
    draws = rng.random(account.shape[0])
    total = rates.full.sum()
    month = _month_codes(draws, np.cumsum(rates.full) / total) if total > 0 else account * 0
    if rates.late.shape[0]:
        is_late = np.zeros(accounts.size, dtype=bool)
        is_late[rates.late] = True
        rows = np.flatnonzero(is_late[account])
        position = np.searchsorted(rates.late, account[rows])
        cdf = np.cumsum(rates.late_rates, axis=1)
        cdf /= np.maximum(cdf[:, -1:], np.finfo(np.float64).tiny)
        late_draws = draws[rows]
        late_month = np.zeros(rows.shape[0], dtype=np.int64)
        for edge in np.ascontiguousarray(cdf[:, :-1].T):
            late_month += late_draws >= edge[position]
        month[rows] = late_month
    start = np.maximum(MONTH_EDGES[month], accounts.created_s[account])
    return start + uniform_below(rng, MONTH_EDGES[month + 1] - 1 - start)
