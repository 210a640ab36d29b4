"""Daily fx rates: every currency, every day of the transaction window, to one currency.

Each rate starts at its plausible level (FX_BASE_RATES) and drifts by a small random log
change a day, from its own seeded stream, so the same seed gives the same bytes and the
other entities' streams are untouched. The reporting currency's own rate is 1 every day.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fs_assets.generator import text
from fs_assets.generator.sampling import DAY_SECONDS
from fs_assets.generator.timing import MONTH_EDGES
from fs_assets.model.value_sets import (
    CURRENCIES,
    DEFAULT_REPORTING_CURRENCY,
    FX_BASE_RATES,
    FX_DAILY_SIGMA,
    FX_PUBLISHED_AT,
)

# A stream of its own: the customer, account and transaction streams are spawned from the
# bare seed, this one from (seed, FX_STREAM).
FX_STREAM = 0xF0
SIGNIFICANT_DIGITS = 6


def window_days() -> np.ndarray:
    """Days (since 1970-01-01) of the transaction window, first to last."""
    return np.arange(MONTH_EDGES[0] // DAY_SECONDS, MONTH_EDGES[-1] // DAY_SECONDS)


def build_fx_rates(
    seed: int, reporting_currency: str = DEFAULT_REPORTING_CURRENCY
) -> dict[str, pa.Array]:
    """One row per currency and window day: units of `reporting_currency` per unit."""
    rng = np.random.default_rng([seed, FX_STREAM])
    days = window_days()
    steps = rng.normal(0.0, FX_DAILY_SIGMA, size=(len(CURRENCIES), days.shape[0]))
    steps[:, 0] = 0.0
    rates = base_rates(reporting_currency)[:, None] * np.exp(np.cumsum(steps, axis=1))
    return rate_columns(days, rates, reporting_currency)


def day_rates(
    rng: np.random.Generator, day: int, reporting_currency: str = DEFAULT_REPORTING_CURRENCY
) -> dict[str, pa.Array]:
    """The rates of one later day (days since 1970-01-01), e.g. a simulated business day:
    each currency near its plausible level, a day's drift away from it."""
    steps = rng.normal(0.0, FX_DAILY_SIGMA, size=(len(CURRENCIES), 1))
    rates = base_rates(reporting_currency)[:, None] * np.exp(steps)
    return rate_columns(np.array([day]), rates, reporting_currency)


def base_rates(reporting_currency: str) -> np.ndarray:
    """Each currency's plausible level, in units of the reporting currency."""
    base = np.array([FX_BASE_RATES[c] for c in CURRENCIES])
    return base / FX_BASE_RATES[reporting_currency]


def rate_columns(
    days: np.ndarray, rates: np.ndarray, reporting_currency: str
) -> dict[str, pa.Array]:
    """The fx_rate columns for `rates` (currency x day), as landing text."""
    currencies = np.array(CURRENCIES)
    # Quoted against itself, a currency is worth exactly one unit, whatever the drift.
    rates[currencies == reporting_currency, :] = 1.0
    day_col = np.tile(days, len(CURRENCIES))
    currency_col = np.repeat(np.arange(len(CURRENCIES)), days.shape[0])
    day_text = text.dates(day_col)
    currency_text = text.labels(CURRENCIES, currency_col)
    published = second_of_day(FX_PUBLISHED_AT)
    stamps = text.timestamps(day_col.astype(np.int64) * DAY_SECONDS + published)
    formatted = [f"{r:.{SIGNIFICANT_DIGITS}g}" for r in rates.ravel()]
    return {
        "fx_rate_id": pc.binary_join_element_wise(currency_text, day_text, ":"),
        "rate_date": day_text,
        "currency": currency_text,
        "reporting_currency": pa.array([reporting_currency] * len(formatted), pa.string()),
        "rate": pa.array(formatted, pa.string()),
        "created_at": stamps,
        "modified_at": stamps,
    }


def second_of_day(moment: dt.time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second
