"""Predictions, clusters, the review band and golden ids, from a trained linker.

`predict` keeps every candidate pair at or above the review threshold with its match
weight (`identity.pairs`); `cluster_with_overrides` joins records by pairs at or above
the match threshold (connected components, Splink's), with people's overrides and
records of different national ids kept apart; `review` lists the pairs between the two
thresholds for people to decide; `assign_golden_ids` numbers the clusters
(`identity.customer_identity`: source, source id -> golden id).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from splink import DuckDBAPI, Linker
from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.splink_dataframe import SplinkDataFrame

from fs_assets.identity import incremental, overrides, tables
from fs_assets.identity.backend import IdentityBackend
from fs_assets.identity.canonical import SCHEMA
from fs_assets.identity.knobs import Thresholds


def block(backend: IdentityBackend, linker: Linker) -> int:
    """The candidate pairs the blocking rules generate (each pair once), kept in Splink's
    cache for `predict`; how many."""
    return backend.count(linker.inference.compute_blocked_pairs_for_predict())


def predict(backend: IdentityBackend, linker: Linker, thresholds: Thresholds) -> SplinkDataFrame:
    """`identity.pairs` in the state file: candidate pairs scored (on the backend's
    engine) at or above the review threshold, with match weight and probability;
    Splink's own table is returned."""
    scored = linker.inference.predict(threshold_match_probability=thresholds.review)
    backend.con.execute(
        f"create or replace table {SCHEMA}.pairs as select unique_id_l, unique_id_r, "
        f"match_weight, match_probability from {backend.rows(scored)} "
        "order by unique_id_l, unique_id_r"
    )
    return scored


def count_pairs(con: duckdb.DuckDBPyConnection) -> int:
    """How many scored pairs `identity.pairs` holds."""
    return con.execute(f"select count(*) from {SCHEMA}.pairs").fetchall()[0][0]


def review(con: duckdb.DuckDBPyConnection, thresholds: Thresholds) -> int:
    """`identity.review_pairs`: pairs between the two thresholds, for a person to decide."""
    con.execute(
        f"create or replace table {SCHEMA}.review_pairs as select * from {SCHEMA}.pairs "
        "where match_probability < $match order by match_probability desc, unique_id_l, "
        "unique_id_r",
        {"match": thresholds.match},
    )
    return con.execute(f"select count(*) from {SCHEMA}.review_pairs").fetchall()[0][0]


def assign_golden_ids(con: duckdb.DuckDBPyConnection) -> int:
    """`identity.customer_identity`: every record's golden id, clusters numbered in the
    order of their lowest record id (a run on the same records gives the same ids)."""
    con.execute(
        f"create or replace table {SCHEMA}.customer_identity as "
        "with first_record as (select cluster_id, min(unique_id) as first_id "
        f"from {SCHEMA}.clusters group by cluster_id), "
        "numbered as (select cluster_id, 'G' || lpad(cast(row_number() over "
        "(order by first_id) as varchar), 10, '0') as golden_id from first_record) "
        "select r.source, r.source_id, r.unique_id, n.golden_id "
        f"from {SCHEMA}.records r join {SCHEMA}.clusters c using (unique_id) "
        "join numbered n using (cluster_id) order by r.unique_id"
    )
    return con.execute(
        f"select count(distinct golden_id) from {SCHEMA}.customer_identity"
    ).fetchall()[0][0]


@dataclass(frozen=True)
class Clustering:
    """What clustering with overrides did: clusters, edges added and cut, overrides that
    name a record not (yet) read."""

    clusters: int
    must_links: int
    cut: int
    unknown_records: tuple[str, ...]
    national_id_conflicts: int = 0  # record pairs kept apart for different national ids
    records_reclustered: int | None = None  # None: every record (a full clustering)


def _known(con: duckdb.DuckDBPyConnection, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    rows = con.execute(
        f"select unique_id from {SCHEMA}.records where unique_id in (select unnest($ids))",
        {"ids": sorted(ids)},
    ).fetchall()
    return {r[0] for r in rows}


def _edges(
    con: duckdb.DuckDBPyConnection, thresholds: Thresholds, must: list, scoped: bool
) -> None:
    """`identity.cluster_edges`: the pairs at or above the match threshold (of the records
    in scope when `scoped`) plus one edge per must-link override (weight +inf: no cut may
    remove it)."""
    within = f" and unique_id_l in (select unique_id from {incremental.SCOPE})" if scoped else ""
    con.execute(
        f"create or replace table {SCHEMA}.cluster_edges as select *, null::varchar as "
        f"edge_reason from {SCHEMA}.pairs where match_probability >= $match{within}",
        {"match": thresholds.match},
    )
    for item in must:
        con.execute(
            f"insert into {SCHEMA}.cluster_edges values ($l, $r, 'infinity'::double, 1.0, $reason)",
            {"l": item.left, "r": item.right, "reason": item.logged_reason},
        )


def _components(
    con: duckdb.DuckDBPyConnection, thresholds: Thresholds, name: str, scoped: bool
) -> None:
    """`identity.<name>` (unique_id, cluster_id): connected components of the edges
    (Splink), over the records in scope when `scoped`."""
    db_api = DuckDBAPI(connection=con)
    before = _temporary_views(con)
    within = f" where unique_id in (select unique_id from {incremental.SCOPE})" if scoped else ""
    result = cluster_pairwise_predictions_at_threshold(
        con.sql(f"select unique_id from {SCHEMA}.records{within}"),
        con.sql(f"select unique_id_l, unique_id_r, match_probability from {SCHEMA}.cluster_edges"),
        db_api,
        "unique_id",
        threshold_match_probability=thresholds.match,
    )
    con.execute(
        f"create or replace table {SCHEMA}.{name} as select unique_id, cluster_id "
        f"from {result.physical_name} order by unique_id"
    )
    result.drop_table_from_database_and_remove_from_cache()
    db_api.delete_tables_created_by_splink_from_db()
    # Splink registers the node and edge inputs as temporary views of its own: the ones
    # this call added are unregistered, so nothing of it outlives the step.
    for name in _temporary_views(con) - before:
        con.unregister(name)


def _temporary_views(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "select view_name from duckdb_views() where temporary and starts_with(view_name, "
        "'__splink__')"
    ).fetchall()
    return {r[0] for r in rows}


def _cut(con: duckdb.DuckDBPyConnection, cannot: list) -> int:
    """Cut edges until no cannot-link pair shares a cluster; only the clusters holding such
    a pair are read into memory. `identity.cut_edges` gets every cannot-link pair (its
    score if any) and every edge cut, each with the override's reason: a split names it."""
    con.execute(
        f"create or replace table {SCHEMA}.cut_edges as select * from {SCHEMA}.cluster_edges "
        "limit 0"
    )
    for item in cannot:
        con.execute(
            f"insert into {SCHEMA}.cut_edges select $l, $r, max(match_weight), "
            f"max(match_probability), $reason from {SCHEMA}.pairs where "
            "(unique_id_l, unique_id_r) in (($l, $r), ($r, $l))",
            {"l": item.left, "r": item.right, "reason": item.logged_reason},
        )
    together = [
        o
        for o in cannot
        if con.execute(
            f"select count(distinct cluster_id) = 1 from {SCHEMA}.clusters "
            "where unique_id in ($l, $r)",
            {"l": o.left, "r": o.right},
        ).fetchall()[0][0]
    ]
    if not together:
        return 0
    ids = sorted({o.left for o in together})
    rows = con.execute(
        f"with touched as (select unique_id from {SCHEMA}.clusters where cluster_id in "
        f"(select cluster_id from {SCHEMA}.clusters where unique_id in (select unnest($ids)))) "
        f"select unique_id_l, unique_id_r, match_weight from {SCHEMA}.cluster_edges "
        "where unique_id_l in (select unique_id from touched)",
        {"ids": ids},
    ).fetchall()
    # One edge per pair of records, either way round, at its strongest: a must-link (+inf)
    # beside a scored pair keeps the pair uncuttable.
    weights: dict[tuple[str, str], float] = {}
    for left, right, weight in rows:
        edge = (min(left, right), max(left, right))
        weights[edge] = max(weights.get(edge, float("-inf")), weight)
    cut = overrides.cut_edges(weights, together)
    same_pair = "(unique_id_l, unique_id_r) in (($l, $r), ($r, $l))"
    for (left, right), item in cut.items():
        params = {"l": left, "r": right}
        con.execute(
            f"insert into {SCHEMA}.cut_edges select * exclude (edge_reason), $reason from "
            f"{SCHEMA}.cluster_edges where {same_pair}",
            {**params, "reason": item.logged_reason},
        )
        con.execute(f"delete from {SCHEMA}.cluster_edges where {same_pair}", params)
    return len(cut)


# The clustering tables a scoped run rewrites for its scope only, each with the column
# that places a row in or out of scope.
_SCOPED_TABLES = {
    "clusters": "unique_id",
    tables.COMPONENTS.split(".")[1]: "unique_id",
    "cluster_edges": "unique_id_l",
    "cut_edges": "unique_id_l",
}


def _keep_outside_scope(con: duckdb.DuckDBPyConnection) -> None:
    """Temp copies of the clustering rows outside the scope (kept as they are)."""
    for table, column in _SCOPED_TABLES.items():
        con.execute(
            f"create or replace temp table _kept_{table} as select * from {SCHEMA}.{table} "
            f"where {column} not in (select unique_id from {incremental.SCOPE})"
        )


def _restore_outside_scope(con: duckdb.DuckDBPyConnection) -> None:
    for table, column in _SCOPED_TABLES.items():
        con.execute(
            f"create or replace table {SCHEMA}.{table} as select * from {SCHEMA}.{table} "
            f"union all by name select * from _kept_{table} order by {column}"
        )
        con.execute(f"drop table _kept_{table}")


def cluster_with_overrides(
    con: duckdb.DuckDBPyConnection,
    thresholds: Thresholds,
    decided: overrides.Overrides,
    full: bool = False,
) -> Clustering:
    """`identity.clusters`: connected components of the pairs at or above the match
    threshold, joined by must-link and separated by cannot-link overrides. Only the
    components a change touches are redone unless `full` (or on the first run)."""
    named = {o.left for o in decided.items} | {o.right for o in decided.items}
    known = _known(con, named)
    usable = [o for o in decided.items if o.left in known and o.right in known]
    must = [o for o in usable if o.kind == "must_link"]
    cannot = [o for o in usable if o.kind == "cannot_link"]
    redone = None if full else incremental.clusters_to_redo(con, thresholds.match, known)
    scoped = redone is not None
    incremental.forget(con, tables.CLUSTERED_RECORDS, tables.CLUSTERED_PAIRS)
    if scoped:
        _keep_outside_scope(con)
    _edges(con, thresholds, must, scoped)
    _components(con, thresholds, "clusters", scoped)
    con.execute(
        f"create or replace table {tables.COMPONENTS} as select unique_id, "
        f"cluster_id as component_id from {SCHEMA}.clusters"
    )
    conflicts = _national_id_conflicts(con)
    cut = _cut(con, cannot + conflicts)
    if cut:
        _components(con, thresholds, "clusters", scoped)
    if scoped:
        _restore_outside_scope(con)
    incremental.snapshot_clustered(con, thresholds.match)
    count = con.execute(f"select count(distinct cluster_id) from {SCHEMA}.clusters").fetchall()
    return Clustering(
        count[0][0], len(must), cut, tuple(sorted(named - known)), len(conflicts), redone
    )


NATIONAL_ID_REASON = "different national ids (automatic cannot-link)"


def _national_id_conflicts(con: duckdb.DuckDBPyConnection) -> list[overrides.Override]:
    """Two records of one cluster with different national ids are two people: a national
    id is issued once, so the model's evidence cannot outweigh it. Each such pair becomes
    a cannot-link (a person's must-link still wins)."""
    rows = con.execute(
        f"with ids as (select c.cluster_id, f.unique_id, f.national_id from {SCHEMA}.clusters c "
        f"join {SCHEMA}.features f using (unique_id) where f.national_id is not null) "
        "select a.unique_id, b.unique_id from ids a join ids b on a.cluster_id = b.cluster_id "
        "and a.unique_id < b.unique_id and a.national_id <> b.national_id order by all"
    ).fetchall()
    return [
        overrides.Override("cannot_link", left, right, NATIONAL_ID_REASON, 0, automatic=True)
        for left, right in rows
    ]
