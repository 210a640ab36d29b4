"""Faults real feeds have, planted into generated landing data, and a truth file of them.

Planted after clean generation, without touching the clean part files (the same bytes at
any error rate): the faulty rows arrive as one more part file per entity, a later file as
a feed's updates do, and one clean file is delivered twice under another name. Each
planted fault is one row of the truth file, written beside the landing folder (not in it,
so no sensor takes it for data), with the outcome and the rule meant to catch it.

- New customers that break one rule (typo'd e-mail, pin of the wrong length, a state of
  another country, a date of birth in the future): rejected, no valid version.
- An existing customer's newer version breaking one of those rules: a pending correction,
  the good version stays mastered.
- A late correction: a valid version of an existing customer older than its current one;
  it enters the history and does not become current.
- A transaction in another currency than its account's: rejected.
- A byte-identical copy of a customer file: ingested once, the copy a duplicate.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from fs_assets.generator.sampling import AS_OF_SECONDS
from fs_assets.generator.transactions import FIRST_TRANSACTION_ID
from fs_assets.generator.writer import part_name, write_part
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER, TRANSACTION
from fs_assets.model.places import country_state_pairs
from fs_assets.model.value_sets import AS_OF, CURRENCIES, FIRST_CUSTOMER_ID, LEVELS

TRUTH_SUFFIX = ".faults.truth.csv"  # <landing folder name> + this, beside the folder
DUPLICATE_SUFFIX = "_resent"  # the copy sorts after its original, which is ingested first
FAULT_STREAM = 0xFA17  # the faults' own random stream: the clean streams are untouched
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
FUTURE_DOB_DAYS = (1, 365)  # a date of birth this many days after the snapshot

# Expected outcomes, as the test reads them from the warehouse.
REJECT = "reject"  # quarantine.<entity>_rejects
PENDING = "pending_correction"  # quarantine.<entity>_pending_corrections
HISTORY_ONLY = "history_only"  # mastered.<entity>_history, not the current row
DUPLICATE = "duplicate_file"  # meta.ingest_ledger status 'duplicate'

# Faults of one customer row, each with the rule meant to catch it.
EMAIL_TYPO = "email_typo"
PIN_WRONG_LENGTH = "pin_wrong_length"
STATE_OTHER_COUNTRY = "state_other_country"
DOB_FUTURE = "dob_future"
ROW_FAULTS = (EMAIL_TYPO, PIN_WRONG_LENGTH, STATE_OTHER_COUNTRY, DOB_FUTURE)
INVALID_NEWER_VERSION = "invalid_newer_version"
LATE_CORRECTION = "late_correction"
WRONG_CURRENCY = "wrong_currency"
DUPLICATE_FILE = "duplicate_file"
# Drawn in turn, so every kind is planted once the fault count reaches their number.
PLANTED_KINDS = (*ROW_FAULTS, INVALID_NEWER_VERSION, LATE_CORRECTION, WRONG_CURRENCY)

RULE_EMAIL = "email_addr__pattern"
RULE_PIN_LENGTH = "pin__country_format"
RULE_PIN_TOO_LONG = "pin__max_length"
RULE_STATE = "state__in_country"
RULE_DOB = "cust_dob__not_future"
RULE_CURRENCY = "currency__matches_account"

_EMAIL_TYPOS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("'@' missing", lambda e: e.replace("@", "", 1)),
    ("'@' typed as '2'", lambda e: e.replace("@", "2", 1)),
    ("top-level domain missing", lambda e: e.rsplit(".", 1)[0]),
)
_PIN_MAX = CUSTOMER.column("pin").max_length or 10


@dataclass(frozen=True)
class PlantedFault:
    """One row of the truth file: where the fault is, what it is, what must become of it."""

    entity: str
    key: str  # empty for a whole-file fault
    file: str  # <entity>/<file name>, relative to the landing folder
    row: int | None  # 1-based data row within the file (the raw tables' _source_row)
    fault: str
    outcome: str
    rule: str  # empty when no rule is meant to fire (late correction, duplicate file)
    detail: str  # what was changed, without the values (they may be personal data)
    day: str = ""  # the simulated business day that landed it (empty for the sample's)


TRUTH_COLUMNS = tuple(f.name for f in fields(PlantedFault))


def truth_path(landing: Path) -> Path:
    """Where the truth file of a landing folder lives: beside it, never inside."""
    landing = Path(landing)
    return landing.parent / f"{landing.name}{TRUTH_SUFFIX}"


def read_truth(path: Path) -> list[PlantedFault]:
    """The faults of a truth file (one written before the `day` column reads with none)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [
            PlantedFault(**{**r, "row": int(r["row"]) if r["row"] else None})
            for r in csv.DictReader(f)
        ]


def fault_files(landing: Path) -> set[str]:
    """The files (`<entity>/<name>`) the truth file lists: fault files and resent copies."""
    path = truth_path(landing)
    if not path.is_file():
        return set()
    return {fault.file for fault in read_truth(path)}


def fault_count(error_rate: float, customers: int) -> int:
    """Faulty rows planted for `customers` clean customers (at least one at a non-zero rate)."""
    if not 0 <= error_rate < 1:
        raise ValueError(f"error_rate must be at least 0 and below 1, not {error_rate}")
    if error_rate == 0 or customers == 0:
        return 0
    return max(1, round(error_rate * customers))


def _read(path: Path, entity: Entity, fmt: str) -> pa.Table:
    """A landing file as text columns named by the model (empty CSV fields are null)."""
    headers = [c.source_header for c in entity.columns]
    if fmt == "csv":
        options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(headers, pa.string()),
            include_columns=headers,
            null_values=[""],
            strings_can_be_null=True,
        )
        table = pacsv.read_csv(path, convert_options=options)
    else:
        table = pq.read_table(path, columns=headers)
    return table.rename_columns(list(entity.column_names))


def _seconds(column: pa.ChunkedArray) -> np.ndarray:
    parsed = pc.strptime(column, format=TIMESTAMP_FORMAT, unit="s")
    return pc.cast(parsed, pa.int64()).to_numpy(zero_copy_only=False)


def _mask(values: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(values.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def text_time(seconds: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).strftime(TIMESTAMP_FORMAT)


class Templates:
    """The clean customers faults are modelled on, with the facts templates are chosen by."""

    def __init__(self, table: pa.Table, rng: np.random.Generator) -> None:
        self.table, self.rng = table, rng
        self.used = np.zeros(table.num_rows, dtype=bool)
        personal = _mask(pc.equal(table["customer_type"], "Personal"))
        self.created = _seconds(table["created_at"])
        self.modified = _seconds(table["modified_at"])
        self.eligible = {
            EMAIL_TYPO: _mask(pc.match_substring(table["email_addr"], "@")),
            # Six digits or more: keyed twice, the pin is over the column's 10 characters.
            PIN_WRONG_LENGTH: _mask(pc.match_substring_regex(table["pin"], r"^[0-9]{6,}$")),
            STATE_OTHER_COUNTRY: np.ones(table.num_rows, dtype=bool),
            # A minor: a birth after the snapshot agrees with the minor flag.
            DOB_FUTURE: _mask(pc.equal(table["minor_flag"], "Yes")),
            # Not personal: no age-dependent flags to disagree at an older time.
            LATE_CORRECTION: ~personal & (self.modified - self.created >= 2),
        }

    def take(self, kind: str) -> tuple[int, dict[str, str | None]] | None:
        """An unused template row eligible for `kind` (None when there is none left)."""
        candidates = np.flatnonzero(self.eligible[kind] & ~self.used)
        if candidates.shape[0] == 0:
            return None
        index = int(candidates[self.rng.integers(candidates.shape[0])])
        self.used[index] = True
        return index, self.table.slice(index, 1).to_pylist()[0]


def break_row(
    kind: str,
    row: dict[str, str | None],
    rng: np.random.Generator,
    turn: int,
    after: dt.date = AS_OF,
) -> tuple[str, str]:
    """Break `row` in place the way `kind` says; the rule meant to catch it and a detail.

    `turn` counts the faults of this kind so far: variants are planted in turn. A future
    date of birth is after `after` (the snapshot, or the simulated day).
    """
    if kind == EMAIL_TYPO:
        how, typo = _EMAIL_TYPOS[turn % len(_EMAIL_TYPOS)]
        row["email_addr"] = typo(row["email_addr"] or "")
        return RULE_EMAIL, f"email_addr: {how}"
    if kind == PIN_WRONG_LENGTH:
        pin = row["pin"] or ""
        if turn % 2 == 0:
            row["pin"] = pin[:-1]
            return RULE_PIN_LENGTH, "pin: a digit missing"
        row["pin"] = pin + pin
        rule = RULE_PIN_TOO_LONG if len(pin) * 2 > _PIN_MAX else RULE_PIN_LENGTH
        return rule, "pin: keyed twice"
    if kind == STATE_OTHER_COUNTRY:
        own = {s for c, s in country_state_pairs() if c == row["country"]}
        others = [(c, s) for c, s in country_state_pairs() if s not in own]
        country, state = others[rng.integers(len(others))]
        row["state"] = state
        return RULE_STATE, f"state: a state of {country}, the row's country is {row['country']}"
    if kind == DOB_FUTURE:
        days = int(rng.integers(FUTURE_DOB_DAYS[0], FUTURE_DOB_DAYS[1], endpoint=True))
        row["cust_dob"] = (after + dt.timedelta(days=days)).isoformat()
        when = "the snapshot" if after == AS_OF else "the day"
        return RULE_DOB, f"cust_dob: {days} days after {when}, after modified_at"
    raise ValueError(f"not a row fault: {kind}")


class _Planter:
    """Collects the faulty rows of each entity's fault file and their truth rows."""

    def __init__(self, landing: Path, seed: int, fmt: str, part: int) -> None:
        self.landing, self.seed, self.fmt, self.part = landing, seed, fmt, part
        self.rows: dict[str, list[dict[str, str | None]]] = {
            CUSTOMER.name: [],
            TRANSACTION.name: [],
        }
        self.truth: list[PlantedFault] = []

    def file(self, entity: Entity) -> str:
        return f"{entity.name}/{part_name(entity.name, self.seed, self.part, self.fmt)}"

    def add(
        self,
        entity: Entity,
        row: dict[str, str | None],
        fault: str,
        outcome: str,
        rule: str,
        detail: str,
    ) -> None:
        rows = self.rows[entity.name]
        rows.append(row)
        key = row[entity.key] or ""
        self.truth.append(
            PlantedFault(
                entity.name, key, self.file(entity), len(rows), fault, outcome, rule, detail
            )
        )

    def write(self) -> list[Path]:
        written = []
        for entity in (CUSTOMER, TRANSACTION):
            rows = self.rows[entity.name]
            if not rows:
                continue
            columns = {c: pa.array([r[c] for r in rows], pa.string()) for c in entity.column_names}
            folder = self.landing / entity.name
            written.append(write_part(folder, entity, self.seed, self.part, self.fmt, columns))
        return written


def _copy_atomically(source: Path, target: Path) -> None:
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def write_truth(path: Path, truth: list[PlantedFault]) -> None:
    """The truth file, sorted, replaced atomically (a reader sees the old or the new one)."""
    temporary = path.with_name(f".{path.name}.tmp")
    ordered = sorted(set(truth), key=lambda f: (f.entity, f.file, f.row or 0, f.fault))
    try:
        with open(temporary, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(TRUTH_COLUMNS)
            writer.writerows(["" if v is None else v for v in astuple(fault)] for fault in ordered)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def append_truth(landing: Path, new: list[PlantedFault]) -> Path:
    """Add `new` to the landing folder's truth file, keeping the rows whose file has landed.

    Called before a simulated day's files are renamed into place: a day killed before its
    renames lands again with the same faults (the same rows, kept once), and rows of
    files that never landed (another seed or rate the next time) are dropped.
    """
    path = truth_path(landing)
    kept = [f for f in read_truth(path) if (landing / f.file).is_file()] if path.is_file() else []
    write_truth(path, [*kept, *new])
    return path


LATE_CORRECTION_DETAIL = "customer_risk_category changed; modified_at before the current version"


def late_correction(pool: Templates, rng: np.random.Generator) -> dict[str, str | None] | None:
    """A valid version of a customer with another risk category, stamped between its
    creation and its current version: history only, never mastered. None: no template."""
    template = pool.take(LATE_CORRECTION)
    if template is None:
        return None
    index, row = template
    created, modified = int(pool.created[index]), int(pool.modified[index])
    row["modified_at"] = text_time(int(rng.integers(created + 1, modified)))
    levels = [v for v in LEVELS if v != row["customer_risk_category"]]
    row["customer_risk_category"] = levels[rng.integers(len(levels))]
    return row


def _plant_customers(
    planter: _Planter,
    pool: Templates,
    kinds: list[str],
    rng: np.random.Generator,
    next_customer: int,
) -> None:
    """The customer faults among `kinds`, in order; new customers numbered from `next_customer`."""
    newer = 0
    turns = dict.fromkeys(ROW_FAULTS, 0)
    for kind in kinds:
        if kind in ROW_FAULTS:  # a new customer delivered broken: no valid version
            template = pool.take(kind)
            if template is None:
                continue
            row = template[1]
            row["cust_id"] = str(next_customer)
            next_customer += 1
            rule, detail = break_row(kind, row, rng, turns[kind])
            turns[kind] += 1
            planter.add(CUSTOMER, row, kind, REJECT, rule, f"new customer; {detail}")
        elif kind == INVALID_NEWER_VERSION:
            broken = ROW_FAULTS[newer % len(ROW_FAULTS)]  # each in turn, e-mail first
            newer += 1
            template = pool.take(broken)
            if template is None:
                continue
            index, row = template
            modified = int(pool.modified[index])
            later = modified + int(rng.integers(1, max(1, AS_OF_SECONDS - modified), endpoint=True))
            row["modified_at"] = text_time(later)
            rule, detail = break_row(broken, row, rng, turns[broken])
            turns[broken] += 1
            planter.add(CUSTOMER, row, kind, PENDING, rule, f"newer version; {detail}")
        elif kind == LATE_CORRECTION:
            row = late_correction(pool, rng)
            if row is None:
                continue
            planter.add(CUSTOMER, row, kind, HISTORY_ONLY, "", LATE_CORRECTION_DETAIL)


def _plant_currencies(
    planter: _Planter, rng: np.random.Generator, count: int, transactions: int
) -> None:
    """New transactions, each copied from a clean one, in another currency than its account's."""
    path = (
        planter.landing
        / TRANSACTION.name
        / part_name(TRANSACTION.name, planter.seed, 0, planter.fmt)
    )
    table = _read(path, TRANSACTION, planter.fmt)
    picks = rng.choice(table.num_rows, size=min(count, table.num_rows), replace=False)
    for i, index in enumerate(sorted(int(x) for x in picks)):
        row = table.slice(index, 1).to_pylist()[0]
        row["transaction_id"] = str(FIRST_TRANSACTION_ID + transactions + i)
        others = [c for c in CURRENCIES if c != row["currency"]]
        row["currency"] = others[rng.integers(len(others))]
        planter.add(
            TRANSACTION,
            row,
            WRONG_CURRENCY,
            REJECT,
            RULE_CURRENCY,
            "new transaction; currency is not its account's",
        )


def _duplicate(original: Path, planter: _Planter) -> Path:
    """A byte-identical copy of a clean file under another name (a feed sent twice)."""
    copy = original.with_name(f"{original.stem}{DUPLICATE_SUFFIX}{original.suffix}")
    _copy_atomically(original, copy)
    planter.truth.append(
        PlantedFault(
            CUSTOMER.name,
            "",
            f"{CUSTOMER.name}/{copy.name}",
            None,
            DUPLICATE_FILE,
            DUPLICATE,
            "",
            f"byte-identical copy of {original.name}",
        )
    )
    return copy


@dataclass(frozen=True)
class PlantedFaults:
    """What `plant_faults` wrote: the fault files, the duplicate, the truth file."""

    faults: list[PlantedFault]
    files: list[Path]
    rows: dict[str, int]
    truth: Path


def plant_faults(
    landing: Path,
    seed: int,
    fmt: str,
    error_rate: float,
    customers: int,
    transactions: int,
    part: int,
) -> PlantedFaults:
    """Plant faults for `customers` clean customers in `landing`; write the truth file.

    `transactions` is the clean transaction count (new ids follow it) and `part` the first
    free part number (the fault files take it). Templates come from the first clean part.
    """
    landing = Path(landing)
    count = fault_count(error_rate, customers)
    rng = np.random.default_rng(np.random.SeedSequence([seed, FAULT_STREAM]))
    planter = _Planter(landing, seed, fmt, part)
    copies: list[Path] = []
    if count:
        first_customers = landing / CUSTOMER.name / part_name(CUSTOMER.name, seed, 0, fmt)
        pool = Templates(_read(first_customers, CUSTOMER, fmt), rng)
        kinds = [PLANTED_KINDS[i % len(PLANTED_KINDS)] for i in range(count)]
        kinds = [kinds[i] for i in rng.permutation(count)]
        _plant_customers(planter, pool, kinds, rng, FIRST_CUSTOMER_ID + customers)
        wrong_currency = kinds.count(WRONG_CURRENCY)
        if wrong_currency:
            _plant_currencies(planter, rng, wrong_currency, transactions)
        copies.append(_duplicate(first_customers, planter))
    files = planter.write()
    path = truth_path(landing)
    write_truth(path, planter.truth)
    rows = {name: len(rows) for name, rows in planter.rows.items()}
    return PlantedFaults(planter.truth, files + copies, rows, path)
