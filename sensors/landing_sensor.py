"""`landing_sensor`: new files in landing/<entity>/ refresh raw.<entity> by themselves.

Each tick lists the landing folders and keeps, in the sensor's cursor, a fingerprint of
every data file: (size, mtime). A file is requested once it is stable: the same size and
mtime on two consecutive ticks, or a `<file>.done` marker beside it (writers that can
leave one need not wait a tick). The run key is derived from the file's path, size and
mtime, so a restarted daemon, a repeated tick or a second sensor instance never requests
the same file twice; and the raw asset's ledger makes re-reading a known file a no-op
anyway. A file that changes after it was requested (it should not: landed files are
immutable) gets a new fingerprint and is requested again; the merge rule keeps that from
double counting.

One run per entity per tick, whatever the number of new files: the raw asset ingests
every new file of its folder in one run. Files the raw asset cannot read are moved to
`landing/_rejected/<entity>/` with a JSON report (file, line, reason) by the asset.
Listing rule (fs_assets/landing_files.list_landing): regular files directly in the folder;
symlinks are requested so the asset refuses them with a report; sub-folders are named in
a warning and not read.
Downstream assets follow through declarative automation (see fs_assets/automation.py).
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from fs_assets.entities import ENTITY_NAMES
from fs_assets.landing_files import list_landing
from fs_assets.raw_assets import raw_key
from resources.landing_zone import LandingZoneResource

DONE_SUFFIX = ".done"


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


def evaluate_landing(
    root: Path, cursor: dict
) -> tuple[dict[str, dict[str, Fingerprint]], dict, dict[str, int]]:
    """(stable new files per entity, next cursor, files still settling per entity)."""
    seen: dict[str, list[int]] = cursor.get("seen", {})
    requested: dict[str, list[int]] = cursor.get("requested", {})
    ready: dict[str, dict[str, Fingerprint]] = {}
    settling: dict[str, int] = {}
    next_seen: dict[str, list[int]] = {}
    for entity in ENTITY_NAMES:
        listing = list_landing(root / entity)
        # Symlinks are requested too: the raw asset refuses them with a report.
        for path in sorted(listing.files + listing.symlinks):
            try:
                fp = Fingerprint.of(path)
            except FileNotFoundError:  # moved away between listing and stat
                continue
            key = str(path)
            if requested.get(key) == fp.as_list():
                continue
            marker = path.with_name(path.name + DONE_SUFFIX)
            if seen.get(key) == fp.as_list() or marker.exists():
                ready.setdefault(entity, {})[key] = fp
            else:
                next_seen[key] = fp.as_list()
                settling[entity] = settling.get(entity, 0) + 1
    new_requested = {
        p: r for p, r in requested.items() if Path(p).exists()
    }  # forget files that were moved aside or deleted
    for files in ready.values():
        new_requested.update({p: f.as_list() for p, f in files.items()})
    return ready, {"seen": next_seen, "requested": new_requested}, settling


@dg.sensor(
    name="landing_sensor",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    asset_selection=[raw_key(e) for e in ENTITY_NAMES],
    description="Requests a raw.<entity> run when new files in landing/<entity>/ are stable.",
)
def landing_sensor(
    context: dg.SensorEvaluationContext, landing: LandingZoneResource
) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    ready, next_cursor, settling = evaluate_landing(landing.root, cursor)
    requests = [
        dg.RunRequest(
            run_key=run_key(entity, files),
            asset_selection=[raw_key(entity)],
            tags={"fs-accelerator/landing-files": str(len(files))},
        )
        for entity, files in ready.items()
    ]
    for entity, files in ready.items():
        context.log.info(f"{entity}: {len(files)} new file(s): {[Path(p).name for p in files]}")
    for entity in ENTITY_NAMES:
        folders = list_landing(landing.root / entity).folders
        if folders:
            context.log.warning(
                f"{entity}: sub-folders are not read, move their files up: "
                f"{[p.name for p in folders]}"
            )
    skip = None
    if not requests:
        skip = f"waiting for files to settle: {settling}" if settling else "no new landing files"
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(next_cursor), skip_reason=skip)
