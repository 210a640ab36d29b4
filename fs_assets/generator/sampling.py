"""Vectorised random draws shared by the entity builders.

Every helper takes the caller's numpy `Generator`, so one seeded stream per chunk and entity
decides everything and the same arguments give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np

from fs_assets.model.value_sets import AS_OF

EPOCH = dt.date(1970, 1, 1)
DAY_SECONDS = 86_400


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01: the integer form arrow's date32 stores."""
    return (day - EPOCH).days


def second_number(moment: dt.datetime) -> int:
    """Seconds since 1970-01-01 00:00:00 (naive, no time zone): arrow's timestamp[s]."""
    return int((moment - dt.datetime(1970, 1, 1)).total_seconds())


# The snapshot ends at the start of the AS_OF day, so nothing generated lies after it.
AS_OF_SECONDS = second_number(dt.datetime.combine(AS_OF, dt.time()))


def month_numbers(day: dt.date, months: int) -> list[int]:
    """Calendar months (1-12) of the `months` whole months before `day`'s month, oldest first."""
    first = day.year * 12 + day.month - 1 - months
    return [(first + k) % 12 + 1 for k in range(months)]


def month_starts(day: dt.date, months: int) -> np.ndarray:
    """Seconds of the first instant of each of those months, and of `day`'s month (the end)."""
    first = day.year * 12 + day.month - 1 - months
    return np.array(
        [
            second_number(dt.datetime((first + k) // 12, (first + k) % 12 + 1, 1))
            for k in range(months + 1)
        ],
        dtype=np.int64,
    )


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier; 29 February falls back to the 28th."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def weighted_codes(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """Indexes into `weights`, drawn with the weights normalised (like `random.choices`)."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    cdf /= cdf[-1]
    draws = rng.random(n)
    # A pass per edge beats searchsorted's per-row binary search for these few categories.
    codes = np.zeros(n, dtype=np.int8)
    for edge in cdf[:-1]:
        codes += draws >= edge
    return codes


def uniform_ints(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """Integers uniform in [low, high], both ends included (like `random.randint`)."""
    return rng.integers(low, high, size=n, endpoint=True, dtype=np.int64)


def uniform_index(rng: np.random.Generator, sizes: np.ndarray | int, n: int) -> np.ndarray:
    """Per-row integers uniform in [0, size); 0 where size is 0.

    Faster than `integers` with an array bound. The clamp guards the float product
    rounding up to `size` itself.
    """
    scaled = (rng.random(n) * sizes).astype(np.int64)
    return np.minimum(scaled, np.maximum(np.asarray(sizes, dtype=np.int64) - 1, 0))


def uniform_below(rng: np.random.Generator, spans: np.ndarray) -> np.ndarray:
    """Per-row integers uniform in [0, spans], both ends included."""
    return uniform_index(rng, spans + 1, spans.shape[0])


def grouped_choice(
    rng: np.random.Generator,
    groups: np.ndarray,
    options: Sequence[Sequence[int]],
) -> np.ndarray:
    """Per row, a uniform pick from `options[group]`; -1 where that group has no options.

    This is `random.choice(mapping[key])` for a whole column at once.
    """
    lengths = np.array([len(o) for o in options], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    flat = np.array([v for o in options for v in o] or [0], dtype=np.int64)
    row_len = lengths[groups]
    picks = offsets[groups] + uniform_index(rng, row_len, groups.shape[0])
    return np.where(row_len > 0, flat[np.minimum(picks, flat.shape[0] - 1)], -1)


def exact_shares(
    rng: np.random.Generator, shares: Sequence[float], n: int, remainder: int
) -> np.ndarray:
    """Codes with exactly int(n * share) rows each, the rest `remainder`, shuffled.

    The seed fills lists by exact counts and shuffles them rather than drawing per row.
    """
    counts = [int(n * s) for s in shares]
    codes = np.repeat(np.arange(len(shares), dtype=np.int8), counts)
    codes = np.concatenate((codes, np.full(n - codes.shape[0], remainder, dtype=np.int8)))
    return rng.permutation(codes)
