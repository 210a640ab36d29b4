"""Atomic publish of the Spark engine's Parquet tables: versions and a pointer.

The tables of one mastering build (mastered, history, rejects, pending corrections,
superseded) are written to new folders `<table>/version-<UTC stamp>-<token>/` (one version
name for the whole build) and made current together by one small file, the build
manifest `<root>/_builds/<entity>.json`, committed last: `{"build": "version-...",
"tables": {"mastered/customer": "mastered/customer/version-...", ...}}`, folders relative
to the warehouse root. A reader sees every table of the previous build or every table of
the next one, never a mix. The regional layout keeps one version folder per partition,
`customer_overview/country=<c>/state=<s>/version-.../`, and one manifest
`customer_overview/_CURRENT` naming the current folder of every partition (`{"partitions":
[[country, state, "country=<c>/state=<s>/version-..."], ...]}`, relative to the layout).
Raw and ingest rejects grow by batch folders; `<table>/_CURRENT` lists the batches the
ingest ledger has committed (`{"batches": ["batch=...", ...]}`), rewritten whole from the
ledger after each commit. Readers read the manifest first and then only the folder(s) it
names, so a reader never sees half a table, an empty folder, a gap or a batch the ledger
does not know: a writer killed at any line leaves the manifest as it was. Paths in
manifests are relative, so a warehouse can be copied or moved. A plain reader (PySpark,
pyarrow, DuckDB) opens the manifest, then reads the Parquet files of the folders it names
(`current_build`, `current_partitions` and `current_batches` below do it for a local
path).

How the pointer is committed depends on the filesystem, each one a single atomic step:
a local path: a temporary file, fsync, `os.replace`; an object store (s3a, gs, abfs,
...): one PUT of the whole file (the object appears whole or not at all); HDFS and other
Hadoop filesystems: a temporary file renamed over the pointer (`FileContext.rename` with
OVERWRITE, atomic on HDFS). Versions no pointer names are deleted once older than the
retention (`DEFAULT_RETENTION_S`, the warehouse resource's `spark_version_retention_s`),
so a reader still scanning the previous version keeps its files.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

POINTER = "_CURRENT"
BUILDS = "_builds"  # <root>/_builds/<entity>.json: the build manifests
LOCK_FILE = f".{POINTER}.lock"  # serializes read-modify-write of a layout's manifest
VERSION_PREFIX = "version-"
_STAMP = "%Y%m%dT%H%M%S%fZ"
DEFAULT_RETENTION_S = 24 * 3600.0  # old versions outlive the longest expected read
# Filesystems whose rename is a copy: the pointer is written with one PUT instead.
OBJECT_STORE_SCHEMES = frozenset(
    {"s3", "s3a", "s3n", "gs", "abfs", "abfss", "wasb", "wasbs", "oss"}
)


# What a manifest names: a version, partitions, a build's tables, committed batches.
MANIFEST_KEYS = frozenset({"version", "partitions", "tables", "batches"})


class PointerError(RuntimeError):
    """A pointer file that cannot be read as one (it is never written partially)."""


def new_version(now: dt.datetime | None = None) -> str:
    """A fresh version folder name: sorts by time, unique across writers."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime(_STAMP)
    return f"{VERSION_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}"


def version_time(name: str) -> dt.datetime | None:
    """When the version folder `name` was started (UTC); None if it is not one."""
    if not name.startswith(VERSION_PREFIX):
        return None
    try:
        stamp = name.removeprefix(VERSION_PREFIX).split("-", 1)[0]
        return dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def expired(
    names: Iterable[str], keep: set[str], retention_s: float, now: dt.datetime | None = None
) -> list[str]:
    """The version folders among `names` to delete: not kept, and replaced longer than the
    retention ago. A version stops being current when the next one is written, so its age
    counts from the next version's time (a reader that opened it just before the pointer
    moved keeps its files for the whole retention); the newest, a writer's leftover when
    not kept, counts from its own."""
    now = now or dt.datetime.now(dt.UTC)
    timed = sorted((t, n) for n in names if (t := version_time(n)) is not None)
    out = []
    for i, (started, name) in enumerate(timed):
        replaced = timed[i + 1][0] if i + 1 < len(timed) else started
        if name not in keep and _age(now, replaced) >= retention_s:
            out.append(name)
    return out


def _age(now: dt.datetime, started: dt.datetime) -> float:
    return (now - started).total_seconds()


def pointer_text(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=True, sort_keys=True) + "\n"


def parse_pointer(text: str, where: str) -> dict:
    """The pointer's document; a clear error for anything else."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PointerError(
            f"{where} is not a version pointer ({exc}); it is only ever replaced whole, so "
            "something else wrote it: restore it or rebuild the table"
        ) from exc
    if not isinstance(doc, dict) or not (MANIFEST_KEYS & doc.keys()):
        raise PointerError(f"{where} names no version; restore it or rebuild the table")
    return doc


def is_object_store(uri: str) -> bool:
    return uri.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES if "://" in uri else False


def local_path(uri: str) -> Path | None:
    """The local path of `uri` (a plain path or file:), None for any other filesystem."""
    if "://" not in uri:
        return Path(uri)
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    return None


def commit_local(pointer: Path, text: str) -> None:
    """Replace the local file `pointer` with `text` in one atomic rename."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_name(f".{pointer.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, pointer)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(pointer.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def build_manifest(root: str, build: str) -> str:
    """Where the manifest of one mastering build (named by its entity) lives."""
    return f"{root.rstrip('/')}/{BUILDS}/{build}.json"


def current_build(root: Path, build: str) -> dict[str, Path]:
    """A plain local reader's way in to a mastering build: "schema/name" -> the current
    version folder of each of its tables ({} before the first build)."""
    manifest = Path(build_manifest(str(root), build))
    if not manifest.exists():
        return {}
    doc = parse_pointer(manifest.read_text(encoding="utf-8"), str(manifest))
    return {table: root / folder for table, folder in doc.get("tables", {}).items()}


def current_batches(table: Path) -> list[Path]:
    """A plain local reader's way in to raw or ingest rejects: the committed batches."""
    pointer = table / POINTER
    if not pointer.exists():
        return []
    doc = parse_pointer(pointer.read_text(encoding="utf-8"), str(pointer))
    return [table / name for name in doc.get("batches", [])]


@contextmanager
def hold_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on the local file `path` for the block (`flock`: released by the
    kernel when the holder dies, so a killed writer never leaves it taken)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def current_folder(table: Path) -> Path | None:
    """A plain local reader's way in: the current version folder of `table`, or None."""
    pointer = table / POINTER
    if not pointer.exists():
        return None
    doc = parse_pointer(pointer.read_text(encoding="utf-8"), str(pointer))
    if "version" not in doc:
        raise PointerError(f"{pointer} is a partition manifest; use current_partitions")
    return table / doc["version"]


def current_partitions(layout: Path) -> dict[tuple[str, str], Path]:
    """A plain local reader's way in to the regional layout: (country, state) -> folder."""
    pointer = layout / POINTER
    if not pointer.exists():
        return {}
    doc = parse_pointer(pointer.read_text(encoding="utf-8"), str(pointer))
    return {(c, s): layout / folder for c, s, folder in doc.get("partitions", [])}
