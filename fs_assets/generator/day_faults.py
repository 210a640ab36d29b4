"""Faults planted into a simulated business day, as the sample's planter plants them.

A day's clean files are written first and never touched: its faulty rows arrive as one
more file per entity (`<entity>_day_<YYYYMMDD>_9_faults`, after the clean ones), and a
clean file may be delivered twice. Each fault is one row of the same truth file as the
sample's, with its day. The count is drawn per day: about `rate` faulty rows per clean
row landed that day, the kinds in turn (as `faults.plant_faults` does).

- New customers that break one rule (typo'd e-mail, pin of the wrong length, a state of
  another country, a date of birth after the day): rejected; ids after the day's others.
- An existing customer's newer version breaking one of those rules, stamped after every
  clean version of the day: a pending correction, the good version stays mastered.
- A late correction: a valid version of an existing non-personal customer older than its
  current one; it enters the history and does not become current.
- A payment in another currency than its account's: rejected.
- A byte-identical copy of the day's first customer file: ingested once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from fs_assets.generator.faults import (
    DUPLICATE,
    DUPLICATE_FILE,
    DUPLICATE_SUFFIX,
    HISTORY_ONLY,
    INVALID_NEWER_VERSION,
    LATE_CORRECTION,
    LATE_CORRECTION_DETAIL,
    PENDING,
    PLANTED_KINDS,
    REJECT,
    ROW_FAULTS,
    RULE_CURRENCY,
    WRONG_CURRENCY,
    PlantedFault,
    Templates,
    break_row,
    late_correction,
    text_time,
)
from fs_assets.generator.landed import LandedState
from fs_assets.generator.sampling import DAY_SECONDS, day_number, uniform_below
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER, TRANSACTION
from fs_assets.model.value_sets import CURRENCIES, FIRST_CUSTOMER_ID

FAULT_LABEL = "9_faults"  # sorts after the day's clean files
# Faulty rows are stamped after the evening's re-scores (20:00-21:00), so an invalid
# version is newer than any clean version of the day.
FAULT_HOURS = (21 * 3600, 24 * 3600)
# Existing customers drawn as templates (their latest clean versions) per day.
TEMPLATE_SAMPLE = 2_000
DAY_KINDS = (*PLANTED_KINDS, DUPLICATE_FILE)  # in turn, as in the sample; one copy a day

Columns = dict[str, pa.Array]


@dataclass(frozen=True)
class CleanFile:
    """One clean file the day has landed: entity, `<entity>/<name>`, label, columns."""

    entity: str
    file: str
    label: str
    columns: Columns


@dataclass
class DayFaults:
    """What the planter adds to a day: fault files' columns, the file to resend, the truth."""

    columns: dict[str, Columns] = field(default_factory=dict)
    resend: CleanFile | None = None
    faults: list[PlantedFault] = field(default_factory=list)


class _DayPlanter:
    """Collects one day's faulty rows per entity and their truth rows."""

    def __init__(self, day: dt.date, fault_file: Callable[[str], str]) -> None:
        self.day, self.fault_file = day, fault_file
        self.rows: dict[str, list[dict[str, str | None]]] = {}
        self.faults: list[PlantedFault] = []

    def add(
        self,
        entity: Entity,
        row: dict[str, str | None],
        fault: str,
        outcome: str,
        rule: str,
        detail: str,
    ) -> None:
        rows = self.rows.setdefault(entity.name, [])
        rows.append({c: row[c] for c in entity.column_names})
        self.faults.append(
            PlantedFault(
                entity.name,
                row[entity.key] or "",
                self.fault_file(entity.name),
                len(rows),
                fault,
                outcome,
                rule,
                detail,
                self.day.isoformat(),
            )
        )

    def columns(self) -> dict[str, Columns]:
        return {
            name: {c: pa.array([r[c] for r in rows], pa.string()) for c in rows[0]}
            for name, rows in self.rows.items()
        }


def _stamps(day: dt.date, rng: np.random.Generator, n: int) -> list[str]:
    """`n` sorted times within FAULT_HOURS of the day."""
    low, high = FAULT_HOURS
    start = day_number(day) * DAY_SECONDS + low
    seconds = np.sort(start + uniform_below(rng, np.full(n, high - low - 1, dtype=np.int64)))
    return [text_time(int(s)) for s in seconds]


def _templates(state: LandedState, rng: np.random.Generator, before: str) -> Templates:
    """Latest clean versions of a sample of existing customers, all older than `before`."""
    top = state.max_ids.get(CUSTOMER.name, FIRST_CUSTOMER_ID - 1) - FIRST_CUSTOMER_ID + 1
    picks = rng.choice(max(top, 0), size=min(max(top, 0), TEMPLATE_SAMPLE), replace=False)
    table = state.latest(CUSTOMER.name, sorted(int(i) + FIRST_CUSTOMER_ID for i in picks))
    modified = table.column("modified_at").to_pylist()
    older = pa.array([m is not None and m < before for m in modified], pa.bool_())
    return Templates(table.filter(older).select(list(CUSTOMER.column_names)), rng)


def _customers(
    planter: _DayPlanter, kinds: list[str], state: LandedState, rng: np.random.Generator
) -> None:
    """The customer faults among `kinds`, in order (as `faults._plant_customers`)."""
    wanted = [k for k in kinds if k in (*ROW_FAULTS, INVALID_NEWER_VERSION, LATE_CORRECTION)]
    if not wanted:
        return
    stamps = _stamps(planter.day, rng, len(wanted))
    pool = _templates(state, rng, stamps[0])
    next_id = state.max_ids.get(CUSTOMER.name, FIRST_CUSTOMER_ID - 1) + 1
    turns = dict.fromkeys(ROW_FAULTS, 0)
    newer = 0
    for kind, stamp in zip(wanted, stamps, strict=True):
        if kind in ROW_FAULTS:  # a new customer delivered broken: no valid version
            template = pool.take(kind)
            if template is None:
                continue
            row = template[1]
            row["cust_id"] = str(next_id)
            next_id += 1
            row["created_at"] = row["modified_at"] = stamp
            rule, detail = break_row(kind, row, rng, turns[kind], after=planter.day)
            turns[kind] += 1
            planter.add(CUSTOMER, row, kind, REJECT, rule, f"new customer; {detail}")
        elif kind == INVALID_NEWER_VERSION:
            broken = ROW_FAULTS[newer % len(ROW_FAULTS)]
            newer += 1
            template = pool.take(broken)
            if template is None:
                continue
            row = template[1]
            row["modified_at"] = stamp
            rule, detail = break_row(broken, row, rng, turns[broken], after=planter.day)
            turns[broken] += 1
            planter.add(CUSTOMER, row, kind, PENDING, rule, f"newer version; {detail}")
        else:
            row = late_correction(pool, rng)
            if row is None:
                continue
            planter.add(CUSTOMER, row, kind, HISTORY_ONLY, "", LATE_CORRECTION_DETAIL)


def _currencies(
    planter: _DayPlanter,
    count: int,
    payments: list[CleanFile],
    state: LandedState,
    rng: np.random.Generator,
) -> None:
    """New payments, each copied from one of the day's, in another currency than its account's."""
    if not count or not payments:
        return
    table = pa.table(payments[0].columns)
    next_id = state.max_ids[TRANSACTION.name] + 1
    picks = rng.choice(table.num_rows, size=min(count, table.num_rows), replace=False)
    for i, index in enumerate(sorted(int(x) for x in picks)):
        row = table.slice(index, 1).to_pylist()[0]
        row["transaction_id"] = str(next_id + i)
        others = [c for c in CURRENCIES if c != row["currency"]]
        row["currency"] = others[rng.integers(len(others))]
        detail = "new payment; currency is not its account's"
        planter.add(TRANSACTION, row, WRONG_CURRENCY, REJECT, RULE_CURRENCY, detail)


def day_fault_count(rate: float, rows: int, rng: np.random.Generator) -> int:
    """Faulty rows for a day that landed `rows` clean rows: binomial, so about rate x rows."""
    if not 0 <= rate < 1:
        raise ValueError(f"error_rate must be at least 0 and below 1, not {rate}")
    return int(rng.binomial(rows, rate)) if rate and rows else 0


def plant_day_faults(
    day: dt.date,
    landed: list[CleanFile],
    state: LandedState,
    rate: float,
    rng: np.random.Generator,
    fault_file: Callable[[str], str],
) -> DayFaults:
    """Faults for the day whose clean files are `landed` (already in `state`).

    `fault_file(entity)` is the `<entity>/<name>` its fault file lands as. Same arguments,
    same faults. Nothing clean is changed: the faults are rows and a copy on top.
    """
    rows = sum(len(next(iter(f.columns.values()))) for f in landed)
    count = day_fault_count(rate, rows, rng)
    if count == 0:
        return DayFaults()
    kinds = [DAY_KINDS[i % len(DAY_KINDS)] for i in range(count)]
    kinds = [kinds[i] for i in rng.permutation(count)]
    planter = _DayPlanter(day, fault_file)
    _customers(planter, kinds, state, rng)
    payments = [f for f in landed if f.entity == TRANSACTION.name]
    _currencies(planter, kinds.count(WRONG_CURRENCY), payments, state, rng)
    faults = DayFaults(planter.columns(), faults=planter.faults)
    customers = [f for f in landed if f.entity == CUSTOMER.name]
    if DUPLICATE_FILE in kinds and customers:
        original = customers[0]
        faults.resend = original
        stem, _, suffix = original.file.rpartition(".")
        faults.faults.append(
            PlantedFault(
                CUSTOMER.name,
                "",
                f"{stem}{DUPLICATE_SUFFIX}.{suffix}",
                None,
                DUPLICATE_FILE,
                DUPLICATE,
                "",
                f"byte-identical copy of {original.file.split('/')[-1]}",
                day.isoformat(),
            )
        )
    return faults
