"""Incremental re-linking: read, score and cluster only what changed since the last run.

Reading: `identity.records` is read again only when a source's mastered table changed
since the last read (its change record's build, its rows or its mapping: `mastered_state`),
never by what sits in the landing folders (files are archived or landed twice; the
mastered rows are what linkage reads).

Predictions: the records whose standardised features differ from those last scored
(`identity.scored_features`), new ones included, are scored against every other record
and among themselves with the saved model (Splink's `predict_between` and
`predict_within`); their old pairs and those of records gone are replaced, the other
pairs are kept. A different model (its SHA-256 in `identity.link_state`) or no snapshot
means a full predict. Term frequencies come from all current records, as in a full run;
a pair of two unchanged records keeps the score it was given (its name's frequency may
have moved a little since).

Clusters: the seeds are records added, removed or with another national id since the
last clustering, the ends of every strong pair (at or above the match threshold) added,
removed or re-weighed, and the records named by overrides (now and last run). The
connected components of the uncut graph (`identity.components`) holding a seed are
re-clustered; every other cluster is kept as it was. Since an unchanged pair joins two
records of one old component, this gives the clusters a full run would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from fs_assets.identity import tables
from fs_assets.identity.canonical import mastered_source
from fs_assets.identity.mapping import SourceMapping
from fs_assets.identity.tables import (
    CLUSTERED_PAIRS,
    CLUSTERED_RECORDS,
    COMPONENTS,
    LINK_STATE,
    READ_STATE,
    SCORED_FEATURES,
)
from fs_assets.model.keys import CHANGES

if TYPE_CHECKING:
    from splink import Linker

SCOPE = "_identity_scope"  # temp table: the records this run rescores or re-clusters
_CHANGED = "_identity_changed"
_OTHERS = "_identity_others"


def model_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, name = qualified.split(".")
    return (
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ?",
            [schema, name],
        ).fetchall()[0][0]
        > 0
    )


def records_to_rescore(con: duckdb.DuckDBPyConnection, model_sha: str) -> int | None:
    """Fill the temp table `SCOPE` with the records whose features changed since the last
    scoring (new, changed or gone) and return how many; None when a full predict is due
    (no snapshot, or another model)."""
    if not (_exists(con, SCORED_FEATURES) and _exists(con, LINK_STATE)):
        return None
    last = con.execute(f"select model_sha256 from {LINK_STATE}").fetchall()
    if last != [(model_sha,)]:
        return None
    con.execute(
        f"create or replace temp table {SCOPE} as select unique_id from "
        f"(select * from {tables.FEATURES} except select * from {SCORED_FEATURES}) union "
        f"select unique_id from (select unique_id from {SCORED_FEATURES} except "
        f"select unique_id from {tables.FEATURES})"
    )
    return con.execute(f"select count(*) from {SCOPE}").fetchall()[0][0]


def _tf_tables(linker: Linker) -> None:
    """Term-frequency tables over all current records (predict_within/between need them
    registered; a full predict computes the same ones)."""
    for column in linker._settings_obj._term_frequency_columns:  # (Splink has no public list)
        linker.table_management.compute_tf_table(column.name)


def predict_changed(con: duckdb.DuckDBPyConnection, linker: Linker, review: float) -> int:
    """Replace the pairs of the records in `SCOPE` with their new scores at or above the
    review threshold: changed against the rest, and changed among themselves; how many
    pairs were scored."""
    con.execute(
        f"delete from {tables.PAIRS} where unique_id_l in (select unique_id from {SCOPE}) "
        f"or unique_id_r in (select unique_id from {SCOPE})"
    )
    db_api = linker._db_api  # the inputs must share it
    changed = db_api.register(
        con.sql(
            f"select * from {tables.FEATURES} where unique_id in (select unique_id from {SCOPE})"
        ),
        table_name=_CHANGED,
    )
    others = db_api.register(
        con.sql(
            f"select * from {tables.FEATURES} where unique_id not in "
            f"(select unique_id from {SCOPE})"
        ),
        table_name=_OTHERS,
    )
    _tf_tables(linker)
    scored = 0
    try:
        for result in (
            linker.inference.predict_between(others, changed, threshold_match_probability=review),
            linker.inference.predict_within(changed, threshold_match_probability=review),
        ):
            # Each pair once, its lower id on the left, as a full predict writes it.
            before = con.execute(f"select count(*) from {tables.PAIRS}").fetchall()[0][0]
            con.execute(
                f"insert into {tables.PAIRS} select least(unique_id_l, unique_id_r), "
                "greatest(unique_id_l, unique_id_r), match_weight, match_probability "
                f"from {result.physical_name}"
            )
            scored += con.execute(f"select count(*) from {tables.PAIRS}").fetchall()[0][0] - before
            result.drop_table_from_database_and_remove_from_cache()
    finally:
        for name in (_CHANGED, _OTHERS):
            con.unregister(name)
    con.execute(
        f"create or replace table {tables.PAIRS} as select * from {tables.PAIRS} "
        "order by unique_id_l, unique_id_r"
    )
    return scored


def forget(con: duckdb.DuckDBPyConnection, *snapshots: str) -> None:
    """Drop snapshots before the tables they describe change: a run killed half way
    leaves none, and the next run works in full instead of trusting a stale one."""
    for table in snapshots:
        con.execute(f"drop table if exists {table}")


def snapshot_scored(con: duckdb.DuckDBPyConnection, model_sha: str) -> None:
    """Remember the features and model the pairs now reflect."""
    con.execute(f"create or replace table {SCORED_FEATURES} as select * from {tables.FEATURES}")
    con.execute(
        f"create or replace table {LINK_STATE} as select $sha as model_sha256", {"sha": model_sha}
    )


def clusters_to_redo(
    con: duckdb.DuckDBPyConnection, match: float, override_records: set[str]
) -> int | None:
    """Fill `SCOPE` with every record of the uncut components a change touches and
    return how many; None when a full clustering is due (no snapshot yet)."""
    if not all(_exists(con, t) for t in (CLUSTERED_RECORDS, CLUSTERED_PAIRS, COMPONENTS)):
        return None
    current_records = f"select unique_id, national_id from {tables.FEATURES}"
    current_pairs = (
        f"select unique_id_l, unique_id_r, match_weight from {tables.PAIRS} "
        "where match_probability >= $match"
    )
    # Records named by last run's overrides: must-link edges and cannot-link pairs.
    last_overrides = (
        f"select unique_id_l, unique_id_r from {tables.CLUSTER_EDGES} where edge_reason is "
        f"not null union select unique_id_l, unique_id_r from {tables.CUT_EDGES}"
    )
    con.execute(
        f"create or replace temp table _identity_seeds as "
        f"select unique_id from (({current_records}) except ({CLUSTERED_RECORDS_SQL})) union "
        f"select unique_id from (({CLUSTERED_RECORDS_SQL}) except ({current_records})) union "
        f"select unnest([unique_id_l, unique_id_r]) from "
        f"((({current_pairs}) except (select * from {CLUSTERED_PAIRS})) union all "
        f"((select * from {CLUSTERED_PAIRS}) except ({current_pairs}))) union "
        f"select unnest([unique_id_l, unique_id_r]) from ({last_overrides}) union "
        "select unnest($named::varchar[])",
        {"match": match, "named": sorted(override_records)},
    )
    con.execute(
        f"create or replace temp table {SCOPE} as select unique_id from _identity_seeds union "
        f"select unique_id from {COMPONENTS} where component_id in (select component_id "
        f"from {COMPONENTS} where unique_id in (select unique_id from _identity_seeds))"
    )
    con.execute("drop table _identity_seeds")
    return con.execute(f"select count(*) from {SCOPE}").fetchall()[0][0]


CLUSTERED_RECORDS_SQL = f"select unique_id, national_id from {CLUSTERED_RECORDS}"


def snapshot_clustered(con: duckdb.DuckDBPyConnection, match: float) -> None:
    """Remember the records, national ids and strong pairs the clusters now reflect."""
    con.execute(
        f"create or replace table {CLUSTERED_RECORDS} as select unique_id, national_id "
        f"from {tables.FEATURES}"
    )
    con.execute(
        f"create or replace table {CLUSTERED_PAIRS} as select unique_id_l, unique_id_r, "
        f"match_weight from {tables.PAIRS} where match_probability >= $match",
        {"match": match},
    )


# One row per source: its mastered table, the build its change record names, its rows
# and its mapping's fingerprint, as `identity.records` last read them.
SourceState = tuple[str, str, int | None, int, str]


def _change_build(con: duckdb.DuckDBPyConnection, table: str) -> int | None:
    if not _exists(con, CHANGES):
        return None
    rows = con.execute(f"select build_id from {CHANGES} where entity = ?", [table]).fetchall()
    return rows[0][0] if rows else None


def mastered_state(
    con: duckdb.DuckDBPyConnection,
    mappings: Sequence[SourceMapping],
    relations: Mapping[str, str],
) -> list[SourceState]:
    """Each source's mastered table as it is now: the last mastering write's build (its
    change record in meta; none on an engine that keeps no change record, so the records
    are read again), the rows it holds (0 when the table is missing) and the mapping's
    fingerprint (a changed mapping reads other columns). `relations`: where each existing
    mastered table is read (`canonical.mastered_relations` on the file)."""
    state = []
    for mapping in mappings:
        table = mastered_source(mapping)[0]
        rows = (
            con.execute(f"select count(*) from {relations[table]}").fetchall()[0][0]
            if table in relations
            else 0
        )
        fingerprint = hashlib.sha256(repr(mapping).encode()).hexdigest()
        state.append((mapping.source, table, _change_build(con, table), rows, fingerprint))
    return state


def sources_with_rows(state: Sequence[SourceState]) -> list[str]:
    """The sources whose mastered table holds records (what linkage can read)."""
    return [source for source, _, _, rows, _ in state if rows > 0]


def unchanged_since_read(con: duckdb.DuckDBPyConnection, state: Sequence[SourceState]) -> bool:
    """Whether `identity.records` was read from exactly these mastered tables: same
    builds (each with a change record), rows and mappings."""
    if any(build is None for _, _, build, _, _ in state):
        return False
    if not (_exists(con, READ_STATE) and _exists(con, tables.RECORDS)):
        return False
    read = con.execute(
        f"select source, mastered_table, build_id, mastered_rows, mapping_sha256 "
        f"from {READ_STATE} order by source"
    ).fetchall()
    return read == sorted(state)


def remember_read(con: duckdb.DuckDBPyConnection, state: Sequence[SourceState]) -> None:
    con.execute(
        f"create or replace table {READ_STATE} (source varchar, mastered_table varchar, "
        "build_id bigint, mastered_rows bigint, mapping_sha256 varchar)"
    )
    if state:
        con.executemany(f"insert into {READ_STATE} values (?, ?, ?, ?, ?)", list(state))
