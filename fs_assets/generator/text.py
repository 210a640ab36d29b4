"""Turning numpy columns into arrow string columns, formatted as the landing files need.

Everything is rendered to text once, here, so CSV and Parquet carry the same characters and
the CSV writer never has to format (or quote) a native type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _masked(values: np.ndarray, valid: np.ndarray | None, type_: pa.DataType) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.array(values, type=type_, mask=mask)


def labels(
    values: Sequence[str] | pa.Array, codes: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """`values[code]` per row; null where `valid` is False or the code is negative."""
    dictionary = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    ok = codes >= 0 if valid is None else valid & (codes >= 0)
    # Any integer width will do as take indices; negative ones are masked out.
    return dictionary.take(pa.array(codes, mask=None if ok.all() else ~ok))


def integers(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Plain decimal digits, no separators or padding."""
    return pc.cast(_masked(values.astype(np.int64), valid, pa.int64()), pa.string())


def dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """YYYY-MM-DD from days since 1970-01-01.

    Columns hold far fewer distinct days than rows, so each day is formatted once and taken.
    """
    days = days.astype(np.int32)
    if days.shape[0] == 0:
        return pa.array([], pa.string())
    first = int(days.min())
    calendar = np.arange(first, int(days.max()) + 1, dtype=np.int32)
    if calendar.shape[0] > days.shape[0]:
        return pc.cast(_masked(days, valid, pa.date32()), pa.string())
    formatted = pc.cast(pa.array(calendar, pa.date32()), pa.string())
    return formatted.take(_masked(days - first, valid, pa.int32()))


def timestamps(seconds: np.ndarray) -> pa.Array:
    """YYYY-MM-DD HH:MM:SS from seconds since 1970-01-01 (no time zone)."""
    return pc.cast(pa.array(seconds.astype(np.int64), pa.timestamp("s")), pa.string())


_CENTS = pa.array([f"{c:02d}" for c in range(100)], pa.string())
_SIGNS = pa.array(["", "-"], pa.string())


def money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Exactly two decimals from integer cents, without going through floats.

    Units and cents are rendered separately: casting to decimal128 and then to text is
    about twice as slow.
    """
    cents = cents.astype(np.int64)
    magnitude = np.abs(cents)
    units = integers(magnitude // 100, valid)
    negative = cents < 0
    if negative.any():
        units = pc.binary_join_element_wise(
            _SIGNS.take(pa.array(negative.view(np.int8))), units, ""
        )
    return pc.binary_join_element_wise(units, _CENTS.take(pa.array(magnitude % 100)), ".")


def longest(values: pa.Array) -> int:
    """Length in bytes of the longest value (0 when empty); reads only the offsets."""
    return pc.max(pc.binary_length(values)).as_py() or 0


def truncate(values: pa.Array, length: int) -> pa.Array:
    """At most `length` characters; free when every value is short enough already."""
    if longest(values) <= length:
        return values
    return pc.utf8_slice_codeunits(values, 0, length)
