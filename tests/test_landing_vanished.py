"""A landing file removed or moved after the run listed it (an archiving job, a producer
taking it back) is rejected with a reason that says so, whether it went before it was
hashed, after, or while its rows were read: the other files land, nothing of it is
ingested, and the same bytes landed again are read and ingested."""

from __future__ import annotations

from pathlib import Path

import pytest

from fs_assets.engines.duckdb_engine import ingest_files
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.keys import LEDGER
from fs_assets.transforms import raw_history
from fs_assets.transforms.raw_history import VANISHED
from tests.test_ledger_identity import two_files
from tests.test_raw_batch import fresh_db


def remove_after(monkeypatch: pytest.MonkeyPatch, step: str, name: str) -> None:
    """The file called `name` is removed right after the ingest's `step` (a function of
    raw_history: `hash_and_scan` reads its bytes, `file_layout` its header) is done with it."""
    real = getattr(raw_history, step)

    def then_remove(*args: object) -> object:
        done = real(*args)
        path = next(a for a in args if isinstance(a, Path))
        if path.name == name:
            path.unlink()
        return done

    monkeypatch.setattr(raw_history, step, then_remove)


def _ingest_with_b_removed(tmp_path: Path, small_landing: Path, when: str, monkeypatch) -> None:
    _, _, a, b = two_files(tmp_path, small_landing)
    kept = b.read_bytes()
    if when == "before it was hashed":
        b.unlink()
    elif when == "after it was hashed":
        remove_after(monkeypatch, "hash_and_scan", b.name)
    else:  # after its header was read, before its rows were
        remove_after(monkeypatch, "file_layout", b.name)
    conn = fresh_db(tmp_path / "w.duckdb")
    outcomes = ingest_files(conn, CUSTOMER, [a, b])
    assert [o.status for o in outcomes] == ["ingested", "rejected"]
    assert outcomes[1].error == VANISHED
    assert outcomes[0].rows_inserted == 20
    assert conn.execute("select count(*) from raw.customer").fetchone()[0] == 20
    ((status, error),) = conn.execute(
        f"select status, error from {LEDGER} where path = ?", [str(b)]
    ).fetchall()
    assert (status, error) == ("rejected", VANISHED)
    monkeypatch.undo()
    b.write_bytes(kept)  # landed again: read and ingested
    again = ingest_files(conn, CUSTOMER, [a, b])
    assert [o.status for o in again] == ["skipped", "ingested"]
    assert conn.execute("select count(*) from raw.customer").fetchone()[0] == 40


@pytest.mark.parametrize(
    "when", ["before it was hashed", "after it was hashed", "after its header was read"]
)
def test_a_file_removed_while_the_run_reads_it_is_rejected_and_the_others_land(
    tmp_path: Path, small_landing: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    _ingest_with_b_removed(tmp_path, small_landing, when, monkeypatch)
