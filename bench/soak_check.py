"""The soak's end-state checks: tables equal a clean build's, every landed file accounted for.

Read-only on the warehouse. A table's fingerprint is its row count and the sum of a hash
of the entity's columns (audit columns such as `_source_file` differ between any two
builds and are left out). A file's outcomes come from the ledger, the `_rejected` reports,
raw history and the quarantine tables; `bench/soak_files.py` says which outcomes each
case must reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from bench.soak_files import INGESTED, QUARANTINED, REJECTED, WARNED, Landed
from fs_assets.model.entities import ENTITIES
from fs_assets.model.rules import q

Fingerprint = tuple[int, int]


@dataclass(frozen=True)
class Verdict:
    """Whether one landed file ended as its case requires, and what was seen."""

    landed: Landed
    ok: bool
    seen: frozenset[str]
    detail: str


def fingerprints(conn: duckdb.DuckDBPyConnection) -> dict[str, Fingerprint]:
    """mastered.<entity> -> (rows, sum of hash over the entity's columns)."""
    result = {}
    for name, ent in ENTITIES.items():
        cols = ", ".join(q(c) for c in ent.column_names)
        rows, digest = conn.execute(
            f"select count(*), coalesce(sum(hash({cols})::hugeint), 0) from mastered.{q(name)}"
        ).fetchone()
        result[f"mastered.{name}"] = (int(rows), int(digest))
    return result


def duplicated_versions(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """raw.<entity> -> (key, modified_at) pairs stored more than once (must be 0)."""
    result = {}
    for name, ent in ENTITIES.items():
        result[f"raw.{name}"] = conn.execute(
            f"select count(*) from (select {q(ent.key)}, _modified_ts from raw.{q(name)} "
            "group by all having count(*) > 1)"
        ).fetchone()[0]
    return result


def rejected_reports(landing: Path) -> set[str]:
    """The original paths named by the reports in landing/_rejected."""
    named = set()
    for report in (landing / "_rejected").rglob("*.report.json"):
        try:
            named.add(str(json.loads(report.read_text(encoding="utf-8")).get("file")))
        except (OSError, ValueError):
            continue
    return named


def _missing(
    conn: duckdb.DuckDBPyConnection, landed: Landed, table: str, source: str | None = None
) -> int:
    """How many of the file's (key, modified_at) pairs are not in `table` (from `source`)."""
    key = q(ENTITIES[landed.entity].key)
    from_source = "" if source is None else " and t._source_file = ?"
    want = pa.table(
        {"k": [k for k, _ in landed.pairs], "m": [m for _, m in landed.pairs]},
        schema=pa.schema([("k", pa.string()), ("m", pa.string())]),
    )
    conn.register("soak_want", want)
    try:
        return conn.execute(
            f"select count(*) from soak_want w where not exists "
            f"(select 1 from {table} t where t.{key} = w.k and t.modified_at = w.m{from_source})",
            [] if source is None else [source],
        ).fetchall()[0][0]
    finally:
        conn.unregister("soak_want")


def _keys_in(conn: duckdb.DuckDBPyConnection, landed: Landed, table: str, where: str) -> int:
    key = q(ENTITIES[landed.entity].key)
    keys = sorted({k for k, _ in landed.pairs})
    conn.register("soak_keys", pa.table({"k": pa.array(keys, pa.string())}))
    try:
        return conn.execute(
            f"select count(distinct t.{key}) from {table} t join soak_keys s on t.{key} = s.k "
            f"where {where}"
        ).fetchall()[0][0]
    finally:
        conn.unregister("soak_keys")


def warned_in_logs(logs: Path | None, landed: Landed) -> bool:
    """A build's output warned about the file, or about the sub-folder that holds it.

    Header-only files and sub-folders are not errors: the raw run and the sensor name them
    in a warning (run log, printed by `fs-accelerator build`), which is what a user sees.
    """
    if logs is None or not logs.is_dir():
        return False
    names = {str(landed.path), landed.path.parent.name}
    for log in logs.glob("*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if ("WARNING" in line or "warning" in line) and any(n in line for n in names):
                return True
    return False


def outcomes(
    conn: duckdb.DuckDBPyConnection, landed: Landed, reports: set[str], logs: Path | None = None
) -> set[str]:
    """What became of one file: rejected, warned, ingested, quarantined (any number)."""
    seen: set[str] = set()
    if landed.case in ("header-only", "nested-folder") and warned_in_logs(logs, landed):
        seen.add(WARNED)
    ledger = conn.execute(
        "select status, error from meta.ingest_ledger where entity = ? "
        "and (path = ? or file_name = ?)",
        [landed.entity, str(landed.path), landed.path.name],
    ).fetchall()
    if str(landed.path) in reports or any(status == "rejected" for status, _ in ledger):
        seen.add(REJECTED)
    if any(error for status, error in ledger if status not in ("rejected", "duplicate")):
        seen.add(WARNED)
    if landed.pairs:
        name = q(landed.entity)
        if _missing(conn, landed, f"raw.{name}") == 0:
            seen.add(INGESTED)
        keys = len({k for k, _ in landed.pairs})
        in_ingest_rejects = _keys_in(
            conn, landed, f"quarantine.{q(landed.entity + '_ingest_rejects')}", "t._reason <> ''"
        )
        in_rejects = _keys_in(
            conn,
            landed,
            f"quarantine.{q(landed.entity + '_rejects')}",
            "len(t._failed_rules) > 0",
        )
        if in_ingest_rejects + in_rejects >= keys:
            seen.add(QUARANTINED)
    return seen


def _recorded_as_duplicate(conn: duckdb.DuckDBPyConnection, landed: Landed) -> bool:
    """The ledger says the file's bytes were already ingested under another name."""
    return bool(
        conn.execute(
            "select count(*) from meta.ingest_ledger where entity = ? and path = ? "
            "and status = 'duplicate'",
            [landed.entity, str(landed.path)],
        ).fetchall()[0][0]
    )


def verdict(
    conn: duckdb.DuckDBPyConnection, landed: Landed, reports: set[str], logs: Path | None = None
) -> Verdict:
    seen = frozenset(outcomes(conn, landed, reports, logs))
    if landed.good:
        ok = INGESTED in seen and REJECTED not in seen
        detail = "content in raw" if ok else "good content did not all reach raw"
        if REJECTED in seen:
            detail = "a good file was rejected"
        elif ok and landed.unique and not _recorded_as_duplicate(conn, landed):
            # (a byte-identical copy ingested first holds the rows under its own name)
            elsewhere = _missing(conn, landed, f"raw.{q(landed.entity)}", str(landed.path))
            if elsewhere:
                ok = False
                detail = f"{elsewhere} of its rows are in raw under another _source_file"
        return Verdict(landed, ok, seen, detail)
    leaked = _keys_in(conn, landed, f"mastered.{q(landed.entity)}", "true") if landed.pairs else 0
    handled = bool(seen & landed.expect)
    ok = handled and not leaked
    if leaked:
        detail = f"{leaked} of its keys reached mastered.{landed.entity}"
    elif not handled:
        detail = (
            f"not reported: expected {' or '.join(sorted(landed.expect))}, "
            f"saw {', '.join(sorted(seen)) or 'nothing'}"
        )
    else:
        detail = f"reported ({', '.join(sorted(seen & landed.expect))})"
    return Verdict(landed, ok, seen, detail)


def check_files(
    warehouse: Path, landing: Path, landed: list[Landed], logs: Path | None = None
) -> list[Verdict]:
    reports = rejected_reports(landing)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return [verdict(conn, item, reports, logs) for item in landed]
