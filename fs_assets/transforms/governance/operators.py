"""Mask operators: each turns one column into the DuckDB SQL expression a role reads.

The expressions end up in `CREATE VIEW` statements, which DuckDB cannot prepare (no `?`
parameters in a view body). So no text from a policy file is ever spliced into SQL: the
only values that reach an expression are the column identifier (from the entity model,
quoted) and members of the closed sets below, checked again here even though the policy
loader already rejected anything else.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from fs_assets.model.columns import Column
from fs_assets.model.rules import q
from fs_assets.transforms.governance.masking_key import hmac_sql

HASH = "hash"
BUCKET_DATE = "bucket_date"
PASS_THROUGH = "pass_through"
REDACT = "redact"
OPERATORS = (HASH, BUCKET_DATE, PASS_THROUGH, REDACT)

# Algorithm names a policy may ask for. Only the keyed hash: an unkeyed sha256 of a short
# value (a mobile number, a PIN, a surname) is reversed by hashing every candidate.
HMAC_SHA256 = "hmac-sha256"
HASH_ALGOS = (HMAC_SHA256,)
DATE_PRECISIONS = ("quarter", "month", "year")
DATE_TYPES = ("DATE", "TIMESTAMP")
TEXT_TYPES = ("VARCHAR",)
REDACTED_TEXT = "[REDACTED]"


@dataclass(frozen=True)
class MaskedColumn:
    """A select-list expression and the type it yields (a hash turns any column to text)."""

    sql: str
    type: str


def _member(value: str, allowed: Mapping[str, str] | tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(allowed)}")
    return value


def hash_sql(col: Column, algo: str = HMAC_SHA256) -> MaskedColumn:
    """HMAC-SHA256 hex of the value as text under the session's masking key.

    Deterministic within one key, so equal values (join keys) stay equal in one export;
    without the key, guessing a value means guessing the key (see masking_key.py).
    """
    _member(algo, HASH_ALGOS, "hash algo")
    return MaskedColumn(hmac_sql(f"cast({q(col.name)} as varchar)"), "VARCHAR")


def token_sql(col: Column) -> MaskedColumn:
    """A join key for a role without clear PII: the same keyed hash, so tables still join."""
    return hash_sql(col)


def bucket_date_sql(col: Column, precision: str) -> MaskedColumn:
    """The first day of the value's quarter, month or year, in the column's own type."""
    unit = _member(precision, DATE_PRECISIONS, "date precision")
    if col.type not in DATE_TYPES:
        raise ValueError(f"bucket_date needs a DATE or TIMESTAMP column; {col.name} is {col.type}")
    # date_trunc on a DATE yields a TIMESTAMP; cast back so the view keeps the column's type.
    return MaskedColumn(f"cast(date_trunc('{unit}', {q(col.name)}) as {col.type})", col.type)


def pass_through_sql(col: Column) -> MaskedColumn:
    return MaskedColumn(q(col.name), col.type)


def redact_sql(col: Column) -> MaskedColumn:
    """Default deny: fixed text for text columns, NULL of the column's type for the rest."""
    if col.type in TEXT_TYPES:
        return MaskedColumn(f"'{REDACTED_TEXT}'", col.type)
    return MaskedColumn(f"cast(null as {col.type})", col.type)


def mask_sql(col: Column, operator: str, options: Mapping[str, str] | None = None) -> MaskedColumn:
    """Dispatch on the operator name of a policy's mask."""
    options = options or {}
    if operator == HASH:
        return hash_sql(col, options.get("algo", HMAC_SHA256))
    if operator == BUCKET_DATE:
        return bucket_date_sql(col, options["precision"])
    if operator == PASS_THROUGH:
        return pass_through_sql(col)
    if operator == REDACT:
        return redact_sql(col)
    raise ValueError(f"unknown operator {operator!r}; known: {', '.join(OPERATORS)}")
