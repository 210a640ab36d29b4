"""Which landing files the warehouse already holds, read from meta.ingest_ledger.

The landing sensor asks before it requests a run: a file whose bytes (sha256) the ledger
records as ingested (by `fs-accelerator build`, an earlier sensor run or a UI click) would
make a raw run that changes nothing but still counts as an update downstream. The sensor
runs beside writers, so the lookup never waits: one read-only attempt, and a locked
warehouse means "ask again next tick".
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from fs_assets.model.keys import LEDGER, LEDGER_ACCEPTED
from fs_assets.transforms.duckdb_file import table_exists


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse file; the lookup is to be retried later."""


def ingested_digests(warehouse: Path, entity: str, digests: Iterable[str]) -> set[str]:
    """The given sha256 digests that the ledger records as in raw.<entity> already.

    Raises WarehouseBusy when a writer holds the file (DuckDB admits no reader beside it).
    """
    wanted = sorted(set(digests))
    if not wanted or not warehouse.exists():
        return set()
    try:
        conn = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusy(f"the warehouse {warehouse} is in use: {exc}") from exc
        raise
    try:
        if not table_exists(conn, *LEDGER.split(".")):
            return set()
        rows = conn.execute(
            f"select distinct sha256 from {LEDGER} "
            "where entity = ? and list_contains(?, status) and list_contains(?, sha256)",
            [entity, list(LEDGER_ACCEPTED), wanted],
        ).fetchall()
    finally:
        conn.close()
    return {row[0] for row in rows}
