"""The other source systems on a simulated day: the CRM and the card platform take in a
share of the day's new core customers, with the field noise of the first generation
(`sources.py`; no source-only people, namesakes or duplicates on a simulated day), record
ids after the source's highest, an update time a little after the core record's
creation, and their rows in the sources' truth file.

Only a landing zone whose sources were generated (`generate --sources` wrote the truth
file) gets them, so a simulation of the core feed alone lands the same bytes as before.
Each file is written under a hidden name and renamed with the rest of the day.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from fs_assets.generator.sources import (
    PLANS,
    SourcePlan,
    _dob_text,
    _noisy,
    _pan,
    _parse_date,
    truth_path,
)
from fs_assets.identity.attributes import ATTRIBUTES
from fs_assets.identity.mapping import SourceMapping, load_mappings
from fs_assets.model.entities import CUSTOMER

# A source keeps the new customer's record from a few minutes to a day after the core
# system created it (seconds).
DELAY_S = (300, 86_400)
TRUTH_HEADER = ["source", "source_id", "person_id"]
PERSON = re.compile(r"^P(\d+)$")


@dataclass
class SourceDayFile:
    """One source file of the day under its hidden name, renamed with the day's files."""

    path: Path
    temporary: Path

    def close(self) -> None:
        """Nothing stays open: the file is written whole by `write_source_day`."""

    def commit(self) -> None:
        os.replace(self.temporary, self.path)


def source_folders() -> list[str]:
    """Landing folders of the sources a simulated day may write."""
    return [m.landing_folder for m in load_mappings() if m.source in PLANS]


def sources_generated(landing: Path) -> bool:
    return truth_path(landing).is_file()


def _people(columns: dict[str, pa.Array], core: SourceMapping) -> list[dict[str, Any]]:
    """The day's new core customers as canonical records (what `sources._core_people`
    reads from the landing files)."""
    by_header = {c.source_header: c.name for c in CUSTOMER.columns}
    values = {a: columns[by_header[h]].to_pylist() for a, h in core.attributes.items()}
    ids = columns[by_header[core.id_column]].to_pylist()
    people = []
    for i, source_id in enumerate(ids):
        person = {a: (values[a][i] or "").strip() if a in values else "" for a in ATTRIBUTES}
        person["date_of_birth"] = _parse_date(person["date_of_birth"], core.date_format)
        person["source_id"] = str(source_id).strip()
        people.append(person)
    return people


def _highest_number(folder: Path, id_column: str, prefix: str, skip: str) -> int:
    """The highest record number of a source's landed files (ids are prefix + number),
    leaving out `skip`: this day's own file, in place if an earlier attempt was killed
    between its renames."""
    highest = 0
    if not folder.is_dir():
        return highest
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name == skip:
            continue
        if not path.is_file() or path.suffix != ".csv":
            continue
        options = pv.ConvertOptions(include_columns=[id_column], strings_can_be_null=False)
        ids = pv.read_csv(path, convert_options=options).column(id_column).to_pylist()
        numbers = [int(i[len(prefix) :]) for i in ids if i.startswith(prefix)]
        highest = max([highest, *numbers])
    return highest


def _read_truth(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[1:]


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _records(
    rng: np.random.Generator, plan: SourcePlan, people: list[dict], created_s: np.ndarray
) -> list[dict]:
    """Noisy copies of the people the source takes in, numbered later by the caller."""
    held = np.flatnonzero(rng.random(len(people)) < plan.share_of_core)
    n = len(held)
    u, r = rng.random((n, 10)), rng.integers(0, 2**31, size=(n, 10))
    others = rng.integers(0, len(people), n)
    delays = rng.integers(*DELAY_S, size=n)
    records = []
    for j, i in enumerate(held):
        rec = _noisy(people[i], plan.noise, u[j], r[j], people[int(others[j])])
        seconds = int(created_s[i]) + int(delays[j])
        rec["updated_at"] = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)
        records.append(rec)
    return records


def write_source_day(
    landing: Path,
    day: dt.date,
    file_name: str,
    columns: dict[str, pa.Array],
    created_s: np.ndarray,
    rng_for: Any,
    sources_dir: Path | None = None,
) -> tuple[list[SourceDayFile], dict[str, int]]:
    """The day's source files (hidden, not yet in place) and the records per source; the
    truth file gets their rows first (a day killed before its renames lands again with the
    same ids, and the truth keeps one row per record)."""
    mappings = load_mappings(sources_dir) if sources_dir else load_mappings()
    core = next(m for m in mappings if m.landing_folder == CUSTOMER.name)
    people = _people(columns, core)
    truth_file = truth_path(landing)
    # Rows for today's new customers can only come from an attempt at this day that never
    # landed (killed, or failed before its renames): drop them and their people, so the
    # day lands again exactly as an uninterrupted run would.
    today = {p["source_id"] for p in people}
    stale = {row[2] for row in _read_truth(truth_file) if row[0] == core.source and row[1] in today}
    truth = [row for row in _read_truth(truth_file) if row[2] not in stale]
    numbers = [int(m.group(1)) for m in (PERSON.match(row[2]) for row in truth) if m]
    next_person = max(numbers, default=-1) + 1
    pans = rng_for("sources/national_id").integers(0, 2**31, size=(len(people), 7))
    for offset, (person, draws) in enumerate(zip(people, pans, strict=True)):
        person["person_id"] = f"P{next_person + offset:09d}"
        person["national_id"] = _pan(draws)  # only a source mapping it writes it
    new_truth = [[core.source, p["source_id"], p["person_id"]] for p in people]
    files: list[SourceDayFile] = []
    rows: dict[str, int] = {}
    for mapping in mappings:
        plan = PLANS.get(mapping.source)
        if plan is None or not people:
            continue
        rng = rng_for(f"sources/{mapping.source}")
        records = _records(rng, plan, people, created_s)
        if not records:
            continue
        folder = landing / mapping.landing_folder
        name = f"{mapping.landing_folder}_day_{day:%Y%m%d}_{file_name}.csv"
        first = _highest_number(folder, mapping.id_column, plan.prefix, skip=name) + 1
        lines = []
        for number, rec in enumerate(records, start=first):
            rec["source_id"] = f"{plan.prefix}{number:08d}"
            values = {"date_of_birth": _dob_text(rec["date_of_birth"], mapping.date_format)}
            line = [rec["source_id"], rec["updated_at"].strftime(mapping.timestamp_format)]
            lines.append(line + [values.get(a, rec[a] or "") for a in mapping.attributes])
            new_truth.append([mapping.source, rec["source_id"], rec["person_id"]])
        target = folder / name
        part = SourceDayFile(target, folder / f".{name}.tmp")
        folder.mkdir(parents=True, exist_ok=True)
        _write_csv(part.temporary, mapping.columns, lines)
        files.append(part)
        rows[mapping.source] = len(records)
    merged = {tuple(row) for row in truth} | {tuple(row) for row in new_truth}
    temporary = truth_file.with_name(f".{truth_file.name}.tmp")
    _write_csv(temporary, TRUTH_HEADER, sorted(merged))
    os.replace(temporary, truth_file)
    return files, rows
