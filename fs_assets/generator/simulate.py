"""Simulated source systems: one landing batch per business day on top of what has landed.

Each simulated business day lands, per entity, the day's new records and new versions:
new customers numbered after the highest landed `cust_id` and their accounts; changes to
existing customers (address moves, risk re-ratings, Active/Dormant status changes) as
full new versions; closures (every open account of the customer set to Closed: a status
change, nothing is deleted); a CIBIL re-score batch; the day's payments; and the month's
campaign with the day's campaign events, allowed by consent (`campaigns_day.py`). The landing
folder is the record of what exists (`landed.py`), so `simulate --days 3` twice lands days
1-3 and then 4-6, with the same bytes as one `--days 6`. A day's files are written under
hidden temporary names and renamed into place together, named so they sort by day. At an
error rate above 0 the day's planted faults (`day_faults.py`) land with it, on top of the
clean files, and are appended to the truth file beside the landing folder.

Another source plugs in with one line in DAY_BATCHES: a function of the `Day` returning
its batches. Products are the fixed catalog: no daily batch.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fs_assets.generator import text
from fs_assets.generator.accounts import (
    FIRST_ACCOUNT_ID,
    AccountChunk,
    build_accounts,
    draw_account_counts,
)
from fs_assets.generator.campaigns_day import day_events, launched_campaign
from fs_assets.generator.customers import (
    _CITY,
    _CITY_COUNTRY,
    _PIN,
    _STATE,
    ADDRESS_MAX,
    CustomerChunk,
    build_customers,
)
from fs_assets.generator.day_faults import FAULT_LABEL, CleanFile, plant_day_faults
from fs_assets.generator.faults import DUPLICATE_SUFFIX, PlantedFault, append_truth
from fs_assets.generator.fx_rates import day_rates
from fs_assets.generator.landed import LandedState
from fs_assets.generator.landing import MAX_CUSTOMER_ID
from fs_assets.generator.names import Pools, build_pools
from fs_assets.generator.sampling import AS_OF_SECONDS, DAY_SECONDS, day_number, uniform_below
from fs_assets.generator.sources_day import (
    SourceDayFile,
    source_folders,
    sources_generated,
    write_source_day,
)
from fs_assets.generator.transactions import (
    FIRST_TRANSACTION_ID,
    RATE_PER_ACCOUNT,
    build_transactions,
)
from fs_assets.generator.writer import FORMATS, PartFile, encode
from fs_assets.model.entities import (
    ACCOUNT,
    CAMPAIGN,
    CAMPAIGN_EVENT,
    CUSTOMER,
    ENTITIES,
    FX_RATE,
    TRANSACTION,
)
from fs_assets.model.places import COUNTRIES
from fs_assets.model.value_sets import (
    AS_OF,
    CIBIL_HIGH_RANGE,
    CIBIL_LOW_RANGE,
    CIBIL_LOW_SHARE,
    CURRENCIES,
    FIRST_CUSTOMER_ID,
    LEVELS,
    MINOR_BELOW_AGE,
    SENIOR_FROM_AGE,
    TRANSACTION_MONTH_INTENSITY,
)

# Rates per business day, as shares of the landed customers (synthetic, chosen so that a
# few hundred customers show every kind of change within a month).
NEW_CUSTOMER_RATE = 0.002  # at least one new customer a day on average
CHANGE_RATES = {"move": 0.001, "risk": 0.001, "status": 0.001}
CLOSURE_RATE = 0.001
RESCORE_SHARE = 0.05  # the bureau refreshes about a twentieth of the book each day
BUSINESS_DAYS_PER_MONTH = 21.75
# When things happen within a day (seconds after midnight): branch hours for onboarding,
# changes and closures; the re-score job runs in the evening, after every change.
BUSINESS_HOURS = (9 * 3600, 18 * 3600)
RESCORE_HOURS = (20 * 3600, 21 * 3600)
IN_USE = ("Active", "Dormant")
CLOSED = "Closed"
DAY_FILE = re.compile(r"^[a-z0-9_]+?_day_(\d{8})_")
# A day's file still under its hidden name: left by a run killed before the renames.
NEW_CUSTOMERS_LABEL = "1_new"
DAY_TEMPORARY = re.compile(r"^\.[a-z0-9_]+?_day_\d{8}_.+\.tmp$")


class SimulationError(ValueError):
    """A simulation that cannot run as asked; says what to do instead."""


@dataclass(frozen=True)
class Batch:
    """One file of a day: its label in the name and its text columns."""

    entity: str
    label: str
    columns: dict[str, pa.Array]

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))


@dataclass
class DayReport:
    """What one simulated day landed; the tests reconcile the warehouse against it."""

    day: dt.date
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    new_customers: list[int] = field(default_factory=list)
    changed_customers: list[int] = field(default_factory=list)
    closed_customers: list[int] = field(default_factory=list)
    rescores: dict[int, int] = field(default_factory=dict)  # cust_id -> new score
    faults: list[PlantedFault] = field(default_factory=list)  # also in the truth file
    seconds: float = 0.0


@dataclass
class Day:
    """One simulated business day: its date, random streams, the landed state, its report."""

    day: dt.date
    seed: int
    state: LandedState
    pools: Pools
    report: DayReport
    # Filled by the customer batch for the later ones: today's new customers' facts.
    facts: dict[str, object] = field(default_factory=dict)

    def rng(self, name: str) -> np.random.Generator:
        """A stream of its own per source and day, so adding a source shifts no other."""
        entropy = [self.seed, self.day.toordinal(), zlib.crc32(name.encode())]
        return np.random.default_rng(np.random.SeedSequence(entropy))

    @property
    def start_s(self) -> int:
        return day_number(self.day) * DAY_SECONDS

    def times(self, rng: np.random.Generator, window: tuple[int, int], n: int) -> np.ndarray:
        """`n` sorted seconds within `window` of the day."""
        low, high = window
        spans = np.full(n, high - low - 1, dtype=np.int64)
        return np.sort(self.start_s + low + uniform_below(rng, spans))

    def existing_customers(self) -> int:
        return self.state.max_ids.get(CUSTOMER.name, FIRST_CUSTOMER_ID - 1) - FIRST_CUSTOMER_ID + 1

    def pick_customers(self, rng: np.random.Generator, rate: float) -> np.ndarray:
        """Distinct existing customer ids, each with probability `rate` (sorted)."""
        n = self.existing_customers()
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        k = int(rng.binomial(n, min(rate, 1.0)))
        return np.sort(rng.choice(n, size=k, replace=False)) + FIRST_CUSTOMER_ID


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _replace_where(column: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), values, column)


def _as_columns(table: pa.Table, entity: str) -> dict[str, pa.Array]:
    return {c: table.column(c).combine_chunks() for c in ENTITIES[entity].column_names}


def _ids(table: pa.Table) -> list[int]:
    return [int(k) for k in table.column("_key").to_pylist()]


def _not_touched_today(day: Day, table: pa.Table) -> pa.Table:
    """Versions already modified at or after the day's start are left alone (their newer
    version would win anyway: e.g. an `update-customer` edit stamped with today's clock)."""
    start = dt.datetime.combine(day.day, dt.time())
    modified = table.column("_modified").to_pylist()
    return table.filter(pa.array([m is None or m < start for m in modified], pa.bool_()))


# ---- customers -------------------------------------------------------------------------


def _new_customers(day: Day, rng: np.random.Generator) -> Batch | None:
    n = int(rng.poisson(max(1.0, day.existing_customers() * NEW_CUSTOMER_RATE)))
    first = day.state.max_ids.get(CUSTOMER.name, FIRST_CUSTOMER_ID - 1) + 1
    if first + n > MAX_CUSTOMER_ID:
        raise SimulationError(f"customer ids would pass {MAX_CUSTOMER_ID}: no room for new ones")
    if n == 0:
        return None
    chunk = build_customers(rng, first - FIRST_CUSTOMER_ID, n, day.pools)
    created = day.times(rng, BUSINESS_HOURS, n)
    stamps = text.timestamps(created)
    columns = dict(chunk.columns)
    columns["created_at"] = stamps
    columns["modified_at"] = stamps
    # A new customer is active and has just been checked by the bureau.
    columns["customer_status"] = pa.array(["Active"] * n, pa.string())
    columns["cibil_check_date"] = text.dates(np.full(n, day_number(day.day)))
    day.facts["new_customers"] = replace(chunk, columns={}, created_s=created)
    day.report.new_customers = [first + i for i in range(n)]
    return Batch(CUSTOMER.name, NEW_CUSTOMERS_LABEL, columns)


def _move(rng: np.random.Generator, day: Day, rows: pa.Table, mask: np.ndarray) -> pa.Table:
    """A new address in the same country (so the account currencies still fit); a row
    whose country is not in the model (a bad delivery) does not move."""
    countries = rows.column("country").to_pylist()
    mask = mask & np.array([c in COUNTRIES for c in countries], dtype=bool)
    country = np.array([COUNTRIES.index(c) if c in COUNTRIES else 0 for c in countries])
    options = [np.flatnonzero(np.equal(_CITY_COUNTRY, c)) for c in range(len(COUNTRIES))]
    city = np.array(
        [opts[rng.integers(len(opts))] for opts in (options[c] for c in country)], dtype=np.int64
    )
    n = rows.num_rows
    pools = day.pools
    building = pools.buildings.take(pa.array(rng.integers(len(pools.buildings), size=n)))
    street = pools.streets.take(pa.array(rng.integers(len(pools.streets), size=n)))
    line1 = text.truncate(pc.binary_join_element_wise(building, street, " "), ADDRESS_MAX)
    line2 = pools.streets.take(pa.array(rng.integers(len(pools.streets), size=n)))
    new = {
        "customer_addressline1": line1,
        "customer_addressline2": text.truncate(line2, ADDRESS_MAX),
        "city": _CITY.take(pa.array(city)),
        "state": _STATE.take(pa.array(city)),
        "pin": _PIN.take(pa.array(city)),
    }
    for name, values in new.items():
        rows = _set(rows, name, _replace_where(rows.column(name).combine_chunks(), mask, values))
    return rows


def _rerate(rng: np.random.Generator, _day: Day, rows: pa.Table, mask: np.ndarray) -> pa.Table:
    """Another risk category than the current one (any level for an unknown value)."""
    values = rows.column("customer_risk_category").to_pylist()
    current = np.array([LEVELS.index(v) if v in LEVELS else 0 for v in values], dtype=np.int64)
    other = (current + 1 + rng.integers(0, len(LEVELS) - 1, size=current.shape[0])) % len(LEVELS)
    column = rows.column("customer_risk_category").combine_chunks()
    return _set(
        rows, "customer_risk_category", _replace_where(column, mask, text.labels(LEVELS, other))
    )


def _restatus(_rng: np.random.Generator, _day: Day, rows: pa.Table, mask: np.ndarray) -> pa.Table:
    """Active <-> Dormant; deceased customers and minors (always Active) do not change."""
    status = rows.column("customer_status").to_pylist()
    minor = rows.column("minor_flag").to_pylist()
    flipped = [
        ("Dormant" if s == "Active" else "Active") if m and s in IN_USE and f != "Yes" else s
        for s, m, f in zip(status, mask, minor, strict=True)
    ]
    return _set(rows, "customer_status", pa.array(flipped, pa.string()))


CHANGES: dict[str, Callable[[np.random.Generator, Day, pa.Table, np.ndarray], pa.Table]] = {
    "move": _move,
    "risk": _rerate,
    "status": _restatus,
}


def _changed_customers(day: Day, rng: np.random.Generator) -> tuple[Batch | None, pa.Table]:
    """One new version per changed customer, whatever the number of changes it gets."""
    picks = {kind: day.pick_customers(rng, rate) for kind, rate in CHANGE_RATES.items()}
    ids = sorted({int(i) for p in picks.values() for i in p})
    rows = _not_touched_today(day, day.state.latest(CUSTOMER.name, ids))
    if rows.num_rows == 0:
        return None, rows
    keys = np.array(_ids(rows), dtype=np.int64)
    for kind, change in CHANGES.items():
        rows = change(rng, day, rows, np.isin(keys, picks[kind]))
    stamps = text.timestamps(day.times(rng, BUSINESS_HOURS, rows.num_rows))
    rows = _set(rows, "modified_at", stamps)
    day.report.changed_customers = _ids(rows)
    return Batch(CUSTOMER.name, "2_changes", _as_columns(rows, CUSTOMER.name)), rows


def _rescores(day: Day, rng: np.random.Generator, changed: pa.Table) -> Batch | None:
    """The CIBIL re-score job: a share of customers gets a new score and check date.

    The seed's re-score script rewrote scores but kept `modified_at`, so its own merge on
    (cust_id, modified_at) discarded the new scores: a seed bug. The intent is a new
    version, so here `modified_at` is the re-score time, after every change of the day.
    """
    ids = day.pick_customers(rng, RESCORE_SHARE)
    rows = _not_touched_today(day, day.state.latest(CUSTOMER.name, [int(i) for i in ids]))
    if rows.num_rows == 0:
        return None
    if changed.num_rows:  # build on today's change, not on the version it replaced
        picked, today = set(_ids(rows)), set(_ids(changed))
        keep = pa.array([k not in today for k in _ids(rows)], pa.bool_())
        also = pa.array([k in picked for k in _ids(changed)], pa.bool_())
        rows = pa.concat_tables([rows.filter(keep), changed.select(rows.column_names).filter(also)])
        rows = rows.sort_by("_key")
    n = rows.num_rows
    low = rng.random(n) < CIBIL_LOW_SHARE
    scores = np.where(
        low,
        rng.integers(CIBIL_LOW_RANGE[0], CIBIL_LOW_RANGE[1] + 1, size=n),
        rng.integers(CIBIL_HIGH_RANGE[0], CIBIL_HIGH_RANGE[1] + 1, size=n),
    )
    rows = _set(rows, "cibil_score", text.integers(scores))
    rows = _set(rows, "cibil_check_date", text.dates(np.full(n, day_number(day.day))))
    rows = _set(rows, "modified_at", text.timestamps(day.times(rng, RESCORE_HOURS, n)))
    day.report.rescores = dict(zip(_ids(rows), (int(s) for s in scores), strict=True))
    return Batch(CUSTOMER.name, "3_cibil_rescore", _as_columns(rows, CUSTOMER.name))


def customer_batches(day: Day) -> list[Batch]:
    """New customers, changed customers, then the evening's re-scores."""
    rng = day.rng(CUSTOMER.name)
    new = _new_customers(day, rng)
    changes, changed = _changed_customers(day, rng)
    rescores = _rescores(day, rng, changed)
    return [_age_flags_as_of_change(b) for b in (new, changes, rescores) if b is not None]


def _age_flags_as_of_change(batch: Batch) -> Batch:
    """Personal customers' minor and senior flags as of each version's modified_at
    (`minor_flag__matches_dob`): a customer who was 17 at the last change is an adult at
    this one, as a source system's own age job would record."""
    cols = batch.columns
    dob = pc.cast(cols["cust_dob"], pa.date32(), safe=False)
    when = pc.cast(
        pc.cast(pc.utf8_slice_codeunits(cols["modified_at"], 0, 10), pa.date32()), pa.date32()
    )
    years = pc.subtract(pc.year(when), pc.year(dob))
    before_birthday = pc.less(
        pc.add(pc.multiply(pc.month(when), 100), pc.day(when)),
        pc.add(pc.multiply(pc.month(dob), 100), pc.day(dob)),
    )
    age = pc.subtract(years, pc.cast(before_birthday, pa.int64()))
    personal = pc.equal(cols["customer_type"], "Personal")
    flags = {
        "minor_flag": pc.less(age, MINOR_BELOW_AGE),
        "senior_citizen_flag": pc.greater_equal(age, SENIOR_FROM_AGE),
    }
    out = dict(cols)
    for name, on in flags.items():
        derived = pc.if_else(on, "Yes", "No")
        keep = pc.or_(pc.invert(personal), pc.is_null(age))
        out[name] = pc.if_else(pc.fill_null(keep, True), cols[name], derived)
    return replace(batch, columns=out)


# ---- accounts --------------------------------------------------------------------------


def _new_accounts(day: Day, rng: np.random.Generator) -> Batch | None:
    customers = day.facts.get("new_customers")
    if customers is None:
        return None
    assert isinstance(customers, CustomerChunk)
    per_customer = draw_account_counts(rng, customers.size)
    first = day.state.max_ids.get(ACCOUNT.name, FIRST_ACCOUNT_ID - 1) + 1 - FIRST_ACCOUNT_ID
    # Built as if opened before the snapshot, then stamped with today: every account of a
    # new customer opens with it, in use.
    before = replace(customers, created_s=np.full(customers.size, AS_OF_SECONDS - 1))
    chunk = build_accounts(rng, first, before, per_customer)
    opened = np.repeat(customers.created_s, per_customer)
    columns = dict(chunk.columns)
    stamps = text.timestamps(opened)
    columns["created_at"] = stamps
    columns["modified_at"] = stamps
    columns["open_date"] = text.dates(opened // DAY_SECONDS)
    columns["account_status"] = pa.array(["Active"] * chunk.size, pa.string())
    return Batch(ACCOUNT.name, "1_new", columns)


def _closures(day: Day, rng: np.random.Generator) -> Batch | None:
    """Every open account of a closing customer becomes Closed with a zero balance.

    A customer counts as closed once none of its accounts is in use; only customers with
    an account in use can close, so each closure removes exactly one open customer.
    """
    ids = day.pick_customers(rng, CLOSURE_RATE)
    accounts = day.state.accounts_of([int(i) for i in ids])
    accounts = _not_touched_today(day, accounts)
    status = accounts.column("account_status").to_pylist()
    open_rows = pa.array([s != CLOSED for s in status], pa.bool_())
    accounts = accounts.filter(open_rows)
    if accounts.num_rows == 0:
        return None
    n = accounts.num_rows
    accounts = _set(accounts, "account_status", pa.array([CLOSED] * n, pa.string()))
    accounts = _set(accounts, "current_balance", text.money(np.zeros(n, dtype=np.int64)))
    accounts = _set(accounts, "modified_at", text.timestamps(day.times(rng, BUSINESS_HOURS, n)))
    # Closed only if the customer's other accounts (not in this batch) are closed too:
    # they are, since every open account of the customer is in it.
    day.report.closed_customers = sorted({int(c) for c in accounts.column("cust_id").to_pylist()})
    return Batch(ACCOUNT.name, "2_closures", _as_columns(accounts, ACCOUNT.name))


def account_batches(day: Day) -> list[Batch]:
    """Today's new customers' accounts, then the day's closures."""
    rng = day.rng(ACCOUNT.name)
    return [b for b in (_new_accounts(day, rng), _closures(day, rng)) if b is not None]


# ---- transactions ----------------------------------------------------------------------

_CURRENCY_TEXT = pa.array(CURRENCIES, pa.string())


def transaction_batches(day: Day) -> list[Batch]:
    """The day's payments on the accounts in use (after the day's openings and closures)."""
    rng = day.rng(TRANSACTION.name)
    accounts = day.state.accounts_in_use(IN_USE)
    n = accounts.num_rows
    if n == 0:
        return []
    intensity = np.asarray(TRANSACTION_MONTH_INTENSITY, dtype=np.float64)
    month_share = intensity[day.day.month - 1] / intensity.sum()
    per_day = RATE_PER_ACCOUNT * month_share / BUSINESS_DAYS_PER_MONTH
    counts = rng.poisson(per_day, size=n)
    currency = pc.index_in(accounts.column("currency"), value_set=_CURRENCY_TEXT)
    chunk = AccountChunk(
        columns={},
        account_id=accounts.column("account_id").combine_chunks(),
        cust_id=accounts.column("cust_id").combine_chunks(),
        currency=np.asarray(currency.fill_null(0).to_numpy(zero_copy_only=False)),
        transacting=np.ones(n, dtype=bool),
        created_s=np.zeros(n, dtype=np.int64),
    )
    first = day.state.max_ids.get(TRANSACTION.name, FIRST_TRANSACTION_ID - 1) + 1
    columns = build_transactions(rng, first - FIRST_TRANSACTION_ID, chunk, counts)
    total = int(counts.sum())
    if total == 0:
        return []
    stamps = text.timestamps(day.times(rng, (0, DAY_SECONDS), total))
    for name in ("transaction_ts", "created_at", "modified_at"):
        columns[name] = stamps
    return [Batch(TRANSACTION.name, "1_payments", columns)]


def fx_rate_batches(day: Day) -> list[Batch]:
    """The day's rate of every currency, so the day's payments can be reported."""
    rates = day_rates(day.rng(FX_RATE.name), day_number(day.day))
    return [Batch(FX_RATE.name, "1_rates", rates)]


# ---- campaigns -------------------------------------------------------------------------


def campaign_batches(day: Day) -> list[Batch]:
    """The month's campaign, with the first simulated day of its month (campaigns_day.py)."""
    columns = launched_campaign(day.day, day.state)
    return [] if columns is None else [Batch(CAMPAIGN.name, "1_new", columns)]


def campaign_event_batches(day: Day) -> list[Batch]:
    """The day's contacts of the running campaigns and the later stages that came due,
    each allowed by the customer's version in force at its time (after the day's changes)."""
    columns = day_events(day.day, day.seed, day.state, day.rng(CAMPAIGN_EVENT.name))
    return [] if columns is None else [Batch(CAMPAIGN_EVENT.name, "1_events", columns)]


# One line per source, in the order a day lands them (later ones see earlier ones' files).
DAY_BATCHES: dict[str, Callable[[Day], list[Batch]]] = {
    CUSTOMER.name: customer_batches,
    ACCOUNT.name: account_batches,
    FX_RATE.name: fx_rate_batches,
    TRANSACTION.name: transaction_batches,
    CAMPAIGN.name: campaign_batches,
    CAMPAIGN_EVENT.name: campaign_event_batches,
}


# ---- faults ----------------------------------------------------------------------------


def _land_faults(
    day: Day,
    landing: Path,
    fmt: str,
    error_rate: float,
    landed: list[CleanFile],
    written: list[PartFile],
) -> list[PlantedFault]:
    """The day's planted faults (`day_faults.py`) as hidden files, and their truth rows.

    Fault files add to the landed state's highest ids only (no later day builds on a
    faulty version); the resent copy is the same columns encoded again, the same bytes.
    """

    def relative(entity: str, label: str) -> str:
        return f"{entity}/{day_file_name(entity, day.day, label)}.{fmt}"

    planted = plant_day_faults(
        day.day,
        landed,
        day.state,
        error_rate,
        day.rng("faults"),
        lambda entity: relative(entity, FAULT_LABEL),
    )
    for entity, columns in planted.columns.items():
        batch = Batch(entity, FAULT_LABEL, columns)
        if entity == CUSTOMER.name:
            batch = _age_flags_as_of_change(batch)
        _write_batch(day, landing, fmt, batch, "faulty", written)
    if planted.resend is not None:
        original = planted.resend
        batch = Batch(original.entity, original.label + DUPLICATE_SUFFIX, original.columns)
        _write_batch(day, landing, fmt, batch, "none", written)
    return planted.faults


@functools.lru_cache(maxsize=4)
def _pools(seed: int) -> Pools:
    """Faker's pools, drawn once per seed in a process (the demo lands a day a tick)."""
    return build_pools(seed)


# ---- days ------------------------------------------------------------------------------


def business_days(first: dt.date) -> Iterator[dt.date]:
    """Monday to Friday from `first` on."""
    day = first
    while True:
        if day.weekday() < 5:
            yield day
        day += dt.timedelta(days=1)


def landed_days(landing: Path) -> list[dt.date]:
    """Days whose simulated files are in the landing folder (from their names)."""
    days = set()
    for entity in ENTITIES:
        folder = landing / entity
        if folder.is_dir():
            for path in folder.iterdir():
                match = DAY_FILE.match(path.name)
                if match:
                    days.add(dt.datetime.strptime(match.group(1), "%Y%m%d").date())
    return sorted(days)


def day_file_name(entity: str, day: dt.date, label: str) -> str:
    """`customer_day_20231201_1_new`: sorts by day, then by the order a day lands them."""
    return f"{entity}_day_{day:%Y%m%d}_{label}"


def first_day(landing: Path, start: dt.date | None) -> dt.date:
    """The day to simulate first: `start`, else the business day after the last landed one
    (or after the snapshot). A day that has landed cannot land again."""
    done = landed_days(landing)
    last = done[-1] if done else AS_OF
    if start is None:
        return next(business_days(last + dt.timedelta(days=1)))
    if start <= last:
        raise SimulationError(
            f"{start} is not after {last}, the last day already in {landing}: days land once, "
            "in order; leave out --start to continue after it"
        )
    return next(business_days(start))


def remove_stale_temporaries(landing: Path) -> list[Path]:
    """Remove the hidden files of a day that never landed (a run killed mid-write)."""
    removed = []
    for folder_name in [*DAY_BATCHES, *source_folders()]:
        folder = landing / folder_name
        if folder.is_dir():
            for path in folder.iterdir():
                if DAY_TEMPORARY.match(path.name) and path.is_file():
                    path.unlink(missing_ok=True)
                    removed.append(path)
    return removed


def check_landing_writable(landing: Path, with_truth: bool = False) -> None:
    """Fail before anything is written when a day could not land in every folder (and,
    `with_truth`, the truth file beside the landing folder could not be replaced)."""
    folders = [landing / entity for entity in DAY_BATCHES]
    for folder in [*folders, landing.parent] if with_truth else folders:
        probe = folder / f".simulate-probe-{os.getpid()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise SimulationError(
                f"cannot land files in {folder} ({exc.strerror or exc}): make it writable "
                "(chmod u+w, or remount it read-write) and run again; nothing was landed"
            ) from exc


def _write_batch(
    day: Day, landing: Path, fmt: str, batch: Batch, state: str, written: list[PartFile]
) -> PartFile:
    """One file of the day under its hidden name (added to `written`, renamed with the rest
    of the day, or removed with it).

    `state` says what the landed state takes from it: "clean" versions and ids, "faulty"
    ids only, "none" nothing (a resent copy). A resent copy's rows are not counted: the
    pipeline stores nothing from a duplicate file.
    """
    folder = landing / batch.entity
    folder.mkdir(parents=True, exist_ok=True)
    name = day_file_name(batch.entity, day.day, batch.label)
    entity = ENTITIES[batch.entity]
    part = PartFile(folder, entity, day.seed, 0, fmt, name=name)
    written.append(part.open())
    try:
        part.write(encode(entity, batch.columns, fmt, 0), batch.rows)
    finally:
        part.close()
    if state != "none":
        day.state.add(batch.entity, part.temporary, name=part.path.name, faulty=state == "faulty")
        day.report.rows[batch.entity] = day.report.rows.get(batch.entity, 0) + batch.rows
    return part


def _land_sources(day: Day, landing: Path, landed: list[CleanFile], written: list) -> None:
    """The other source systems' records of the day's new customers (when the landing zone
    has them), written hidden like the day's other files."""
    new = [f for f in landed if f.entity == CUSTOMER.name and f.label == NEW_CUSTOMERS_LABEL]
    if not new:
        return
    created = day.facts["new_customers"].created_s
    files, rows = write_source_day(
        landing, day.day, NEW_CUSTOMERS_LABEL, new[0].columns, created, day.rng
    )
    written.extend(files)
    for source, count in rows.items():
        day.report.rows[source] = day.report.rows.get(source, 0) + count


def _land_day(day: Day, landing: Path, fmt: str, error_rate: float) -> None:
    """Write every batch of the day under temporary names, then its faults and their truth
    rows (at a rate above 0), then rename the files into place."""
    written: list[PartFile] = []
    try:
        landed: list[CleanFile] = []
        for entity, build in DAY_BATCHES.items():
            for batch in build(day):
                part = _write_batch(day, landing, fmt, batch, "clean", written)
                file = f"{entity}/{part.path.name}"
                landed.append(CleanFile(entity, file, batch.label, batch.columns))
        if sources_generated(landing):
            _land_sources(day, landing, landed, written)
        if error_rate > 0:
            faults = _land_faults(day, landing, fmt, error_rate, landed, written)
            day.report.faults = faults
            # Before the renames: a day killed in between lands again with the same rows.
            append_truth(landing, faults)
    except BaseException as exc:
        for part in written:
            part.close()
            part.temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # a full disk, a folder gone read-only
            raise SimulationError(
                f"{day.day} could not land ({exc.strerror or exc}); nothing of it was "
                "left behind: free space or fix the folder and run again"
            ) from exc
        raise
    # The source systems' files first: a day counts as landed once a file of an entity
    # folder is in place (`landed_days`), so a run killed among the renames must not leave
    # them behind for `remove_stale_temporaries`.
    sources_first = sorted(written, key=lambda part: not isinstance(part, SourceDayFile))
    for part in sources_first:
        part.commit()
        day.report.files.append(part.path)


def simulate(
    landing: Path,
    days: int,
    seed: int = 42,
    start: dt.date | None = None,
    fmt: str = "csv",
    error_rate: float = 0.0,
    on_day: Callable[[DayReport], None] | None = None,
) -> list[DayReport]:
    """Land `days` simulated business days into `landing`; same arguments, same bytes."""
    if fmt not in FORMATS:
        raise SimulationError(f"format must be one of {FORMATS}, not {fmt!r}")
    if days < 0:
        raise SimulationError("--days must be 0 or more")
    if not 0.0 <= error_rate < 1.0:
        raise SimulationError("--error-rate must be at least 0 and below 1")
    calendar = business_days(first_day(landing, start))
    check_landing_writable(landing, with_truth=error_rate > 0)
    remove_stale_temporaries(landing)
    reports: list[DayReport] = []
    pools = _pools(seed)
    with tempfile.TemporaryDirectory(prefix="fs-simulate-") as scratch:
        state = LandedState(landing, Path(scratch))
        try:
            for _ in range(days):
                started = time.perf_counter()
                date = next(calendar)
                report = DayReport(date)
                _land_day(Day(date, seed, state, pools, report), landing, fmt, error_rate)
                report.seconds = time.perf_counter() - started
                reports.append(report)
                if on_day is not None:
                    on_day(report)
        finally:
            state.close()
    return reports


def simulate_every(
    landing: Path,
    interval_s: float,
    stop: threading.Event,
    seed: int = 42,
    error_rate: float = 0.0,
    on_day: Callable[[DayReport], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Land one day every `interval_s` seconds until `stop` is set (the demo's clock).

    A day that cannot land (full disk, read-only folder) is reported and tried again at
    the next tick; its temporary files are removed, so nothing half-written is left.
    """
    while not stop.wait(interval_s):
        try:
            simulate(landing, days=1, seed=seed, error_rate=error_rate, on_day=on_day)
        except (SimulationError, OSError) as exc:
            if on_error is not None:
                on_error(exc)
