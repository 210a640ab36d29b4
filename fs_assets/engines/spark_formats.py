"""A source's strptime layouts as Spark datetime patterns, so its files read the same.

A mapping file writes its dates the way DuckDB's `try_strptime` reads them (`%d/%m/%Y`);
the shared SQL passes the layout as a `?` parameter (`model.columns.TextFormat`). The
Spark engine binds the translated pattern instead (`spark_params`), and `portable`
turns `try_strptime` into `try_to_timestamp`. The translation keeps DuckDB's reading:

- a field written alone parses one or two digits (`%d` reads `1` and `01`, as DuckDB
  does), so it becomes Spark's one-letter form (`d`); next to another field with no
  separator between them it needs its width (`%Y%m%d` -> `yyyyMMdd`);
- `%Y` reads one to four digits (`y`; the years Spark would read beyond that are cut
  off in `portable`, where DuckDB reads none);
- every other character is literal text, quoted, so a letter never becomes a field.

One difference remains, on malformed text only: with no separator between two fields,
DuckDB reads a short text greedily (`%Y%m%d` reads `1990021` as 1990-02-01), Spark's
fixed widths refuse it, so such a row is quarantined on Spark.

A directive outside this list has no translation checked to read the same on both
engines, so it is refused by name (`UntranslatableFormat`), before any file is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from fs_assets.model.columns import TextFormat

# strptime directive -> (Spark letter read alone, fixed width next to another field).
_FIELDS: dict[str, tuple[str, str]] = {
    "Y": ("y", "yyyy"),
    "m": ("M", "MM"),
    "d": ("d", "dd"),
    "H": ("H", "HH"),
    "M": ("m", "mm"),
    "S": ("s", "ss"),
}
# DuckDB's unpadded spellings read the same as the padded ones.
_FIELDS.update({f"-{k}": v for k, v in _FIELDS.items() if k != "Y"})
SUPPORTED = (*(f"%{k}" for k in _FIELDS), "%%")


class UntranslatableFormat(ValueError):
    """A strptime layout with a directive the Spark engine has no pattern for."""


def _tokens(fmt: str) -> list[tuple[bool, str]]:
    """(is a field, directive or literal text) in order; literal runs joined."""
    tokens: list[tuple[bool, str]] = []
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            text, i = fmt[i], i + 1
        else:
            directive = fmt[i + 1 : i + 3] if fmt[i + 1 : i + 2] == "-" else fmt[i + 1 : i + 2]
            if directive == "%":
                text, i = "%", i + 2
            elif directive in _FIELDS:
                tokens.append((True, directive))
                i += 1 + len(directive)
                continue
            else:
                raise UntranslatableFormat(
                    f"the date layout {fmt!r} uses %{directive or ''} (at position {i}), "
                    f"which the Spark engine does not read; it reads {', '.join(SUPPORTED)} "
                    "and literal text. Write the mapping's date_format / timestamp_format "
                    "with those, or build this source with the DuckDB engine (the default)."
                )
        if tokens and not tokens[-1][0]:
            tokens[-1] = (False, tokens[-1][1] + text)
        else:
            tokens.append((False, text))
    return tokens


def spark_pattern(fmt: str) -> str:
    """The Spark datetime pattern that reads what the strptime layout `fmt` reads."""
    tokens = _tokens(fmt)
    if not any(is_field for is_field, _ in tokens):
        raise UntranslatableFormat(f"the date layout {fmt!r} holds no field (%Y, %m, %d, ...)")
    parts = []
    for n, (is_field, value) in enumerate(tokens):
        if not is_field:
            parts.append("'" + value.replace("'", "''") + "'")
            continue
        alone, fixed = _FIELDS[value]
        touching = any(
            0 <= j < len(tokens) and tokens[j][0] for j in (n - 1, n + 1)
        )  # no separator on one side: the width tells the two fields apart
        parts.append(fixed if touching else alone)
    return "".join(parts)


def spark_params(params: Sequence[object] | None) -> list[object] | None:
    """The statement's parameters with every strptime layout as its Spark pattern."""
    if not params:
        return None
    return [spark_pattern(p) if isinstance(p, TextFormat) else p for p in params]
