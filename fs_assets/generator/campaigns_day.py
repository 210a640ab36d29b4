"""Simulated campaign days: each month's campaign, and the day's campaign events.

A simulated month has one campaign (`campaign_of_month`: the next card in turn, from the
month's first day for CAMPAIGN_WEEKS), landed with the first simulated day of its month.
Each business day:
- every running campaign (landed, start <= day <= end) contacts each customer it has not
  contacted with probability CONTACT_RATE, at a time within business hours, when the
  customer's landed version in force then allows it (personal, adult, living, marketing
  consent Yes, do-not-contact No: what `cust_id__without_consent` checks at the event's
  time);
- every landed contact of a simulated campaign follows a path of later stages drawn from
  numbers of its own (seed, campaign, customer) with the sample's rates, fit lift, risk and
  affluence factors and delays (campaigns.py). The path's events whose time falls after the
  previous business day, up to the end of this one, land today: each only after its
  previous stage has landed, and while the customer's version in force at its time still
  allows contact (else the path stops there).
The paths are functions of the landed contacts, so the same arguments give the same bytes
however the days are split between runs. Days skipped with `--start` drop the path events
that fell in them (and so the stages after them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fs_assets.generator import text
from fs_assets.generator.campaigns import (
    AFFLUENCE_FACTOR,
    CAMPAIGN_YEAR,
    CAMPAIGNS,
    FIT_LIFT,
    HIGH_RISK_FACTOR,
    MAX_STEP_RATE,
    STEP_DELAY_DAYS,
    STEP_RATES,
    Campaign,
    build_campaigns,
    campaign_of_month,
    fitting_campaign,
)
from fs_assets.generator.landed import LandedState
from fs_assets.generator.sampling import DAY_SECONDS, day_number, uniform_below
from fs_assets.model.entities import CAMPAIGN_EVENT
from fs_assets.model.value_sets import (
    CAMPAIGN_EVENT_TYPES,
    FIRST_CAMPAIGN_EVENT_ID,
    FIRST_CUSTOMER_ID,
    LEVELS,
    YES_NO,
)

# Chance per business day that a running campaign contacts a given customer it has not
# contacted (about a third of the contactable customers over a campaign's 40 days).
CONTACT_RATE = 0.01
# A contact's last stage comes at most this many days after it (the delays' sum).
PATH_DAYS = sum(high for _, high in STEP_DELAY_DAYS)
# When contacts are made (seconds after midnight), as the simulation's branch hours.
CONTACT_HOURS = (9 * 3600, 18 * 3600)
# Launch time of a campaign landed by a simulated day (before its first contacts).
LAUNCH_SECOND = 8 * 3600
YES, NO = YES_NO
_SPLITMIX = (0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB)


def month_index(day: dt.date) -> int:
    """The campaign month of a day (0: January of CAMPAIGN_YEAR)."""
    return (day.year - CAMPAIGN_YEAR) * 12 + day.month - 1


def campaign_index(campaign_id: str) -> int:
    return int(campaign_id[3:]) - 1


def launched_campaign(day: dt.date, state: LandedState) -> dict[str, pa.Array] | None:
    """The month's campaign row, when it has not landed yet (created at LAUNCH_SECOND)."""
    campaign = campaign_of_month(month_index(day))
    if campaign.campaign_id in state.campaign_ids():
        return None
    created = np.array([day_number(day) * DAY_SECONDS + LAUNCH_SECOND], dtype=np.int64)
    return build_campaigns((campaign,), created)


def _simulated(day: dt.date, state: LandedState) -> list[Campaign]:
    """Landed simulated campaigns whose paths can still reach `day` (newest last)."""
    landed = state.campaign_ids()
    months = range(max(len(CAMPAIGNS), month_index(day) - 3), month_index(day) + 1)
    return [c for c in map(campaign_of_month, months) if c.campaign_id in landed]


def _uniform(seed: int, *keys: np.ndarray) -> np.ndarray:
    """Numbers in [0, 1) that depend only on `seed` and the keys (splitmix64 per row)."""
    x = np.full(keys[0].shape, seed, dtype=np.uint64)
    for key in keys:
        z = x ^ key.astype(np.uint64) + np.uint64(_SPLITMIX[0])
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_SPLITMIX[1])
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_SPLITMIX[2])
        x = z ^ (z >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _allowed(facts: pa.Table) -> np.ndarray:
    """Whether the versions in force allow a contact (and the customer existed then)."""
    col = {c: facts.column(c).to_pylist() for c in facts.column_names}
    return np.array(
        [
            known is True
            and kind == "Personal"
            and minor == NO
            and status != "Deceased"
            and consent == YES
            and dnc == NO
            for known, kind, minor, status, consent, dnc in zip(
                col["_known"],
                col["customer_type"],
                col["minor_flag"],
                col["customer_status"],
                col["marketing_consent"],
                col["do_not_contact"],
                strict=True,
            )
        ],
        dtype=bool,
    )


@dataclass
class _Events:
    campaign: list[str]
    cust: list[int]
    stage: list[int]
    ts: list[int]

    def add(self, campaign: str, cust: int, stage: int, ts: int) -> None:
        self.campaign.append(campaign)
        self.cust.append(cust)
        self.stage.append(stage)
        self.ts.append(ts)


def _contacts(
    day: dt.date, state: LandedState, rng: np.random.Generator, campaign: Campaign, done: set
) -> _Events:
    """The running campaign's new contacts of the day, allowed at their time."""
    out = _Events([], [], [], [])
    customers = state.max_ids.get("customer", FIRST_CUSTOMER_ID - 1) - FIRST_CUSTOMER_ID + 1
    k = int(rng.binomial(max(customers, 0), CONTACT_RATE))
    if k == 0:
        return out
    picks = np.sort(rng.choice(customers, size=k, replace=False)) + FIRST_CUSTOMER_ID
    low, high = CONTACT_HOURS
    times = day_number(day) * DAY_SECONDS + low + uniform_below(rng, np.full(k, high - low - 1))
    fresh = [(int(c), int(t)) for c, t in zip(picks, times, strict=True)]
    fresh = [(c, t) for c, t in fresh if (campaign.campaign_id, c) not in done]
    if not fresh:
        return out
    ok = _allowed(state.in_force([c for c, _ in fresh], [t for _, t in fresh]))
    for (cust, ts), allowed in zip(fresh, ok, strict=True):
        if allowed:
            out.add(campaign.campaign_id, cust, 0, ts)
    return out


def _paths(seed: int, state: LandedState, contacts: _Events) -> dict[tuple, list[int]]:
    """Per contact (campaign, customer): the times of its later stages (1, 2, ...) on its
    path, from the customer's version in force at the contact."""
    if not contacts.cust:
        return {}
    facts = state.in_force(contacts.cust, contacts.ts)
    cibil = np.array(
        [int(v) if v and v.isdigit() else 0 for v in facts.column("cibil_score").to_pylist()]
    )
    affluence = np.array(
        [LEVELS.index(v) if v in LEVELS else 1 for v in facts.column("afflunce_level").to_pylist()]
    )
    high = np.array([v == "High" for v in facts.column("customer_risk_category").to_pylist()])
    index = np.array([campaign_index(c) for c in contacts.campaign], dtype=np.int64)
    cust = np.array(contacts.cust, dtype=np.int64)
    fits = fitting_campaign(cibil, affluence) == index % len(CAMPAIGNS)
    ts = np.array(contacts.ts, dtype=np.int64)
    alive = np.ones(len(cust), dtype=bool)
    factor = np.array([AFFLUENCE_FACTOR[LEVELS[a]] for a in affluence])
    out: dict[tuple, list[int]] = {
        k: [] for k in zip(contacts.campaign, contacts.cust, strict=True)
    }
    for step, rate in enumerate(STEP_RATES):
        low, high_days = STEP_DELAY_DAYS[step]
        span = (high_days - low) * DAY_SECONDS
        delay = (_uniform(seed, index, cust, np.full(len(cust), 2 * step)) * (span + 1)).astype(
            np.int64
        )
        ts = ts + low * DAY_SECONDS + delay
        p = rate * factor * np.where(fits, FIT_LIFT[step], 1.0)
        p = np.where(high, p * HIGH_RISK_FACTOR[step], p)
        alive &= _uniform(seed, index, cust, np.full(len(cust), 2 * step + 1)) < np.minimum(
            p, MAX_STEP_RATE
        )
        for i in np.flatnonzero(alive):
            out[(contacts.campaign[i], contacts.cust[i])].append(int(ts[i]))
    return out


def _seconds(stamp: str | None) -> int | None:
    """Seconds since 1970 of a landed timestamp's text; None when it is not one."""
    try:
        when = dt.datetime.fromisoformat(stamp or "")
    except ValueError:
        return None
    return int((when - dt.datetime(1970, 1, 1)).total_seconds())


def _window(day: dt.date) -> tuple[int, int]:
    """Seconds from the day after the previous business day to the end of `day`."""
    previous = day - dt.timedelta(days=1)
    while previous.weekday() >= 5:
        previous -= dt.timedelta(days=1)
    return (day_number(previous) + 1) * DAY_SECONDS, (day_number(day) + 1) * DAY_SECONDS


def day_events(
    day: dt.date, seed: int, state: LandedState, rng: np.random.Generator
) -> dict[str, pa.Array] | None:
    """The day's campaign events (contacts of the running campaigns, then the later stages
    of every simulated contact whose time has come), numbered after the landed events."""
    campaigns = _simulated(day, state)
    if not campaigns:
        return None
    landed = state.campaign_events([c.campaign_id for c in campaigns])
    stage_of = {t: i for i, t in enumerate(CAMPAIGN_EVENT_TYPES)}
    have = {
        (c, int(k), stage_of[t])
        for c, k, t in zip(
            landed.column("campaign_id").to_pylist(),
            landed.column("cust_id").to_pylist(),
            landed.column("event_type").to_pylist(),
            strict=True,
        )
        if t in stage_of and k is not None and k.isdigit()
    }
    first, end = _window(day)
    contacts = _Events([], [], [], [])  # the landed contacts whose paths can reach today
    for c, k, t, ts in zip(
        landed.column("campaign_id").to_pylist(),
        landed.column("cust_id").to_pylist(),
        landed.column("event_type").to_pylist(),
        landed.column("event_ts").to_pylist(),
        strict=True,
    ):
        at = _seconds(ts)
        recent = at is not None and at >= first - (PATH_DAYS + 1) * DAY_SECONDS
        if t == CAMPAIGN_EVENT_TYPES[0] and k is not None and k.isdigit() and recent:
            contacts.add(c, int(k), 0, at)
    today = _Events([], [], [], [])
    done = {(c, k) for c, k, _ in have}
    for campaign in campaigns:
        if campaign.start_date <= day <= campaign.end_date:
            new = _contacts(day, state, rng, campaign, done)
            for c, k, s, ts in zip(new.campaign, new.cust, new.stage, new.ts, strict=True):
                today.add(c, k, s, ts)
                contacts.add(c, k, s, ts)
    paths = _paths(seed, state, contacts)
    reached = have | {(c, k, 0) for c, k in zip(today.campaign, today.cust, strict=True)}
    for stage in range(1, len(CAMPAIGN_EVENT_TYPES)):
        due = [
            (c, k, times[stage - 1])
            for (c, k), times in paths.items()
            if len(times) >= stage
            and first <= times[stage - 1] < end
            and (c, k, stage - 1) in reached
            and (c, k, stage) not in reached
        ]
        if not due:
            continue
        ok = _allowed(state.in_force([k for _, k, _ in due], [t for _, _, t in due]))
        for (c, k, ts), allowed in zip(due, ok, strict=True):
            if allowed:
                today.add(c, k, stage, ts)
                reached.add((c, k, stage))
    if not today.cust:
        return None
    order = sorted(
        range(len(today.cust)),
        key=lambda i: (today.ts[i], today.campaign[i], today.cust[i], today.stage[i]),
    )
    first_id = state.max_ids.get(CAMPAIGN_EVENT.name, FIRST_CAMPAIGN_EVENT_ID - 1) + 1
    stamps = text.timestamps(np.array([today.ts[i] for i in order], dtype=np.int64))
    return {
        "event_id": text.integers(first_id + np.arange(len(order), dtype=np.int64)),
        "campaign_id": pa.array([today.campaign[i] for i in order], pa.string()),
        "cust_id": pa.array([str(today.cust[i]) for i in order], pa.string()),
        "event_type": text.labels(CAMPAIGN_EVENT_TYPES, np.array([today.stage[i] for i in order])),
        "event_ts": stamps,
        "created_at": stamps,
        "modified_at": stamps,
    }
