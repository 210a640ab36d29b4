"""The customer-update tool: change attributes of one customer by landing a change file.

As in the seed, the tool reads the customer's current version, applies the changes,
stamps `modified_at` and writes the customer's full row as a new file into the landing
zone; the pipeline picks it up like any other source file. Unlike the seed:
- the customer id is a query parameter, never formatted into SQL (the seed built its
  query with str.format from user input);
- field names and values are validated against the entity model with the same SQL rules
  mastering applies, before anything is written;
- the file is written under a temporary name and renamed, so no reader sees half of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.entities import (
    CUSTOMER,
    ID10,
    ORGANISATION_UPDATABLE,
    PERSONAL_UPDATABLE,
)
from fs_assets.paths import DataPaths
from fs_assets.rules import RULES, failed_rules_sql, q
from resources.warehouse import connect_with_retry


class UpdateError(ValueError):
    """A change that cannot be made; the message says what to do instead."""


@dataclass(frozen=True)
class UpdateResult:
    cust_id: str
    changes: dict[str, tuple[str | None, str]]
    path: Path


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['city=Pune', 'pin=411001'] -> {'city': 'Pune', 'pin': '411001'}."""
    changes: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UpdateError(f"--set expects field=value, got {item!r}")
        changes[name.strip()] = value
    return changes


def current_version(paths: DataPaths, cust_id: str, on_wait: Callable[[str], None]) -> dict:
    """The customer's latest version in raw history, as text (what the source last sent)."""
    if not re.fullmatch(ID10, cust_id):
        raise UpdateError(
            f"customer {cust_id!r} does not exist: a customer id is ten letters or digits"
        )
    if not paths.warehouse.exists():
        raise UpdateError(
            f"nothing has been built yet: {paths.warehouse} does not exist; "
            "run the README's main command (or `fs-accelerator build`) first"
        )
    conn = connect_with_retry(paths.warehouse, read_only=True, on_wait=on_wait)
    try:
        try:
            # The same ordering as mastering's latest version, for one key.
            cursor = conn.execute(
                f"select * from raw.customer where {q(CUSTOMER.key)} = ? "
                "order by _modified_ts desc, _batch_id desc, _source_row desc limit 1",
                [cust_id],
            )
        except duckdb.CatalogException:
            raise UpdateError(
                "nothing has been built yet: raw.customer does not exist; build first"
            ) from None
        names = [d[0] for d in cursor.description]
        row = cursor.fetchone()
    finally:
        conn.close()
    if row is None:
        raise UpdateError(f"customer {cust_id!r} does not exist in raw.customer")
    return dict(zip(names, row, strict=True))


def updatable_fields(row: Mapping[str, object]) -> tuple[str, ...]:
    return PERSONAL_UPDATABLE if row.get("customer_type") == "Personal" else ORGANISATION_UPDATABLE


def validate_changes(row: dict, changes: Mapping[str, str]) -> dict[str, str | None]:
    """Check names against the updatable fields and values against the mastering rules."""
    allowed = updatable_fields(row)
    for name in changes:
        if name not in allowed:
            raise UpdateError(
                f"field {name!r} cannot be updated for a {row.get('customer_type')} customer; "
                f"updatable fields: {', '.join(allowed)}"
            )
    new = {**row, **{k: (v if v != "" else None) for k, v in changes.items()}}
    rules = [r for r in RULES[CUSTOMER.name] if r.kind != "foreign_key"]
    failed_sql, params = failed_rules_sql(rules)
    cols = CUSTOMER.column_names
    placeholders = ", ".join("?::varchar" for _ in cols)
    with duckdb.connect() as conn:
        broken = conn.execute(
            f"select {failed_sql} from (select {placeholders}) as t({', '.join(map(q, cols))})",
            [*params, *(new[c] for c in cols)],
        ).fetchone()[0]
    by_name = {r.name: r for r in rules}
    caused = [by_name[b] for b in broken if by_name[b].column in changes]
    if caused:
        details = "; ".join(f"{r.column}={changes[r.column]!r}: {r.description}" for r in caused)
        raise UpdateError(f"invalid value: {details}")
    return new


def write_change_file(paths: DataPaths, row: Mapping[str, object], now: dt.datetime) -> Path:
    """The customer's full row as a landing file, written atomically."""
    folder = paths.landing_dir(CUSTOMER.name)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%S%f")
    final = folder / f"customer_update_{row[CUSTOMER.key]}_{stamp}.csv"
    tmp = folder / f".{final.name}.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
        writer.writerow([0, *("" if row[c] is None else row[c] for c in CUSTOMER.column_names)])
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, final)
    return final


def prompt_changes(row: Mapping[str, object], ask: Callable[[str], str] = input) -> dict[str, str]:
    """The seed's interactive mode: one prompt per updatable attribute; Enter skips."""
    changes = {}
    for name in updatable_fields(row):
        value = ask(f"{name} [{row.get(name) or ''}]: ")
        if value != "":
            changes[name] = value
    return changes


def update_customer(
    paths: DataPaths,
    cust_id: str,
    changes: Mapping[str, str] | None,
    ask: Callable[[str], str] = input,
    on_wait: Callable[[str], None] = print,
) -> UpdateResult | None:
    """Validate and land one customer change; None when nothing was changed."""
    row = current_version(paths, cust_id, on_wait)
    if changes is None:
        changes = prompt_changes(row, ask)
    if not changes:
        return None
    new = validate_changes(row, changes)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    new["modified_at"] = now.strftime("%Y-%m-%d %H:%M:%S.%f")
    path = write_change_file(paths, new, now)
    diff = {k: (row.get(k), v) for k, v in changes.items()}
    return UpdateResult(cust_id, diff, path)
