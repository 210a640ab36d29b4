"""The whole linkage in one call, phase by phase, timed: canonical -> blocking -> train
-> predict -> cluster -> golden ids -> survivorship. Every table goes to the `identity`
schema of the given connection (PII: keep the database owner-only)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
from splink import Linker

from fs_assets.identity import canonical, golden, link, model
from fs_assets.identity.backend import DuckDBIdentity
from fs_assets.identity.mapping import SourceMapping
from fs_assets.identity.overrides import Overrides

DEFAULT_THRESHOLDS = link.Thresholds()
DEFAULT_TRAINING = model.DEFAULT_TRAINING


@dataclass
class LinkageReport:
    """Counts and seconds per phase of one linkage run (no PII)."""

    records_read: dict[str, int] = field(default_factory=dict)
    records: int = 0
    candidate_pairs: int = 0
    scored_pairs: int = 0
    review_pairs: int = 0
    golden_customers: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - started


def _link(
    backend: DuckDBIdentity,
    linker: Linker,
    report: LinkageReport,
    model_path: Path,
    thresholds: link.Thresholds,
    training: model.Training,
) -> None:
    """The Splink phases: blocking, training, predictions, clusters and golden ids."""
    con = backend.con
    with report.phase("blocking"):
        report.candidate_pairs = link.block(backend, linker)
    with report.phase("train"):
        model.train(linker, training)
        model.save_model(linker, model_path)
    with report.phase("predict"):
        scored = link.predict(backend, linker, thresholds)
        scored.drop_table_from_database_and_remove_from_cache()
        report.scored_pairs = link.count_pairs(con)
    with report.phase("cluster"):
        link.cluster_with_overrides(con, thresholds, Overrides(), full=True)
        report.review_pairs = link.review(con, thresholds)
        report.golden_customers = link.assign_golden_ids(con)


def run_linkage(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    mappings: Sequence[SourceMapping],
    model_path: Path,
    thresholds: link.Thresholds = DEFAULT_THRESHOLDS,
    training: model.Training = DEFAULT_TRAINING,
) -> LinkageReport:
    """Read, standardise, train, link and survive; the trained model saved at `model_path`."""
    report = LinkageReport()
    with report.phase("canonical"):
        report.records_read = canonical.load_records(con, landing, mappings)
        report.records = canonical.standardise(con)
    backend = DuckDBIdentity(con)
    with backend.linker(model.settings()) as linker:
        _link(backend, linker, report, model_path, thresholds, training)
    with report.phase("survivorship"):
        golden.golden_customers(con)
    return report
