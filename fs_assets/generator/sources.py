"""More source systems for identity resolution: a CRM and a card platform that hold the
core banking customers again, with the noise real silos have, and a truth file.

The core customers are read from the landing zone through the core mapping; each other
source's files are written in the layout its mapping file declares (folder, columns,
date and timestamp formats), so the generator and the linkage read one declaration.
Besides noisy copies of core customers, each source has people of its own (in one source
only), namesakes (distinct people sharing a name and birth year with a core customer) and
a few duplicates under a second id. The truth file holds ids only: source, source_id,
person_id. Same landing files and seed, same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fs_assets.generator.sources_noise import (
    EMAIL_DOMAINS,
    LETTERS,
    SourceNoise,
    email_variant,
    format_mobile,
    nickname,
    transpose_dob,
    typo,
)
from fs_assets.identity.attributes import ATTRIBUTES, SOURCES_DIR
from fs_assets.identity.canonical import read_source
from fs_assets.identity.evaluate import truth_path
from fs_assets.identity.mapping import SourceMapping, load_mappings
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.value_sets import AS_OF

SOURCES_STREAM = 20  # spawn key of the sources' random stream (issue 20)
ADDRESS = ("address_line1", "address_line2", "address_line3", "city", "state", "pin", "country")
UPDATED_FROM = dt.datetime(2021, 1, 1)
BIRTH_FROM, BIRTH_DAYS = dt.date(1950, 1, 1), 20_000


@dataclass(frozen=True)
class SourcePlan:
    """How many people a source holds and how noisy its records are."""

    prefix: str  # of its record ids
    share_of_core: float  # core customers it holds
    own_people: float  # people only it holds, per core customer
    namesakes: float  # distinct people sharing a core customer's name and birth year
    noise: SourceNoise


PLANS = {
    "crm": SourcePlan(
        "C", 0.55, 0.06, 0.01,
        SourceNoise(
            name_typo=0.08, nickname=0.04, initial=0.02, swap_names=0.02, dob_missing=0.08,
            dob_transposed=0.03, old_address=0.15, email_missing=0.08, email_variant=0.12,
            mobile_missing=0.06, mobile_other=0.05, mobile_formatted=0.5, middle_missing=0.5,
            duplicate=0.03,
        ),
    ),
    "card_platform": SourcePlan(
        "H", 0.40, 0.04, 0.01,
        SourceNoise(
            name_typo=0.04, nickname=0.02, initial=0.04, swap_names=0.01, dob_missing=0.02,
            dob_transposed=0.02, old_address=0.10, email_missing=0.05, email_variant=0.08,
            mobile_missing=0.03, mobile_other=0.04, mobile_formatted=0.3, middle_missing=1.0,
            duplicate=0.01,
        ),
    ),
}  # fmt: skip


@dataclass
class SourcesStats:
    """What one run wrote: records per source, the files and the truth file."""

    rows: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    truth: Path | None = None
    people: int = 0


def _core_people(landing: Path, core: SourceMapping) -> list[dict[str, Any]]:
    """The core customers as canonical records (latest version per id), by id."""
    table = read_source(landing, core).to_pylist()
    latest: dict[str, dict[str, Any]] = {}
    for row in table:
        latest[row["source_id"].strip()] = row
    people = []
    for source_id in sorted(latest):
        row = {a: (latest[source_id][a] or "").strip() for a in ATTRIBUTES}
        row["date_of_birth"] = _parse_date(row["date_of_birth"], core.date_format)
        row["source_id"] = source_id
        people.append(row)
    return people


def _parse_date(text: str, fmt: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, fmt).date() if text else None
    except ValueError:
        return None


def _pan(draws: np.ndarray) -> str:
    """A national id in the PAN layout: five letters, four digits, a letter."""
    letters = [LETTERS[d % 26].upper() for d in draws[:6]]
    return "".join(letters[:5]) + f"{draws[6] % 10_000:04d}" + letters[5]


def _mobile(draw: int) -> str:
    return str(7_000_000_000 + draw % 2_999_999_999)


def _new_person(
    rng: np.random.Generator, people: Sequence[dict[str, Any]], namesake: bool
) -> dict[str, Any]:
    """A person no core system holds: names and address drawn from other people; a
    namesake keeps one core customer's names and birth year."""
    a, b, c = (people[i] for i in rng.integers(0, len(people), 3))
    person = {k: "" for k in ATTRIBUTES}
    person["first_name"], person["last_name"] = a["first_name"], b["last_name"]
    birth = BIRTH_FROM + dt.timedelta(days=int(rng.integers(0, BIRTH_DAYS)))
    if namesake:
        person["last_name"] = a["last_name"]
        year = a["date_of_birth"].year if a["date_of_birth"] else birth.year
        birth = dt.date(year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    person["date_of_birth"] = birth
    local = f"{person['first_name']}.{person['last_name']}".lower()
    domain = EMAIL_DOMAINS[int(rng.integers(0, len(EMAIL_DOMAINS)))]
    person["email"] = f"{local}{int(rng.integers(10_000, 100_000))}@{domain}"
    person["mobile"] = _mobile(int(rng.integers(0, 2**31)))
    person.update({k: c[k] for k in ADDRESS})
    return person


def _dob_text(dob: dt.date | None, fmt: str) -> str:
    return dob.strftime(fmt) if dob else ""


def _noisy(
    person: dict[str, Any], noise: SourceNoise, u: np.ndarray, r: np.ndarray, other: dict
) -> dict[str, Any]:
    """One source's copy of a person: each kind of noise applied with its probability,
    from this record's uniforms `u` and integers `r` (and an older address `other`)."""
    rec = dict(person)
    first, last = rec["first_name"], rec["last_name"]
    if u[0] < noise.name_typo:
        first = typo(first, int(r[0] % 4), int(r[1]), int(r[2]))
    if u[1] < noise.name_typo:
        last = typo(last, int(r[3] % 4), int(r[4]), int(r[5]))
    if u[2] < noise.nickname:
        first = nickname(first)
    elif u[2] < noise.nickname + noise.initial:
        first = first[:1]
    if u[3] < noise.swap_names:
        first, last = last, first
    rec["first_name"], rec["last_name"] = first, last
    if u[4] < noise.middle_missing:
        rec["middle_name"] = ""
    dob = rec["date_of_birth"]
    if dob is not None and u[5] < noise.dob_missing:
        dob = None
    elif dob is not None and u[5] < noise.dob_missing + noise.dob_transposed:
        year, month, day = transpose_dob(dob.year, dob.month, dob.day)
        dob = dt.date(year, month, min(day, 28) if month == 2 else day)
    rec["date_of_birth"] = dob
    if u[6] < noise.old_address:
        rec.update({k: other[k] for k in ADDRESS})
    if u[7] < noise.email_missing:
        rec["email"] = ""
    elif u[7] < noise.email_missing + noise.email_variant and rec["email"]:
        rec["email"] = email_variant(rec["email"], int(r[6] % 4), int(r[7]))
    if u[8] < noise.mobile_missing:
        rec["mobile"] = ""
    elif u[8] < noise.mobile_missing + noise.mobile_other:
        rec["mobile"] = _mobile(int(r[8]))
    elif u[9] < noise.mobile_formatted:
        rec["mobile"] = format_mobile(rec["mobile"], int(r[9] % 3))
    return rec


def _people_of(
    rng: np.random.Generator, plan: SourcePlan, core: list[dict], extra_from: int
) -> tuple[list[int], list[dict]]:
    """Which core customers a source holds (indices) and the people only it holds."""
    n = len(core)
    held = np.flatnonzero(rng.random(n) < plan.share_of_core).tolist()
    own = [_new_person(rng, core, False) for _ in range(round(plan.own_people * n))]
    own += [_new_person(rng, core, True) for _ in range(round(plan.namesakes * n))]
    for offset, person in enumerate(own):
        person["person_id"] = _person_id(extra_from + offset)
    return held, own


def _person_id(index: int) -> str:
    return f"P{index:09d}"


def _source_records(
    rng: np.random.Generator, plan: SourcePlan, people: list[dict], core: list[dict]
) -> list[dict]:
    """Noisy records of `people` (a few twice), shuffled, with their ids."""
    dup = rng.random(len(people)) < plan.noise.duplicate
    chosen = people + [p for p, d in zip(people, dup, strict=True) if d]
    n = len(chosen)
    u, r = rng.random((n, 10)), rng.integers(0, 2**31, size=(n, 10))
    others = rng.integers(0, len(core), n)
    updated = rng.integers(
        0, int((dt.datetime.combine(AS_OF, dt.time()) - UPDATED_FROM).total_seconds()), n
    )
    records = []
    for i, person in enumerate(chosen):
        rec = _noisy(person, plan.noise, u[i], r[i], core[int(others[i])])
        rec["updated_at"] = UPDATED_FROM + dt.timedelta(seconds=int(updated[i]))
        records.append(rec)
    order = rng.permutation(n)
    shuffled = [records[i] for i in order]
    for number, rec in enumerate(shuffled, start=1):
        rec["source_id"] = f"{plan.prefix}{number:08d}"
    return shuffled


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    """Written beside, then renamed: a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(temporary, path)


def _write_source(landing: Path, mapping: SourceMapping, records: list[dict], seed: int) -> Path:
    folder = landing / mapping.landing_folder
    folder.mkdir(parents=True, exist_ok=True)
    header = mapping.columns
    rows = []
    for rec in records:
        values = {"date_of_birth": _dob_text(rec["date_of_birth"], mapping.date_format)}
        row = [rec["source_id"], rec["updated_at"].strftime(mapping.timestamp_format)]
        row += [values.get(a, rec[a] or "") for a in mapping.attributes]
        rows.append(row)
    path = folder / f"{mapping.landing_folder}_s{seed}_p00000.csv"
    _write_csv(path, header, rows)
    return path


def generate_sources(
    landing: Path, seed: int = 42, sources_dir: Path = SOURCES_DIR
) -> SourcesStats:
    """Write the other sources' landing files from the core customers already landed,
    and the truth file. Sources without a plan here (added by mapping only) are skipped."""
    mappings = load_mappings(sources_dir)
    core_mapping = next(m for m in mappings if m.landing_folder == CUSTOMER.name)
    core = _core_people(landing, core_mapping)
    if not core:
        raise ValueError(f"no core customers in {landing / CUSTOMER.name}: generate them first")
    for index, person in enumerate(core):
        person["person_id"] = _person_id(index)
    rng = np.random.default_rng(np.random.SeedSequence([seed, SOURCES_STREAM]))
    pans = rng.integers(0, 2**31, size=(len(core), 7))
    for person, draws in zip(core, pans, strict=True):
        person["national_id"] = _pan(draws)
    stats = SourcesStats()
    truth = [(core_mapping.source, p["source_id"], p["person_id"]) for p in core]
    next_person = len(core)
    for mapping in mappings:
        plan = PLANS.get(mapping.source)
        if plan is None:
            continue
        held, own = _people_of(rng, plan, core, next_person)
        for person in own:
            person["national_id"] = _pan(rng.integers(0, 2**31, size=7))
        next_person += len(own)
        records = _source_records(rng, plan, [core[i] for i in held] + own, core)
        stats.files.append(_write_source(landing, mapping, records, seed))
        stats.rows[mapping.source] = len(records)
        truth += [(mapping.source, rec["source_id"], rec["person_id"]) for rec in records]
    stats.people = next_person
    stats.truth = truth_path(landing)
    _write_csv(stats.truth, ["source", "source_id", "person_id"], [list(t) for t in sorted(truth)])
    return stats
