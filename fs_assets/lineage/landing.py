"""Which landing files a raw run read, and what their columns are called in the file.

Two sources, best first:
- the raw materialization's `landing_files` metadata (path and status of every file the
  run handled), when the raw asset records it: it is in the event log, so the run-status
  sensor can use it without opening the warehouse;
- `meta.ingest_ledger`, the authoritative record (one row per file, with the run id), read
  through the warehouse's DuckDB file when the caller may open the warehouse (the CLI build, the
  `lineage` command), and for runs recorded before the raw asset kept that metadata.

A landing file's column lineage names the column as the file spells it ('Cibil Score'),
read from the file's header; when the file is gone, the entity model's source header.
"""

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fs_assets.identity.source_entity import load_source_entities
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import LEDGER
from fs_assets.transforms.duckdb_file import DuckDBFile, open_file, table_exists
from fs_assets.transforms.landing_files import cleanse_column_name

LANDING_FILES_KEY = "landing_files"
# Files whose rows reached raw.<entity>; a rejected or duplicate file was read but
# contributed nothing, so it is an input without column lineage.
CONTRIBUTING = frozenset({"ingested"})


@dataclass(frozen=True)
class LandingRead:
    entity: str
    path: str
    status: str

    @property
    def contributed(self) -> bool:
        return self.status in CONTRIBUTING


LedgerLookup = Callable[[str], list[LandingRead]]


def reads_from_metadata(entity: str, metadata: Mapping[str, Any]) -> list[LandingRead] | None:
    """From the raw materialization's `landing_files` entry (plain metadata); None when it
    has none."""
    value = metadata.get(LANDING_FILES_KEY)
    if not isinstance(value, list):
        return None
    reads = []
    for item in value:
        if isinstance(item, Mapping) and item.get("path"):
            reads.append(LandingRead(entity, str(item["path"]), str(item.get("status", ""))))
    return reads


def ledger_lookup(warehouse: DuckDBFile) -> LedgerLookup:
    """Reads for one Dagster run from meta.ingest_ledger (read-only, waits for the lock).

    `warehouse`: the warehouse resource's `duckdb_file`."""

    def lookup(run_id: str) -> list[LandingRead]:
        if not warehouse.path.exists():
            return []
        with open_file(warehouse, read_only=True) as conn:
            if not table_exists(conn, "meta", "ingest_ledger"):
                return []
            rows = conn.execute(
                f"select entity, path, status from {LEDGER} where run_id = ? order by ingest_id",
                [run_id],
            ).fetchall()
        return [LandingRead(e, p, s) for e, p, s in rows]

    return lookup


@lru_cache(maxsize=256)
def _header(path: str) -> tuple[str, ...] | None:
    p = Path(path)
    try:
        if p.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return tuple(pq.read_schema(p).names)
        with p.open("rb") as handle:
            first = handle.readline().decode("utf-8-sig")
        return tuple(next(csv.reader(io.StringIO(first))))
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration, ValueError):
        return None


@lru_cache(maxsize=1)
def _source_entities() -> dict[str, Entity]:
    return {e.name: e for e in load_source_entities()}


def landing_entity(name: str) -> Entity | None:
    """The entity a ledger row names: the model's, or a source system's (mapping file)."""
    return ENTITIES.get(name) or _source_entities().get(name)


def file_columns(read: LandingRead) -> dict[str, str]:
    """Entity column -> the column's name in the file ('cibil_score' -> 'Cibil Score');
    a source's columns by the headers its mapping names."""
    ent = landing_entity(read.entity)
    if ent is None:
        return {}
    if any(c.delivered_as for c in ent.columns):
        return {c.name: c.delivered_as or c.name for c in ent.columns}
    header = _header(read.path)
    if header:
        spelled = {cleanse_column_name(h): h for h in header}
        return {c: spelled[c] for c in ent.column_names if c in spelled}
    return {c.name: c.source_header for c in ent.columns}


def group_by_entity(reads: Iterable[LandingRead]) -> dict[str, list[LandingRead]]:
    out: dict[str, list[LandingRead]] = {}
    for r in reads:
        out.setdefault(r.entity, []).append(r)
    return out
