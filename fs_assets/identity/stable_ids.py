"""Stable golden ids: a run renumbers no one.

Each new cluster takes the previous golden id of its records (matched by overlap). A
previous id whose records now sit in several clusters stays with the part holding most of
them (a split: the other parts get new ids); a cluster holding the kept ids of several
previous people keeps the oldest (lowest) id (a merge: the others are retired, never
issued again). A cluster without a previous id is a new person and gets the next id.
`assign` decides (plain Python); `write_golden_ids` applies it to the warehouse and
appends every merge and split to `identity.golden_id_log` with the pair that caused it,
and every id whose records are all gone as a retirement. A cluster whose records are
exactly one previous person's keeps that id without going through `assign`, so a run
assigns only the records of the people that changed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from fs_assets.identity import tables
from fs_assets.transforms.duckdb_file import transaction

PREFIX = "G"
DIGITS = 10
_NEW_IDS = "_identity_new_ids"
_UNCHANGED = "_identity_unchanged_people"
_ID = re.compile(rf"^{PREFIX}(\d{{{DIGITS}}})$")


def golden_id(number: int) -> str:
    return f"{PREFIX}{number:0{DIGITS}d}"


def id_number(value: str) -> int:
    match = _ID.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a golden id ({PREFIX} and {DIGITS} digits)")
    return int(match.group(1))


RETIRE = "retire"


@dataclass(frozen=True)
class IdEvent:
    """A merge (`other` retired into `golden`), a split (`golden` new, from `other`) or a
    retirement (`golden` gone with all its records; `other` empty)."""

    event: str
    golden: str
    other: str


def assign(
    clusters: Mapping[str, str], previous: Mapping[str, str], last_issued: int
) -> tuple[dict[str, str], list[IdEvent]]:
    """Golden id per record, and the merges and splits, from this run's clusters (record ->
    cluster) and the previous run's ids (record -> golden id)."""
    members: dict[str, list[str]] = defaultdict(list)
    for record, cluster in clusters.items():
        members[cluster].append(record)
    order = sorted(members, key=lambda c: min(members[c]))
    held: dict[str, Counter[str]] = {
        c: Counter(previous[r] for r in members[c] if r in previous) for c in order
    }
    # Each previous id stays with the cluster holding most of its records (then the first).
    keeper: dict[str, str] = {}
    for cluster in order:
        for old, count in held[cluster].items():
            best = keeper.get(old)
            if best is None or count > held[best][old]:
                keeper[old] = cluster
    ids: dict[str, str] = {}
    events: list[IdEvent] = []
    for cluster in order:
        kept = sorted((o for o in held[cluster] if keeper[o] == cluster), key=id_number)
        if kept:
            ids[cluster] = kept[0]
            events += [IdEvent("merge", kept[0], o) for o in kept[1:]]
        else:
            last_issued += 1
            ids[cluster] = golden_id(last_issued)
        # Records of a previous person who stays elsewhere: split off into this cluster.
        moved = sorted((o for o in held[cluster] if keeper[o] != cluster), key=id_number)
        events += [IdEvent("split", ids[cluster], o) for o in moved]
    # A previous person none of whose records is read any more: retired, never reissued.
    gone = sorted(set(previous.values()) - set(keeper), key=id_number)
    events += [IdEvent(RETIRE, old, "") for old in gone]
    return {r: ids[c] for r, c in clusters.items()}, events


def _last_issued(con: duckdb.DuckDBPyConnection) -> int:
    """The highest id ever issued (kept or retired), so no id is issued twice."""
    row = con.execute(
        f"select max(g) from (select golden_id as g from {tables.CUSTOMER_IDENTITY} union all "
        f"select golden_id from {tables.GOLDEN_ID_LOG} union all "
        f"select other_golden_id from {tables.GOLDEN_ID_LOG})"
    ).fetchall()[0][0]
    return id_number(row) if row else 0


# The strongest edge joining a previous person's records to the rest of its new cluster
# (merge), or the strongest scored or cut pair between a split-off part and the part that
# kept the id (split); the override's reason when it was one.
_MERGE_REASON = (
    "select e.unique_id_l, e.unique_id_r, e.match_weight, e.edge_reason "
    f"from {tables.CLUSTER_EDGES} e join new_ids l on l.unique_id = e.unique_id_l "
    "join new_ids r on r.unique_id = e.unique_id_r "
    "where l.golden_id = $golden and r.golden_id = $golden "
    "and coalesce(l.old_id = $other, false) <> coalesce(r.old_id = $other, false) "
    "order by e.match_weight desc, e.unique_id_l, e.unique_id_r limit 1"
)
_SPLIT_REASON = (
    "select e.unique_id_l, e.unique_id_r, e.match_weight, e.edge_reason from (select *, null "
    f"as edge_reason from {tables.PAIRS} union all by name select * from {tables.CUT_EDGES}) e "
    "join new_ids l on l.unique_id = e.unique_id_l join new_ids r on r.unique_id = "
    "e.unique_id_r where least(l.golden_id, r.golden_id) = least($golden, $other) "
    "and greatest(l.golden_id, r.golden_id) = greatest($golden, $other) "
    "order by e.edge_reason nulls last, e.match_weight desc, e.unique_id_l, e.unique_id_r limit 1"
)


def _retired(previous: Mapping[str, str], golden: str) -> tuple:
    records = sorted(r for r, g in previous.items() if g == golden)
    shown = ", ".join(records[:5]) + (f" and {len(records) - 5} more" if len(records) > 5 else "")
    return records[0], None, None, f"no record of it is read any more (was {shown})"


def _reason(con: duckdb.DuckDBPyConnection, event: IdEvent) -> tuple:
    sql = _MERGE_REASON if event.event == "merge" else _SPLIT_REASON
    row = con.execute(sql, {"golden": event.golden, "other": event.other}).fetchall()
    if not row:
        return None, None, None, "no candidate pair links the parts any more"
    left, right, weight, override = row[0]
    if override:
        return left, right, weight, override
    if event.event == "merge":
        text = f"{left} and {right} match (match weight {weight:.2f})"
    else:
        text = f"{left} and {right} no longer reach the match threshold (weight {weight:.2f})"
    return left, right, weight, text


# This run's clusters whose records are exactly those of one previous golden id: the
# person is unchanged and keeps the id, as `assign` would decide (no other cluster holds
# a record of that id, and no other previous id is in the cluster). Only the other
# clusters and previous ids go through `assign`; their records are closed under both.
_UNCHANGED_SQL = (
    "with cur as (select cluster_id, list(unique_id order by unique_id) as members "
    f"from {tables.CLUSTERS} group by 1), "
    "prev as (select golden_id, list(unique_id order by unique_id) as members "
    f"from {tables.CUSTOMER_IDENTITY} group by 1) "
    "select cur.cluster_id, prev.golden_id from cur join prev using (members)"
)


def write_golden_ids(
    con: duckdb.DuckDBPyConnection, run_id: str, full: bool = False
) -> tuple[list[IdEvent], int]:
    """Bring `mastered.customer_identity` to this run's stable ids and log the merges and
    splits (in one transaction); the events and how many records were (re)assigned. Only
    the records of changed people are assigned, unless `full`; the ids are the same."""
    tables.create_kept_tables(con)
    unchanged = "(select null::varchar as cluster_id, null::varchar as golden_id limit 0)"
    if not full:
        con.execute(f"create or replace temp table {_UNCHANGED} as {_UNCHANGED_SQL}")
        unchanged = _UNCHANGED
    clusters = dict(
        con.execute(
            f"select unique_id, cluster_id from {tables.CLUSTERS} "
            f"where cluster_id not in (select cluster_id from {unchanged})"
        ).fetchall()
    )
    previous = dict(
        con.execute(
            f"select unique_id, golden_id from {tables.CUSTOMER_IDENTITY} "
            f"where golden_id not in (select golden_id from {unchanged})"
        ).fetchall()
    )
    ids, events = assign(clusters, previous, _last_issued(con))
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with transaction(con):
        batch = pa.table(
            {
                "unique_id": list(ids),
                "golden_id": list(ids.values()),
                "old_id": pa.array([previous.get(r) for r in ids], pa.string()),
            }
        )
        con.register(_NEW_IDS, batch)
        con.execute(f"create or replace temp table new_ids as select * from {_NEW_IDS}")
        con.unregister(_NEW_IDS)
        for event in events:
            if event.event == RETIRE:
                left, right, weight, reason = _retired(previous, event.golden)
            else:
                left, right, weight, reason = _reason(con, event)
            other = event.other or None
            con.execute(
                f"insert into {tables.GOLDEN_ID_LOG} values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [now, run_id, event.event, event.golden, other, left, right, weight, reason],
            )
        # The changed people's rows (and those of records no longer read) are replaced.
        con.execute(
            f"delete from {tables.CUSTOMER_IDENTITY} "
            f"where golden_id not in (select golden_id from {unchanged})"
        )
        con.execute(
            f"insert into {tables.CUSTOMER_IDENTITY} select r.source, r.source_id, "
            f"r.unique_id, n.golden_id from {tables.RECORDS} r "
            "join new_ids n using (unique_id) order by r.unique_id"
        )
        con.execute("drop table new_ids")
    con.execute(f"drop table if exists {_UNCHANGED}")
    return events, len(ids)
