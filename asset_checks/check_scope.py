"""Which rows a mastered check step evaluates: the rows the last write changed, or all.

Incremental evaluation is a proof by induction: the previous state passed every check
evaluated this way, the write rewrote exactly the recorded keys (all their rows, in all
five output tables, in one transaction with the record), raw only grows, and only keys
with new raw versions are rewritten. So a per-key property that held outside the changed
keys still holds there, and evaluating the changed keys proves the table. Each family
says, per check, why its property is per key (or bounded by the changed keys).

Any missing link means a full evaluation, never a pass on missing evidence: no record
(first build, an older warehouse), a full write (a full build, changed rules, a rebuilt
referenced table), a record of another build than the committed one, row counts that
differ from the ones the write left or the write started from other counts than the
previous write left (rows written or deleted outside mastering), a
referenced table rebuilt since, a check with no passing evaluation of the build the write
started from (or of this build), the Spark engine, or `full_checks: true`. An UPDATE made
by hand outside mastering keeps the counts: the weekly full evaluation (and any full
build) is the independent proof for that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from fs_assets.model.columns import Entity
from fs_assets.model.keys import history_table, mastered_table, past_versions_table
from fs_assets.transforms.change_record import (
    CHECK_MODE,
    CHECK_MODE_REASON,
    FULL,
    INCREMENTAL,
    current_build,
    load_scope_keys,
    load_scoped_rows,
    passed_builds,
    read_change,
    scoped_rows_sql,
    table_counts,
)
from fs_assets.transforms.mastering import history_view_sql, refs_of

# The metadata the step adds to each result: how it ran, why, over how many changed keys.
SCOPE_METADATA = (CHECK_MODE, CHECK_MODE_REASON, "changed_keys", "mastered_build")


@dataclass(frozen=True)
class CheckScope:
    """The rows a step evaluates: `full`, or `incremental` (the last write's keys)."""

    mode: str
    reason: str
    build_id: int | None = None
    keys: int = 0
    # Rows the write inserted into mastered: all must carry a changed key (key_unique).
    mastered_written: int = 0
    # Table -> the temp table holding its rows of the changed keys (load_scoped_rows).
    scoped: Mapping[str, str] = field(default_factory=dict)

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL

    def rows(self, ent: Entity, table: str) -> str:
        """`table` itself, or its rows of the changed keys (copied once, when loaded)."""
        if not self.incremental:
            return table
        return self.scoped.get(table) or scoped_rows_sql(ent, table)

    def metadata(self) -> dict[str, object]:
        values = (self.mode, self.reason, self.keys, -1 if self.build_id is None else self.build_id)
        return dict(zip(SCOPE_METADATA, values, strict=True))


FULL_SCOPE = CheckScope(FULL, "full evaluation")


def decide_scope(conn, ent: Entity, needs_evidence: set[str], full_checks: bool) -> CheckScope:
    """Incremental when every link of the proof is there, else full with the missing one.

    `conn` is the DuckDB file (read-only); `needs_evidence` the selected checks that would
    run on the changed keys (each needs a passing evaluation of the previous state).
    """
    build = current_build(conn, ent.name)
    record = read_change(conn, ent)

    def full(reason: str) -> CheckScope:
        return CheckScope(FULL, reason, build)

    if full_checks:
        return full("full_checks requested")
    if record is None or build is None:
        return full("no change record (first build or an older warehouse)")
    if record.build_id != build:
        return full(f"change record of build {record.build_id}, the committed build is {build}")
    if record.mode != INCREMENTAL:
        return full("the last write was a full build")
    if not record.base_intact:
        return full("the tables the write started from were changed outside mastering")
    counts = table_counts(conn, ent)
    if counts != record.counts:
        return full(
            f"row counts {list(counts)} differ from those the write left "
            f"{list(record.counts)}: written outside mastering"
        )
    if refs_of(conn, ent) != record.refs:
        return full("a table its rules read was rebuilt since the write")
    evidence = passed_builds(conn, ent.name)
    for name in sorted(needs_evidence):
        last, passed = evidence.get(name, (None, False))
        if last not in (record.base_build_id, record.build_id) or not passed:
            return full(f"{name} has no passing evaluation of build {record.base_build_id}")
    load_scope_keys(conn, ent)
    return CheckScope(
        INCREMENTAL,
        "the last write's changed keys",
        build,
        record.keys_changed,
        record.mastered_written,
        _scoped_tables(conn, ent),
    )


def _scoped_tables(conn, ent: Entity) -> dict[str, str]:
    """Mastered's changed-key rows copied once, and the history's read through that copy
    (the history view is the mastered rows and the past versions: one pass over mastered
    instead of two)."""
    scoped = load_scoped_rows(conn, ent)
    current = scoped[mastered_table(ent)]
    past = scoped_rows_sql(ent, past_versions_table(ent))
    scoped[history_table(ent)] = f"({history_view_sql(ent, current, past)})"
    return scoped


def with_scope(result: dg.AssetCheckResult, scope: CheckScope) -> dg.AssetCheckResult:
    """The result with the mode it ran in, over how many changed keys, on which build."""
    return dg.AssetCheckResult(
        check_name=result.check_name,
        asset_key=result.asset_key,
        passed=result.passed,
        severity=result.severity,
        description=result.description,
        metadata={**(result.metadata or {}), **scope.metadata()},
    )
