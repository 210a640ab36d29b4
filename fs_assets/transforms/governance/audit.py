"""The audit log: one hash-chained JSON line per export and query, appended under a lock.

`<data folder>/audit/audit.jsonl` records who (identity and OS account), which role,
what (the statement with its literals replaced by `?`, so the log holds no PII value a
query named), how many rows, when, the export's masking key id and the outcome (ok,
denied, error). Each line carries `prev`, the hash of the line before, and `hash`, the
sha256 of its own canonical JSON (including `prev`), so an edited, removed or reordered
line breaks the chain. `audit.head` holds the last line's number and hash, so a removed
last line is caught too. Two writers at once take an exclusive `flock` on `audit.lock`
before reading the last hash and appending. `verify` re-computes the chain
(`fs-accelerator audit verify`).
"""

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fs_assets.model.file_modes import DIR_MODE, FILE_MODE

AUDIT_DIR = "audit"
LOG_NAME = "audit.jsonl"
HEAD_NAME = "audit.head"
LOCK_NAME = "audit.lock"
GENESIS = "0" * 64
OK, DENIED, ERROR = "ok", "denied", "error"

# Literals a statement may carry (a name, an e-mail, a mobile): replaced before logging.
_STRING = re.compile(r"'(?:[^']|'')*'")
_DOLLAR = re.compile(r"\$(\w*)\$.*?\$\1\$", re.DOTALL)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![\w.])", re.IGNORECASE)


class AuditError(RuntimeError):
    """The chain does not verify: the message names the first bad line."""


class AuditWriteError(RuntimeError):
    """An entry could not be appended: the caller must not go ahead unaudited."""


def redact_statement(sql: str) -> str:
    """`sql` with every string and number literal replaced by `?`."""
    sql = _DOLLAR.sub("?", sql)
    sql = _STRING.sub("?", sql)
    return _NUMBER.sub("?", sql)


def audit_dir(home: Path) -> Path:
    return home / AUDIT_DIR


def log_path(home: Path) -> Path:
    return audit_dir(home) / LOG_NAME


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@contextmanager
def _locked(home: Path) -> Iterator[Path]:
    folder = audit_dir(home)
    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield folder
    finally:
        os.close(fd)  # releases the lock


def _last_line(path: Path) -> str | None:
    """The last complete line of the log, reading only its tail."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            chunk = 4096
            while True:
                start = max(0, size - chunk)
                f.seek(start)
                data = f.read(size - start)
                lines = data.rstrip(b"\n").split(b"\n")
                if len(lines) > 1 or start == 0:
                    last = lines[-1]
                    return last.decode("utf-8") if last else None
                chunk *= 4
    except FileNotFoundError:
        return None


def _write_head(folder: Path, seq: int, digest: str) -> None:
    tmp = folder / f".{HEAD_NAME}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"seq": seq, "hash": digest}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / HEAD_NAME)


def append(
    home: Path,
    *,
    action: str,
    identity: str,
    os_user: str,
    role: str,
    statement: str | None,
    rows: int | None,
    masking_key_id: str | None,
    status: str,
    error: str | None = None,
) -> dict[str, Any]:
    """Append one entry to the chain; returns it (with its hash).

    AuditWriteError when the log cannot be written (read-only or full disk) or ends in a
    line that is not an entry (a cut-off write): nothing may run unaudited.
    """
    try:
        return _append(home, {
            "action": action, "identity": identity, "os_user": os_user, "role": role,
            "statement": None if statement is None else redact_statement(statement),
            "rows": rows, "masking_key_id": masking_key_id, "status": status,
            "error": None if error is None else redact_statement(error),
        })  # fmt: skip
    except OSError as exc:
        raise AuditWriteError(
            f"cannot write the audit log {log_path(home)}: {exc.strerror}; nothing was run "
            "(free space or make the folder writable, then retry)"
        ) from None


def _append(home: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Chain `fields` (already redacted) after the last entry, under the lock."""
    with _locked(home) as folder:
        path = folder / LOG_NAME
        last = _last_line(path)
        prev, seq = GENESIS, 0
        if last:
            try:
                previous = json.loads(last)
                prev, seq = previous["hash"], previous["seq"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise AuditWriteError(
                    f"the audit log {path} ends in a line that is not an entry (a write was "
                    f"cut off, or the file was edited): keep it as evidence, move {LOG_NAME} "
                    f"and {HEAD_NAME} aside, and the next call starts a new chain"
                ) from None
        entry: dict[str, Any] = {
            "seq": seq + 1,
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            **fields,
            "prev": prev,
        }
        entry["hash"] = _digest(entry)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        _write_head(folder, entry["seq"], entry["hash"])
    return entry


@dataclass(frozen=True)
class Verified:
    entries: int
    last_hash: str


def verify(home: Path) -> Verified:
    """Re-compute the chain; AuditError naming the first line that does not fit."""
    path = log_path(home)
    prev, seq, last_but_one = GENESIS, 0, GENESIS
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    for n, line in enumerate(text.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AuditError(f"{path} line {n}: not a JSON entry (edited or cut)") from None
        if entry.get("prev") != prev:
            raise AuditError(
                f"{path} line {n}: its prev does not match the hash of line {n - 1}: "
                "a line before it was removed, edited or reordered"
            )
        if entry.get("seq") != seq + 1:
            raise AuditError(f"{path} line {n}: seq {entry.get('seq')} follows {seq}")
        if _digest(entry) != entry.get("hash"):
            raise AuditError(f"{path} line {n}: its content does not match its hash (edited)")
        last_but_one, prev, seq = prev, entry["hash"], entry["seq"]
    head = audit_dir(home) / HEAD_NAME
    if head.exists():
        recorded = json.loads(head.read_text(encoding="utf-8"))
        lagging = recorded["seq"] == seq - 1 and recorded["hash"] == last_but_one
        if (recorded["seq"], recorded["hash"]) != (seq, prev) and not lagging:
            # (A head one line behind is a crash between the append and the head's update.)
            raise AuditError(
                f"{path}: the log ends at line {seq} but {head.name} records line "
                f"{recorded['seq']}: lines were removed from its end or rewritten"
            )
    elif seq:
        raise AuditError(f"{head} is missing although the log has {seq} entries")
    return Verified(seq, prev)
