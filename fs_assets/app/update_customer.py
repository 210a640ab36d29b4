"""The customer-update tool: change attributes of one customer by landing a change file.

As in the seed, the tool writes the customer's full row, with the changes applied and a
new `modified_at`, as a file into the landing zone; the pipeline picks it up like any
other source file. Unlike the seed:
- the change builds on the customer's latest *pending* version: the newest of raw history
  and the tool's own change files still in the landing folder, so several updates before
  one build all survive (the seed copied the raw row and lost unbuilt edits);
- read-latest-then-write runs under a file lock in the landing folder, and `modified_at`
  is strictly increasing per customer, so two tools at once cannot lose an edit;
- the customer id is a query parameter, never formatted into SQL;
- field names are validated against the entity model, and the full row after the change
  against every rule mastering applies (cross-field rules too), with the same SQL, before
  anything is written: a change mastering would quarantine is refused, naming the rules;
- the file is written under a temporary name and renamed, so no reader sees half of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import fcntl
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from fs_assets.model.columns import ID10
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import DataPaths
from fs_assets.model.places import (
    COUNTRY_CODES,
    MOBILE_FORMAT_BY_COUNTRY,
    PIN_FORMAT_BY_COUNTRY,
    country_state_city_triples,
    country_state_pairs,
)
from fs_assets.model.rules import RULES, Rule, failed_rules_sql, q
from fs_assets.model.update_fields import ORGANISATION_UPDATABLE, PERSONAL_UPDATABLE
from fs_assets.model.value_sets import MINOR_BELOW_AGE, SENIOR_FROM_AGE
from fs_assets.transforms.duckdb_file import WarehouseLockTimeout, connect_with_retry

CHANGE_FILE_PREFIX = "customer_update_"
# Hidden (leading dot), so the raw asset and the landing sensor never take it for data.
LOCK_FILE_NAME = ".customer_update.lock"
LOCK_TIMEOUT_S = 120.0
MODIFIED_AT_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
ONE_TICK = dt.timedelta(microseconds=1)
NO_INPUT = "no input: pass --set field=value or run in a terminal"


class UpdateError(ValueError):
    """A change that cannot be made; the message says what to do instead."""


@dataclass(frozen=True)
class UpdateResult:
    cust_id: str
    changes: dict[str, tuple[str | None, str]]
    path: Path


@dataclass(frozen=True)
class Version:
    """One version of a customer as text, with its parsed `modified_at` and origin."""

    row: dict[str, str | None]
    modified: dt.datetime
    source: str


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['city=Pune', 'pin=411001'] -> {'city': 'Pune', 'pin': '411001'}."""
    changes: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UpdateError(f"--set expects field=value, got {item!r}")
        changes[name.strip()] = value
    return changes


def check_customer_id(cust_id: str) -> None:
    if not re.fullmatch(ID10, cust_id):
        raise UpdateError(
            f"customer {cust_id!r} does not exist: a customer id is ten letters or digits"
        )


def raw_version(paths: DataPaths, cust_id: str, on_wait: Callable[[str], None]) -> Version:
    """The customer's latest version in raw history (what the sources last sent)."""
    check_customer_id(cust_id)
    if not paths.warehouse.exists():
        raise UpdateError(
            f"nothing has been built yet: {paths.warehouse} does not exist; "
            "run the README's main command (or `fs-accelerator build`) first"
        )
    try:
        conn = connect_with_retry(paths.warehouse, read_only=True, on_wait=on_wait)
    except WarehouseLockTimeout as exc:
        raise UpdateError(f"{exc}; retry when the build has finished") from None
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
        found = cursor.fetchone()
    finally:
        conn.close()
    if found is None:
        raise UpdateError(f"customer {cust_id!r} does not exist in raw.customer")
    row = dict(zip(names, found, strict=True))
    text = {c: row[c] for c in CUSTOMER.column_names}
    return Version(text, row["_modified_ts"], "raw.customer")


def change_files(folder: Path, cust_id: str) -> list[Path]:
    """The tool's change files for one customer in the landing folder (names are data)."""
    prefix = f"{CHANGE_FILE_PREFIX}{cust_id}_"
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(
            folder / e.name
            for e in entries
            if e.name.startswith(prefix)
            and e.name.endswith(".csv")
            and e.is_file(follow_symlinks=False)
        )


def read_change_file(path: Path) -> Version:
    """One change file the tool wrote: the entity header and exactly one row."""
    expected = ["", *(c.source_header for c in CUSTOMER.columns)]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle, strict=True))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UpdateError(f"cannot read the pending change file {path}: {exc}") from None
    if len(lines) != 2 or lines[0] != expected or len(lines[1]) != len(expected):
        raise UpdateError(
            f"the pending change file {path} is not one the tool wrote (header + one row); "
            "move it out of the landing folder, or build to ingest it, then retry"
        )
    values = lines[1][1:]
    row = {c: (v if v != "" else None) for c, v in zip(CUSTOMER.column_names, values, strict=True)}
    try:
        modified = dt.datetime.fromisoformat(row["modified_at"] or "")
    except ValueError:
        raise UpdateError(
            f"the pending change file {path} has no valid modified_at; move it away and retry"
        ) from None
    if modified.tzinfo is not None:  # compare as raw does: UTC without a zone
        modified = modified.astimezone(dt.UTC).replace(tzinfo=None)
    return Version(row, modified, path.name)


def latest_version(base: Version, folder: Path, cust_id: str) -> Version:
    """The newest of raw's version and the pending change files; ties go to the file."""
    latest = base
    for path in change_files(folder, cust_id):
        candidate = read_change_file(path)
        if candidate.modified >= latest.modified:
            latest = candidate
    return latest


def updatable_fields(row: Mapping[str, object]) -> tuple[str, ...]:
    return PERSONAL_UPDATABLE if row.get("customer_type") == "Personal" else ORGANISATION_UPDATABLE


def check_field_names(row: Mapping[str, object], changes: Mapping[str, str]) -> None:
    """Unknown names get a did-you-mean; known but fixed ones say which can change."""
    allowed = updatable_fields(row)
    for name in changes:
        if name in allowed:
            continue
        if name not in CUSTOMER.column_names:
            close = difflib.get_close_matches(name, allowed, n=1) or difflib.get_close_matches(
                name, CUSTOMER.column_names, n=1
            )
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UpdateError(
                f"unknown field {name!r}{hint} updatable fields: {', '.join(allowed)}"
            )
        raise UpdateError(
            f"field {name!r} cannot be updated for a {row.get('customer_type')} customer; "
            f"updatable fields: {', '.join(allowed)}"
        )


def check_no_control_characters(changes: Mapping[str, str]) -> None:
    for name, value in changes.items():
        bad = [ch for ch in value if unicodedata.category(ch) == "Cc"]
        if bad:
            raise UpdateError(
                f"invalid value: {name}={value!r} contains control character(s) "
                f"{', '.join(repr(ch) for ch in dict.fromkeys(bad))}; remove them"
            )


def broken_rules(row: Mapping[str, str | None]) -> list[Rule]:
    """The customer rules (all but foreign keys) the full row breaks, by mastering's SQL."""
    rules = [r for r in RULES[CUSTOMER.name] if r.kind != "foreign_key"]
    failed_sql, params = failed_rules_sql(rules)
    cols = CUSTOMER.column_names
    placeholders = ", ".join("?::varchar" for _ in cols)
    with duckdb.connect() as conn:
        broken = conn.execute(
            f"select {failed_sql} from (select {placeholders}) as t({', '.join(map(q, cols))})",
            [*params, *(row.get(c) for c in cols)],
        ).fetchone()[0]
    by_name = {r.name: r for r in rules}
    return [by_name[b] for b in broken]


def _hint(rule: Rule, row: Mapping[str, str | None]) -> str:
    """What would pass, for the rules that tie fields together."""
    country, state = row.get("country"), row.get("state")
    if rule.name == "state__in_country":
        states = sorted({s for c, s in country_state_pairs() if c == country})
        return f"states of {country}: {', '.join(states)}"
    if rule.name == "city__in_state":
        cities = sorted(x for c, s, x in country_state_city_triples() if (c, s) == (country, state))
        return f"cities of {state}, {country}: {', '.join(cities)}"
    if rule.name == "pin__country_format" and country in PIN_FORMAT_BY_COUNTRY:
        return f"pins of {country} match {PIN_FORMAT_BY_COUNTRY[country]}"
    if rule.name == "mobile_number1__country_format" and country in MOBILE_FORMAT_BY_COUNTRY:
        return f"mobile numbers of {country} match {MOBILE_FORMAT_BY_COUNTRY[country]}"
    if rule.name == "country_code__matches_country" and country in COUNTRY_CODES:
        return f"the code of {country} is {COUNTRY_CODES[country]}"
    if rule.kind == "matches_dob":
        expected = _expected_flag(rule.column, row)
        if expected:
            return f"set {rule.column}={expected}"
    return ""


def _expected_flag(flag: str, row: Mapping[str, str | None]) -> str | None:
    """Yes/No for the minor or senior flag, from cust_dob as of the row's modified_at."""
    try:
        dob = dt.date.fromisoformat(row.get("cust_dob") or "")
        day = dt.datetime.fromisoformat(row.get("modified_at") or "").date()
    except ValueError:
        return None
    age = day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))
    flag_on = age < MINOR_BELOW_AGE if flag == "minor_flag" else age >= SENIOR_FROM_AGE
    return "Yes" if flag_on else "No"


AGE_FLAGS = ("minor_flag", "senior_citizen_flag")


def age_flag_updates(
    row: Mapping[str, str | None], changes: Mapping[str, str], modified_at: str
) -> dict[str, str]:
    """The age flags the new version needs that the change does not set itself.

    The flags follow cust_dob as of modified_at (`minor_flag__matches_dob`): a customer who
    was 17 at the last change is an adult at this one. Flags the user sets are checked, not
    replaced; the derived ones are listed with the changes.
    """
    new = {**row, **changes, "modified_at": modified_at}
    if new.get("customer_type") != "Personal":
        return {}
    updates = {}
    for flag in AGE_FLAGS:
        expected = _expected_flag(flag, new)
        if flag not in changes and expected is not None and row.get(flag) != expected:
            updates[flag] = expected
    return updates


def _rule_line(rule: Rule, row: Mapping[str, str | None], changes: Mapping[str, str]) -> str:
    value = row.get(rule.column)
    origin = "" if rule.column in changes else " (unchanged)"
    hint = _hint(rule, row)
    return f"{rule.name}: {rule.column}={value!r}{origin}: {rule.description}" + (
        f" ({hint})" if hint else ""
    )


def validate_changes(
    row: dict, changes: Mapping[str, str], modified_at: str | None = None
) -> dict[str, str | None]:
    """Check names against the updatable fields, then the full changed row (with its new
    `modified_at`, the day the age flags describe) against every rule mastering applies,
    cross-field rules included, before anything is written."""
    check_field_names(row, changes)
    check_no_control_characters(changes)
    new = {**row, **{k: (v if v != "" else None) for k, v in changes.items()}}
    if modified_at is not None:
        new["modified_at"] = modified_at
    broken = broken_rules(new)
    if broken:
        details = "; ".join(_rule_line(r, new, changes) for r in broken)
        raise UpdateError(
            f"invalid value, nothing was written: the customer after this change breaks "
            f"{details}. Change the fields that belong together in one command "
            "(e.g. --set country=... --set state=... --set city=... --set pin=... "
            "--set country_code=...)"
        )
    return new


def _cannot_write(folder: Path, exc: OSError) -> UpdateError:
    return UpdateError(
        f"cannot write a change file in {folder}: {exc.strerror or exc}; make the folder "
        "writable (or free disk space) and retry; nothing was written"
    )


@contextmanager
def landing_lock(
    folder: Path, on_wait: Callable[[str], None], timeout_s: float = LOCK_TIMEOUT_S
) -> Iterator[None]:
    """Exclusive lock on the landing folder's lock file, so read-latest + write is atomic."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _cannot_write(folder, exc) from None
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UpdateError(
                        f"another update-customer held {folder / LOCK_FILE_NAME} for "
                        f"{timeout_s:.0f}s; retry when it has finished"
                    ) from None
                if not announced:
                    on_wait(f"waiting for another update-customer ({folder / LOCK_FILE_NAME})")
                    announced = True
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def write_change_file(paths: DataPaths, row: Mapping[str, object], stamp: dt.datetime) -> Path:
    """The customer's full row as a landing file, written atomically and made durable."""
    folder = paths.landing_dir(CUSTOMER.name)
    final = folder / f"{CHANGE_FILE_PREFIX}{row[CUSTOMER.key]}_{stamp:%Y%m%dT%H%M%S%f}.csv"
    tmp = folder / f".{final.name}.tmp"
    try:
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["", *(c.source_header for c in CUSTOMER.columns)])
            writer.writerow([0, *("" if row[c] is None else row[c] for c in CUSTOMER.column_names)])
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename survives a power cut
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _cannot_write(folder, exc) from None
    except BaseException:  # Ctrl-C: leave no temporary file behind
        tmp.unlink(missing_ok=True)
        raise
    return final


def prompt_changes(row: Mapping[str, object], ask: Callable[[str], str] = input) -> dict[str, str]:
    """The seed's interactive mode: one prompt per updatable attribute; Enter skips."""
    changes = {}
    for name in updatable_fields(row):
        try:
            value = ask(f"{name} [{row.get(name) or ''}]: ")
        except EOFError:
            raise UpdateError(NO_INPUT) from None
        if value != "":
            changes[name] = value
    return changes


def next_modified_at(latest: dt.datetime, now: dt.datetime) -> dt.datetime:
    """Now, unless the latest version is not older: then one microsecond after it."""
    return max(now, latest + ONE_TICK)


def update_customer(
    paths: DataPaths,
    cust_id: str,
    changes: Mapping[str, str] | None,
    ask: Callable[[str], str] = input,
    on_wait: Callable[[str], None] = print,
) -> UpdateResult | None:
    """Validate and land one customer change; None when nothing was changed."""
    base = raw_version(paths, cust_id, on_wait)
    folder = paths.landing_dir(CUSTOMER.name)
    if changes is None:
        changes = prompt_changes(latest_version(base, folder, cust_id).row, ask)
    if not changes:
        return None
    with landing_lock(folder, on_wait):
        # Re-read under the lock: another tool may have landed a change meanwhile.
        latest = latest_version(base, folder, cust_id)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        stamp = next_modified_at(latest.modified, now)
        modified_at = stamp.strftime(MODIFIED_AT_FORMAT)
        changes = {**changes, **age_flag_updates(latest.row, changes, modified_at)}
        new = validate_changes(dict(latest.row), changes, modified_at)
        path = write_change_file(paths, new, stamp)
    diff = {k: (latest.row.get(k), v) for k, v in changes.items()}
    return UpdateResult(cust_id, diff, path)
