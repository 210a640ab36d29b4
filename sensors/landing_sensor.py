"""`landing_sensor`: new files in landing/<entity>/ refresh raw.<entity> by themselves
(and files in a source's landing folder, as its mapping file names it, raw.src_<source>).

Each tick lists the landing folders and keeps, in the sensor's cursor, a fingerprint of
every data file: (size, mtime). A file is requested once it is stable: the same size and
mtime on two consecutive ticks, or a `<file>.done` marker beside it (writers that can
leave one need not wait a tick). The run key is derived from the file's path, size and
mtime, so a restarted daemon, a repeated tick or a second sensor instance never requests
the same file twice; and the raw asset's ledger makes re-reading a known file a no-op
anyway. A file that changes after it was requested (it should not: landed files are
immutable) gets a new fingerprint and is requested again; the merge rule keeps that from
double counting. A request stays pending until its run ends; a run that ended without
success (killed, cancelled, failed) has its files requested again, up to a limit
(sensors/landing_retry.py).

A stable file whose bytes `meta.ingest_ledger` already records as ingested (the build
read it, or an earlier run) is remembered as known and requests nothing: opening the UI on
a built data folder starts no run. The ledger is read without waiting; while a writer
holds the warehouse, stable files wait for the next tick.

One run per entity per tick, whatever the number of new files: the raw asset ingests
every new file of its folder in one run. Files the raw asset cannot read are moved to
`landing/_rejected/<entity>/` with a JSON report (file, line, reason) by the asset.
Listing rule (fs_assets/transforms/landing_files.list_landing): regular files directly in
the folder; symlinks are requested so the asset refuses them with a report; sub-folders are named in
a warning and not read.
Downstream assets follow through declarative automation (see fs_assets/defs/automation.py).
"""

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import dagster as dg

from fs_assets.defs.keys import raw_key
from fs_assets.defs.sources import SOURCE_ENTITIES
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.transforms.landing_files import list_landing, sha256_of
from resources.landing_zone import LandingZoneResource
from resources.warehouse import WarehouseResource
from sensors.landing_retry import follow_pending, record_request
from sensors.ledger import WarehouseBusy, ingested_digests

DONE_SUFFIX = ".done"
# Cursor maps of files dealt with, path -> [size, mtime_ns]: a run was requested for it,
# its bytes were already in the ledger, or its runs kept ending without success.
HANDLED = ("requested", "known", "given_up")
# Cursor maps kept as they are from tick to tick (sensors/landing_retry.py): requests whose
# run has not ended, by run key; files' attempts so far.
FOLLOWED = ("pending", "attempts")
# Entity -> its landing folder: the model's entities, then the sources' (mapping files).
FOLDERS = {**{e: e for e in ENTITY_NAMES}, **{e.name: e.folder for e in SOURCE_ENTITIES}}


@dataclass(frozen=True)
class Fingerprint:
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> "Fingerprint":
        stat = path.lstat()  # a symlink is fingerprinted as itself (it will be refused)
        return cls(stat.st_size, stat.st_mtime_ns)

    def as_list(self) -> list[int]:
        return [self.size, self.mtime_ns]


def run_key(entity: str, files: dict[str, Fingerprint]) -> str:
    """Stable for the same set of file versions, different as soon as one changes."""
    text = entity + "|" + "|".join(f"{p}:{f.size}:{f.mtime_ns}" for p, f in sorted(files.items()))
    return f"{entity}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def load_cursor(text: str | None) -> dict:
    """The stored cursor with every map present (older cursors lack the newer ones)."""
    cursor = json.loads(text) if text else {}
    for name in ("seen", *HANDLED, *FOLLOWED):
        cursor.setdefault(name, {})
    return cursor


def evaluate_landing(
    root: Path, cursor: dict
) -> tuple[dict[str, dict[str, Fingerprint]], dict, dict[str, int]]:
    """(stable files not yet handled, per entity; next cursor; files still settling).

    Stable files stay in the next cursor's `seen` until `mark_handled` records them, so a
    file whose ledger lookup had to wait is still stable on the next tick.
    """
    seen: dict[str, list[int]] = cursor.get("seen", {})
    handled = {p: fp for name in HANDLED for p, fp in cursor.get(name, {}).items()}
    ready: dict[str, dict[str, Fingerprint]] = {}
    settling: dict[str, int] = {}
    next_seen: dict[str, list[int]] = {}
    for entity, folder in FOLDERS.items():
        listing = list_landing(root / folder)
        # Symlinks are requested too: the raw asset refuses them with a report.
        for path in sorted(listing.files + listing.symlinks):
            try:
                fp = Fingerprint.of(path)
            except FileNotFoundError:  # moved away between listing and stat
                continue
            key = str(path)
            if handled.get(key) == fp.as_list():
                continue
            next_seen[key] = fp.as_list()
            marker = path.with_name(path.name + DONE_SUFFIX)
            if seen.get(key) == fp.as_list() or marker.exists():
                ready.setdefault(entity, {})[key] = fp
            else:
                settling[entity] = settling.get(entity, 0) + 1
    # forget files that were moved aside or deleted
    next_cursor = {
        "seen": next_seen,
        **{
            name: {p: r for p, r in cursor.get(name, {}).items() if Path(p).exists()}
            for name in HANDLED
        },
        "pending": {
            key: entry
            for key, entry in cursor.get("pending", {}).items()
            if any(Path(p).exists() for p in entry["files"])
        },
        "attempts": {p: n for p, n in cursor.get("attempts", {}).items() if Path(p).exists()},
    }
    return ready, next_cursor, settling


def mark_handled(
    cursor: dict, how: Literal["requested", "known"], files: dict[str, Fingerprint]
) -> None:
    """Record files as `requested` (a run asked for) or `known` (already in the ledger)."""
    for path, fp in files.items():
        cursor["seen"].pop(path, None)
        cursor[how][path] = fp.as_list()


def split_known(
    warehouse: Path, entity: str, files: dict[str, Fingerprint]
) -> tuple[dict[str, Fingerprint], dict[str, Fingerprint]]:
    """(files whose bytes the ledger records as ingested, files to request).

    Raises WarehouseBusy when the ledger cannot be read now.
    """
    digests = {}
    for path in files:
        if Path(path).is_symlink():  # never followed: the raw run refuses it with a report
            digests[path] = ""
            continue
        try:
            digests[path] = sha256_of(Path(path))
        except FileNotFoundError:  # moved away since the listing: the next tick forgets it
            continue
    ingested = ingested_digests(warehouse, entity, [d for d in digests.values() if d])
    known = {p: files[p] for p, d in digests.items() if d in ingested}
    new = {p: fp for p, fp in files.items() if p in digests and p not in known}
    return known, new


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[raw_key(e) for e in FOLDERS],
    description="Requests a raw.<entity> run when new files in landing/<entity>/ are stable "
    "and their bytes are not in meta.ingest_ledger yet.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext,
    landing: LandingZoneResource,
    warehouse: WarehouseResource,
) -> dg.SensorResult:
    cursor = load_cursor(context.cursor)
    now = time.time()
    followed = follow_pending(context.instance, cursor, now)
    for line in followed.released:
        context.log.warning(f"requested again: {line}")
    for line in followed.given_up:
        context.log.error(line)
    ready, next_cursor, settling = evaluate_landing(landing.root, cursor)
    requests = []
    skipped: list[str] = [f"given up: {line}" for line in followed.given_up]
    for entity, files in ready.items():
        try:
            known, new = split_known(warehouse.path, entity, files)
        except WarehouseBusy as exc:
            skipped.append(f"{entity}: {len(files)} stable file(s) wait for the ledger ({exc})")
            continue
        mark_handled(next_cursor, "known", known)
        if known:
            skipped.append(f"{entity}: {len(known)} file(s) already ingested")
        if not new:
            continue
        mark_handled(next_cursor, "requested", new)
        key = record_request(
            next_cursor, run_key(entity, new), {p: fp.as_list() for p, fp in new.items()}, now
        )
        context.log.info(f"{entity}: {len(new)} new file(s): {[Path(p).name for p in new]}")
        requests.append(
            dg.RunRequest(
                run_key=key,
                asset_selection=[raw_key(entity)],
                tags={"fs-accelerator/landing-files": str(len(new))},
            )
        )
    for line in skipped:
        context.log.info(line)
    for entity, folder in FOLDERS.items():
        folders = list_landing(landing.root / folder).folders
        if folders:
            context.log.warning(
                f"{entity}: sub-folders are not read, move their files up: "
                f"{[p.name for p in folders]}"
            )
    skip = None
    if not requests:
        reasons = skipped + ([f"waiting for files to settle: {settling}"] if settling else [])
        skip = "; ".join(reasons) or "no new landing files"
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(next_cursor), skip_reason=skip)
