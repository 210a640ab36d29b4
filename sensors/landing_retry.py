"""Following the landing sensor's runs: a run that ended without success asks again.

The landing sensor remembers a requested file as handled, so it would never ask for it
again. That is right once the run succeeded: the raw asset ingested the file, or moved it
to `landing/_rejected/` with a report. It is wrong when the run ended first: its process
was killed (the recovery sensor then fails it), the disk was full, someone cancelled it.
Without this, such a file stayed unread until someone built by hand.

So each request is kept in the cursor as pending, under its run key, until its run ends:
- SUCCESS: forgotten (the files are in the ledger, or were moved aside);
- FAILURE or CANCELED, or no run at all after LOST_AFTER_S (it was never created): its
  files that are still there, unchanged, are released to be requested again under a new
  run key (the sensor's run keys are never reused). The landing sensor then asks the
  ledger first, as for any stable file, so a file the run did ingest before it failed
  starts nothing.
After MAX_ATTEMPTS runs that ended without success, a file is given up with an error in
the tick's log that says what to do; changing it (a new copy, or `touch`) makes it new
again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import RUN_KEY_TAG

MAX_ATTEMPTS = 3
# A requested run is created in the same tick; one not found after this long never will be.
LOST_AFTER_S = 300
RETRY_SUFFIX = "-retry"


def retry_run_key(key: str, attempt: int) -> str:
    """The run key of a file set's `attempt`-th request (0: the first, as before)."""
    return key if attempt == 0 else f"{key}{RETRY_SUFFIX}{attempt}"


@dataclass
class Followed:
    """What following the pending runs did, for the tick's log."""

    released: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)


def _ended_without_success(
    instance: dg.DagsterInstance, key: str, since: float, now: float
) -> tuple[bool, str] | None:
    """(ended, how) for the run of `key`: None while it may still run or succeed."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: key}), limit=1)
    if not runs:
        if now - since > LOST_AFTER_S:
            return True, f"no run was created for it in {LOST_AFTER_S} s"
        return None
    run = runs[0]
    if not run.is_finished:
        return None
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return False, "succeeded"
    return True, f"run {run.run_id[:8]} ended {run.status.value}"


def follow_pending(instance: dg.DagsterInstance, cursor: dict, now: float) -> Followed:
    """Forget pending requests whose run succeeded; release the files of those that did not.

    A released file leaves `requested` and goes to `seen` with its fingerprint, so the same
    tick finds it stable and requests it again (attempt + 1, kept in `attempts`).
    """
    followed = Followed()
    pending: dict[str, dict] = cursor.setdefault("pending", {})
    attempts: dict[str, int] = cursor.setdefault("attempts", {})
    for key, entry in list(pending.items()):
        outcome = _ended_without_success(instance, key, entry["at"], now)
        if outcome is None:
            continue
        del pending[key]
        ended, how = outcome
        for path, fingerprint in entry["files"].items():
            if cursor["requested"].get(path) != fingerprint or not Path(path).exists():
                continue  # changed or moved since: the listing deals with it as new
            if not ended:
                attempts.pop(path, None)
                continue
            tried = entry["attempt"] + 1
            name = Path(path).name
            if tried >= MAX_ATTEMPTS:
                del cursor["requested"][path]
                cursor["given_up"][path] = fingerprint
                attempts.pop(path, None)
                followed.given_up.append(
                    f"{name}: {tried} run(s) ended without ingesting it ({how}); not "
                    "requested again. Read the failed runs' logs, fix the cause, then "
                    "touch the file (or land it again) to retry, or build it by hand"
                )
                continue
            del cursor["requested"][path]
            cursor["seen"][path] = fingerprint
            attempts[path] = tried
            followed.released.append(f"{name} ({how}; attempt {tried + 1} of {MAX_ATTEMPTS})")
    return followed


def record_request(cursor: dict, key: str, files: dict[str, list[int]], now: float) -> str:
    """Keep a new request pending under its run key; the key to use (suffixed on a retry)."""
    attempts: dict[str, int] = cursor.setdefault("attempts", {})
    attempt = max((attempts.pop(p, 0) for p in list(files)), default=0)
    run_key = retry_run_key(key, attempt)
    cursor.setdefault("pending", {})[run_key] = {"files": files, "attempt": attempt, "at": now}
    return run_key
