"""The mastered layer: per key the newest valid version, its history, and quarantine.

Every raw version is evaluated against the rules (the seed's casts and validity SQL,
written once in `rules.py`). Per key, `mastered.<entity>` holds the newest version that
breaks no rule (newest by modified_at, ties broken by the later ingestion, then the later
file row, so the result never depends on scan order). What fails is never dropped:

- an invalid version newer than the key's mastered row is a *pending correction* in
  `quarantine.<entity>_pending_corrections` (rules broken, file, row); the good row
  stays, so rows that reference it are not cascaded away by a bad update;
- a key with no valid version at all is rejected with its newest version in
  `quarantine.<entity>_rejects`, so that
  `count(distinct key in raw) == count(mastered) + count(rejects)` after every build;
- any other invalid version (older than the mastered row: an invalid late correction or a
  pending correction a valid version cleared; an older version of a rejected key) is in
  `quarantine.<entity>_superseded_invalid`, so every raw version is in the history or in
  quarantine.

`mastered.<entity>_history` holds every valid version with `[valid_from, valid_to)` from
modified_at (SCD type 2; the current row's valid_to is NULL). A late correction (older
modified_at than the current row) takes its place in time and does not become current.
On DuckDB the history is a view: the mastered rows (current, valid_to NULL) and
`mastered.<entity>_history_past` (the valid versions no longer current), so a build does
not write every current row twice; its cost follows the number of past versions.
All the tables change in one transaction: a build that fails midway leaves the previous
versions readable and unchanged (a full build over more than PASS_VERSIONS versions
writes its passes into building tables first, and one transaction puts them in place).
After the first build only the keys with new raw versions, or rows reading a referenced
key that changed, are re-evaluated, with all their versions (see `build_mastered`); the
same transaction records which keys it rewrote (`change_record.py`), what the checks
read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from fs_assets.model.columns import Entity
from fs_assets.model.cross_entity import (
    carried_sql,
    check_reporting_currency,
    derived_select_sql,
    lookup_entities,
    lookup_tables,
    lookups,
)
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import (
    BUILDING_PREFIX,
    MASTERED_SCHEMA,
    REFERENCE_CHANGES,
    STATE,
    history_name,
    history_table,
    mastered_table,
    past_versions_name,
    past_versions_table,
    pending_table,
    raw_table,
    rejects_table,
    superseded_table,
)
from fs_assets.model.rules import (
    failed_rules_sql,
    fk_alias,
    fk_refs_sql,
    parsed_select_sql,
    q,
    reference_joins_sql,
    rules_of,
    running_rules_sql,
    served_foreign_keys,
    typed_select_sql,
)
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.change_record import current_build, record_change, table_counts
from fs_assets.transforms.duckdb_file import table_exists, transaction
from fs_assets.transforms.raw_history import AUDIT_COLUMNS, VERSION_COLUMN, ensure_tables

LINEAGE_COLUMNS = ("_source_file", "_source_row", "_ingested_at")


# The mastering transformation, written once (DuckDB SQL; the Spark engine transpiles it).


def versions_sql(ent: Entity, keys_table: str | None = None, keys: KeyRange | None = None) -> str:
    """Every raw version (of the keys in `keys_table`; in the range `keys`, whose
    parameters `KeyRange.params` gives in order): each one is evaluated."""
    raw = raw_table(ent)
    key = q(ent.key)
    names = ", ".join(f"r.{c}" for c in (*(q(c) for c in ent.column_names), *AUDIT_COLUMNS))
    where = f" where {keys.predicate(f'r.{key}')}" if keys and not keys.everything else ""
    if keys_table:
        return f"(select {names} from {raw} r semi join {keys_table} k on r.{key} = k.{key}{where})"
    return f"(select {names} from {raw} r{where})"


# At most about this many raw versions are evaluated and ranked at once. Every rule and
# the ranking are per key, so a build over more versions is cut into passes by ranges of
# the key, each pass a complete build of its keys. One pass at 1M customers (10M
# transactions); at 10M (100M transactions) one pass staged every version and spilled
# 23 GB under a 4 GB memory limit. A full build's passes each commit into tables of their
# own (BUILDING_PREFIX), which one transaction then puts in place of the outputs: inside
# one transaction DuckDB keeps every pass's replaced scratch tables until the commit (for
# a rollback), so nine passes in one transaction spilled as much as one pass.
PASS_VERSIONS = 12_000_000
# Keys sampled to cut the passes' ranges: enough for parts of about equal size.
RANGE_SAMPLE = 100_000


def key_passes(versions: int) -> int:
    """How many key ranges a build over `versions` raw versions takes."""
    return max(1, -(-versions // PASS_VERSIONS))


@dataclass(frozen=True)
class KeyRange:
    """One pass's keys: `low` <= key < `high` (None: unbounded), and the keys that are NULL
    when `nulls`. Ranges, not a hash of the key: raw is appended in landing order, and
    keys mostly arrive in order, so DuckDB skips the row groups outside a range by their
    min/max (a hash part read every row of raw in every pass)."""

    low: str | None
    high: str | None
    nulls: bool

    def predicate(self, column: str) -> str:
        """SQL for `column` in the range; its parameters are `params`, in order."""
        bounds = [f"{column} >= ?"] * (self.low is not None) + [f"{column} < ?"] * (
            self.high is not None
        )
        inside = " and ".join(bounds) or "true"
        return f"({inside} or {column} is null)" if self.nulls else f"({inside})"

    @property
    def params(self) -> list[object]:
        return [b for b in (self.low, self.high) if b is not None]

    @property
    def everything(self) -> bool:
        """Every key, NULL included: a one-pass build, which needs no filter."""
        return self.low is None and self.high is None and self.nulls


def key_ranges(
    conn: duckdb.DuckDBPyConnection, ent: Entity, table: str, passes: int
) -> list[KeyRange]:
    """`passes` ranges of the key of `table` (raw, or the keys of an incremental build) that
    hold about as many of its rows each, cut at the quantiles of a sample of its keys (a
    key with many rows is never split: its versions are ranked together). Fewer when the
    sample has fewer distinct keys; one range of every key for one pass."""
    if passes <= 1:
        return [KeyRange(None, None, nulls=True)]
    key = q(ent.key)
    cuts = conn.execute(
        f"""select list_distinct(quantile_disc(k, ?::double[])) from (
          select {key}::varchar as k from {table}
          tablesample reservoir({RANGE_SAMPLE} rows) repeatable (7)) s
        where k is not null""",
        [[i / passes for i in range(1, passes)]],
    ).fetchone()[0]
    bounds = [None, *sorted(cuts or []), None]
    return [
        KeyRange(low, high, nulls=i == 0)
        for i, (low, high) in enumerate(itertools.pairwise(bounds))
    ]


def evaluated_sql(
    ent: Entity,
    source: str,
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    source_params: list[object] | None = None,
    kept_refs: Sequence[str | None] | None = None,
) -> tuple[str, list[object]]:
    """Each version (from `source`, e.g. `versions_sql`, whose parameters are
    `source_params`) with the rules it breaks, and the looked-up values its derived
    columns need (an fx rate). `kept_refs`: the foreign keys' referenced keys already
    kept in tables (`keep_fk_refs`), else each is read from its mastered table. A foreign
    key a lookup answers reads the lookup (`served_foreign_keys`); the fingerprint is of
    the rules as written, the same either way."""
    failed_sql, params, joins, join_params = running_rules_sql(
        ent, rules_of(ent), "l", reporting_currency, kept_refs
    )
    parsed, parsed_params = parsed_select_sql(ent, "l")
    text_cols = ", ".join(f"l.{q(c)}" for c in ent.column_names)
    lineage = ", ".join(f"l.{c}" for c in LINEAGE_COLUMNS)
    sql = f"""select {text_cols}, {lineage}, l._modified_ts, l._batch_id{parsed},
            {failed_sql} as _failed_rules{carried_sql(ent)}
            from {source} l
            {joins}"""
    return sql, [*parsed_params, *params, *(source_params or []), *join_params]


# The keys with more than one version in `_evaluated`: the only ones `ranked_sql` windows.
MULTI = "_multi"
# A version of `_evaluated` that breaks no rule.
IS_VALID = "array_length(e._failed_rules) = 0"


def multi_sql(ent: Entity, versions: str = "_evaluated") -> str:
    """Keys of `_evaluated` with more than one version. `versions`: the build's raw
    versions (`versions_sql`) instead, the same keys (evaluation adds columns, not rows:
    each lookup joins one row of a mastered table or rate) from the key column alone."""
    key = q(ent.key)
    return f"select {key} from {versions} v group by {key} having count(*) > 1"


def single_ranked_sql() -> str:
    """`ranked_sql` of versions that are each their key's only one: the newest, valid or
    not, with no newer version. Alone, it is `_ranked` when no key has two versions
    (`multi_sql` empty, as in most first builds): no window, no join."""
    return f"""select e.*, cast(1 as bigint) as _nth,
          {IS_VALID} as _valid, {IS_VALID} as _has_valid,
          cast(0 as bigint) as _valid_newer, cast(null as timestamp) as _valid_to
        from _evaluated e"""


def ranked_sql(ent: Entity, multi: str | None = None) -> str:
    """`_evaluated` with each version's place among its key's versions.

    `_nth` (1 = the newest raw version), `_valid`, `_has_valid` (the key has a valid
    version), `_valid_newer` (valid versions newer than this one) and `_valid_to` (when the
    next newer valid version took over; null for the newest valid one). Newer means later
    modified_at, then later ingestion, then later file row. Keys with one version, most of
    them, skip the window (a sort) entirely. `multi`: a table holding `multi_sql` (DuckDB
    keeps it once per build: `_ranked` is a view the build reads four times, and each read
    would group every version by key again); None computes it inline.
    """
    key = q(ent.key)
    newer = (
        f"over (partition by e.{key} order by e._modified_ts desc, e._batch_id desc, "
        "e._source_row desc rows between unbounded preceding and 1 preceding)"
    )
    source = multi or "multi"
    head = "" if multi else f"with multi as ({multi_sql(ent)})"
    return f"""{head}
        {single_ranked_sql()} anti join {source} m on e.{key} = m.{key}
        union all
        select e.*,
          row_number() over (partition by e.{key}
            order by e._modified_ts desc, e._batch_id desc, e._source_row desc) as _nth,
          {IS_VALID} as _valid,
          max(case when {IS_VALID} then 1 else 0 end) over (partition by e.{key}) = 1
            as _has_valid,
          coalesce(sum(case when {IS_VALID} then 1 else 0 end) {newer}, 0) as _valid_newer,
          min(case when {IS_VALID} then e._modified_ts end) {newer} as _valid_to
        from _evaluated e semi join {source} m on e.{key} = m.{key}"""


# Which rows of `_ranked` go where. A key's mastered row is its newest valid version; the
# invalid versions newer than it are pending corrections; a key with no valid version is
# rejected with its newest version; every valid version is a history row.
IS_MASTERED = "e._valid and e._valid_newer = 0"
IS_PENDING = "not e._valid and e._has_valid and e._valid_newer = 0"
IS_REJECTED = "not e._has_valid and e._nth = 1"
IS_QUARANTINED = f"(({IS_PENDING}) or ({IS_REJECTED}))"
# An invalid version something newer already replaced: older than the key's mastered row
# (an invalid late correction, or a pending correction a valid version cleared), or an
# older invalid version of a rejected key. Recorded so every raw version is accounted for.
IS_SUPERSEDED = f"not e._valid and not ({IS_PENDING}) and not ({IS_REJECTED})"
HISTORY_COLUMNS = ("valid_from", "valid_to")
# The invalid versions of `_ranked`, kept once: the three quarantine tables and the rule
# failure counts read them instead of ranking every version again.
INVALID = "_invalid"
INVALID_SQL = "select * from _ranked e where not e._valid"


def _typed_with_lineage(ent: Entity) -> str:
    lineage = ", ".join(f"e.{c}" for c in LINEAGE_COLUMNS)
    return f"{typed_select_sql(ent, 'e')}{derived_select_sql(ent)}, {lineage}"


def mastered_select_sql(ent: Entity) -> str:
    """Per key, the typed newest version of `_ranked` that breaks no rule."""
    return f"select {_typed_with_lineage(ent)} from _ranked e where {IS_MASTERED}"


def history_select_sql(ent: Entity, where: str = "e._valid") -> str:
    """Every valid version, typed, with its validity interval [valid_from, valid_to)."""
    return (
        f"select {_typed_with_lineage(ent)}, e._modified_ts as valid_from, "
        f"e._valid_to as valid_to from _ranked e where {where}"
    )


def past_versions_select_sql(ent: Entity) -> str:
    """The valid versions a newer valid one replaced: the stored part of the history."""
    return history_select_sql(ent, "e._valid and e._valid_newer > 0")


def history_view_sql(ent: Entity, current: str | None = None, past: str | None = None) -> str:
    """The history as the mastered rows (current: valid from their modified_at, valid_to
    NULL) and the past versions. `_modified_ts` is modified_at parsed, which is what the
    mastered row's typed modified_at holds. `current`/`past`: other relations of the same
    columns in their place (the checks' rows of the changed keys)."""
    return (
        f"select m.*, m.{q(VERSION_COLUMN)} as valid_from, cast(null as timestamp) as valid_to "
        f"from {current or mastered_table(ent)} m "
        f"union all select * from {past or past_versions_table(ent)}"
    )


def _quarantine_select_sql(ent: Entity, where: str) -> str:
    return (
        f"select {', '.join(f'e.{q(c)}' for c in ent.column_names)}, e._failed_rules, "
        f"{', '.join(f'e.{c}' for c in LINEAGE_COLUMNS)}, cast(? as timestamp) as _rejected_at "
        f"from {INVALID} e where {where}"
    )


def rejects_select_sql(ent: Entity) -> str:
    """Keys with no valid version: their newest version as delivered, with the rules broken;
    param: now."""
    return _quarantine_select_sql(ent, IS_REJECTED)


def pending_select_sql(ent: Entity) -> str:
    """Invalid versions newer than the key's mastered row, as delivered; param: now."""
    return _quarantine_select_sql(ent, IS_PENDING)


def superseded_select_sql(ent: Entity) -> str:
    """Invalid versions already replaced by a newer one, as delivered; param: now."""
    return _quarantine_select_sql(ent, IS_SUPERSEDED)


EVALUATED_COUNTS_SQL = f"""select
    count(*) filter (where e._nth = 1), count(*),
    count(*) filter (where {IS_MASTERED}), count(*) filter (where {IS_REJECTED}),
    count(*) filter (where {IS_PENDING}), count(*) filter (where e._valid),
    count(*) filter (where {IS_SUPERSEDED})
  from _ranked e"""
RULE_FAILURES_SQL = (
    f"select r, count(*) from (select unnest(e._failed_rules) as r from {INVALID} e "
    f"where {IS_QUARANTINED}) group by r order by r"
)


@dataclass(frozen=True)
class MasterStats:
    """What one build did; the counts are of the keys (and their versions) it evaluated."""

    mode: str  # full | incremental | unchanged
    keys_evaluated: int
    versions_evaluated: int
    mastered_rows: int
    rejected_rows: int
    pending_rows: int
    history_rows: int
    superseded_rows: int
    rule_failures: dict[str, int]

    @classmethod
    def unchanged(cls) -> MasterStats:
        return cls("unchanged", 0, 0, 0, 0, 0, 0, 0, {})


def referenced_entities(ent: Entity) -> tuple[str, ...]:
    """Mastered tables this entity's rules read: foreign keys' targets, then lookups'."""
    return tuple(dict.fromkeys([*(fk.entity for fk in ent.foreign_keys), *lookup_entities(ent)]))


def referenced_tables(ent: Entity) -> tuple[str, ...]:
    """Mastered tables (and history views) the rules' joins read: foreign keys' targets,
    then the lookups' relations (mastered.customer_history for consent at an event's time)."""
    return tuple(dict.fromkeys([*(fk.entity for fk in ent.foreign_keys), *lookup_tables(ent)]))


def ensure_reference_tables(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """Referenced mastered tables must exist for the foreign-key and lookup joins."""
    for name in referenced_tables(ent):
        if not table_exists(conn, "mastered", name):
            raise RuntimeError(
                f"mastered.{name} does not exist yet; build it before mastered.{ent.name} "
                f"(its rules read it)"
            )


def rules_fingerprint(ent: Entity, reporting_currency: str = DEFAULT_REPORTING_CURRENCY) -> str:
    """Changes whenever the rules, the casts or the reporting currency change: then every
    key is re-evaluated."""
    failed_sql, params = failed_rules_sql(rules_of(ent))
    joins, join_params = reference_joins_sql(ent, "l", reporting_currency)
    parsed, parsed_params = parsed_select_sql(ent, "l")
    text = "|".join(
        [
            failed_sql,
            repr(params),
            typed_select_sql(ent),
            joins,
            repr(join_params),
            derived_select_sql(ent),
            # Only entities with text formats have these (the others' fingerprints stay).
            *([parsed, repr(parsed_params)] if parsed else []),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _state(conn: duckdb.DuckDBPyConnection, entity: str) -> tuple | None:
    conn.execute(
        f"create table if not exists {STATE} (entity varchar primary key, build_id bigint, "
        "raw_watermark bigint, rules_fingerprint varchar, refs varchar, built_at timestamp)"
    )
    return conn.execute(
        f"select build_id, raw_watermark, rules_fingerprint, refs from {STATE} where entity = ?",
        [entity],
    ).fetchone()


def refs_of(conn: duckdb.DuckDBPyConnection, ent: Entity) -> str:
    """Build ids of the referenced mastered tables: if one was rebuilt (a customer changed,
    a late fx rate arrived), the rules reading it need a recheck of the rows it affects
    (read-only)."""
    return ",".join(
        f"{name}:{current_build(conn, name) or 'none'}" for name in referenced_entities(ent)
    )


def _replace_history_view(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """(Re)create the history view; a history table of an older build is dropped first."""
    kind = conn.execute(
        "select table_type from information_schema.tables "
        "where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [MASTERED_SCHEMA, history_name(ent)],
    ).fetchone()
    if kind and kind[0] == "BASE TABLE":
        conn.execute(f"drop table {history_table(ent)}")
    conn.execute(f"create or replace view {history_table(ent)} as {history_view_sql(ent)}")


def _parse_refs(refs: str | None) -> dict[str, str]:
    return dict(part.split(":", 1) for part in (refs or "").split(",") if ":" in part)


def _is_referenced(ent: Entity) -> bool:
    return any(ent.name in referenced_entities(e) for e in ENTITIES.values())


def _ensure_changes(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        f"create table if not exists {REFERENCE_CHANGES} (entity varchar, build_id bigint, "
        "key varchar, presence_changed boolean)"
    )


def traceable_references(ent: Entity) -> bool:
    """Whether a referenced key's change can be traced to the rows reading it: foreign keys
    on the referenced entity's key, lookups that say which rows a change affects."""
    return all(fk.ref_column == ENTITIES[fk.entity].key for fk in ent.foreign_keys) and all(
        lk.affected is not None for lk in lookups(ent)
    )


def referenced_changes(
    conn: duckdb.DuckDBPyConnection, ent: Entity, old_refs: str, new_refs: str
) -> dict[str, tuple[int, int]] | None:
    """Per referenced entity rebuilt since `old_refs`, the range of its builds (exclusive,
    inclusive) whose re-evaluated keys are on record; None when one of them was built in
    full or its record is incomplete: then every key needs a recheck."""
    _ensure_changes(conn)
    before, now = _parse_refs(old_refs), _parse_refs(new_refs)
    if before == now:
        return {}
    if set(before) != set(now) or not traceable_references(ent):
        return None
    ranges = {}
    for name, built in now.items():
        if before[name] == built:
            continue
        if "none" in (before[name], built):
            return None
        low, high = int(before[name]), int(built)
        builds, full = conn.execute(
            f"select count(distinct build_id), count(*) filter (where key is null) "
            f"from {REFERENCE_CHANGES} where entity = ? and build_id > ? and build_id <= ?",
            [name, low, high],
        ).fetchone()
        if full or builds != high - low:
            return None
        ranges[name] = (low, high)
    return ranges


def changed_keys_table(name: str) -> str:
    """The temp table of a referenced entity's re-evaluated keys (both engines name it so)."""
    return f"_changed_{name}"


def _load_changes(conn: duckdb.DuckDBPyConnection, ranges: dict[str, tuple[int, int]]) -> None:
    """One temp table per rebuilt referenced entity: the keys its builds re-evaluated."""
    for name, (low, high) in ranges.items():
        conn.execute(
            f"create or replace temp table {changed_keys_table(name)} as "
            f"select distinct key, presence_changed from {REFERENCE_CHANGES} "
            "where entity = ? and build_id > ? and build_id <= ?",
            [name, low, high],
        )


def affected_keys_sql(
    ent: Entity, ranges: dict[str, tuple[int, int]], reporting_currency: str
) -> tuple[list[str], list[object]]:
    """Selects of the keys whose rows read a changed key of a referenced entity: a foreign
    key that became (or stopped being) mastered, or any re-evaluated key a lookup reads."""
    raw, key = raw_table(ent), q(ent.key)
    selects: list[str] = []
    params: list[object] = []
    for fk in ent.foreign_keys:
        if fk.entity in ranges:
            changed = f"select key from {changed_keys_table(fk.entity)} where presence_changed"
            selects.append(f"select r.{key} from {raw} r where r.{q(fk.column)} in ({changed})")
    for lk in lookups(ent):
        if lk.entity in ranges and lk.affected is not None:
            changed = f"select key from {changed_keys_table(lk.entity)}"
            where = lk.affected.format(s="r", changed=changed)
            selects.append(f"select r.{key} from {raw} r where {where}")
            # Every `?` of an `affected` predicate is the reporting currency.
            params += [check_reporting_currency(reporting_currency)] * lk.affected.count("?")
    return selects, params


def _record_changes(
    conn: duckdb.DuckDBPyConnection, ent: Entity, build_id: int, incremental: bool
) -> None:
    """What this build re-evaluated, for the entities reading this one (a full build: one
    NULL key); the record older than every reader's last build is dropped."""
    if not _is_referenced(ent):
        return
    _ensure_changes(conn)
    key = q(ent.key)
    if incremental:
        conn.execute(
            f"insert into {REFERENCE_CHANGES} select ?, ?, k.{key}, "
            f"(w.{key} is null) <> (m.{key} is null) "
            f"from _keys k left join _was w on w.{key} = k.{key} "
            f"left join {mastered_table(ent)} m on m.{key} = k.{key}",
            [ent.name, build_id],
        )
    else:
        conn.execute(
            f"insert into {REFERENCE_CHANGES} values (?, ?, null, null)", [ent.name, build_id]
        )
    seen = []
    for reader in ENTITIES.values():
        if ent.name in referenced_entities(reader):
            row = _state(conn, reader.name)
            built = _parse_refs(row[3] if row else None).get(ent.name, "none")
            if row is None or built == "none":
                return  # a reader not built yet: it will build in full anyway, keep all
            seen.append(int(built))
    conn.execute(
        f"delete from {REFERENCE_CHANGES} where entity = ? and build_id <= ?",
        [ent.name, min(seen)],
    )


def _outputs(ent: Entity, now: dt.datetime) -> tuple[tuple[str, str, list[object]], ...]:
    """Each table a build writes, the select of its rows from `_ranked`, its parameters."""
    return (
        (mastered_table(ent), mastered_select_sql(ent), []),
        (rejects_table(ent), rejects_select_sql(ent), [now]),
        (pending_table(ent), pending_select_sql(ent), [now]),
        (past_versions_table(ent), past_versions_select_sql(ent), []),
        (superseded_table(ent), superseded_select_sql(ent), [now]),
    )


def _output_tables(ent: Entity) -> list[str]:
    return [table for table, _, _ in _outputs(ent, dt.datetime.min)]


def building_name(table: str) -> tuple[str, str]:
    """(schema, quoted name) of the table a full build in passes writes for `table`."""
    schema, name = table.split(".", 1)
    return schema, q(BUILDING_PREFIX + name.strip('"').replace('""', '"'))


def _drop_building(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    for table in _output_tables(ent):
        conn.execute("drop table if exists {}.{}".format(*building_name(table)))


def _full_build_in_passes(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    passes: list[KeyRange],
    reporting_currency: str,
    now: dt.datetime,
) -> tuple[list[int], Counter[str]]:
    """Every key evaluated in the key ranges `passes`, each committed into the building
    tables (outside any transaction of the caller); the summed counts and rule failures."""
    counts, failures = [0] * 7, Counter[str]()
    targets = {t: "{}.{}".format(*building_name(t)) for t in _output_tables(ent)}
    kept = keep_fk_refs(conn, ent)
    try:
        for part, keys in enumerate(passes):
            try:
                with transaction(conn):
                    source = versions_sql(ent, None, keys)
                    _master_pass(
                        conn,
                        ent,
                        source,
                        keys.params,
                        reporting_currency,
                        now,
                        part > 0,
                        targets,
                        kept,
                    )
                    counts = _add_pass_counts(conn, counts, failures)
            finally:
                _drop_scratch(conn, ent)
    finally:
        for table in filter(None, kept):
            conn.execute(f"drop table if exists {table}")
    return counts, failures


def keep_fk_refs(conn: duckdb.DuckDBPyConnection, ent: Entity) -> list[str | None]:
    """Each foreign key's referenced keys as a temporary table, for a build in passes: the
    distinct keys of the referenced table once, not in every pass (at 10M customers, each
    of the ten transaction passes grouped 16.5M account ids and 10M customer ids: 2.6 s a
    pass). The tables are the build's (passes commit one by one; nothing else writes the
    referenced tables while it holds the file). None for a key a lookup answers
    (`served_foreign_keys`), which the passes do not join."""
    served = served_foreign_keys(ent)
    kept = [None if i in served else f"{fk_alias(i)}_refs" for i in range(len(ent.foreign_keys))]
    for table, sql in zip(kept, fk_refs_sql(ent), strict=True):
        if table is not None:
            conn.execute(f"create or replace temp table {table} as {sql}")
    return kept


def _add_pass_counts(
    conn: duckdb.DuckDBPyConnection, counts: list[int], failures: Counter[str]
) -> list[int]:
    """`counts` plus the pass's (EVALUATED_COUNTS_SQL); its rule failures added to `failures`."""
    got = conn.execute(EVALUATED_COUNTS_SQL).fetchone()
    failures.update(dict(conn.execute(RULE_FAILURES_SQL).fetchall()))
    return [a + b for a, b in zip(counts, got, strict=True)]


def _put_in_place(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """Inside the caller's transaction: the building tables replace the outputs."""
    for table in _output_tables(ent):
        schema, name = building_name(table)
        conn.execute(f"drop table if exists {table}")
        conn.execute(f"alter table {schema}.{name} rename to {table.split('.', 1)[1]}")


def _drop_scratch(conn: duckdb.DuckDBPyConnection, ent: Entity) -> None:
    """The temp tables and view of a build (and of its passes)."""
    conn.execute("drop view if exists _ranked")
    temps = [INVALID, MULTI, "_evaluated", "_keys", "_was"]
    for temp in [*temps, *map(changed_keys_table, referenced_entities(ent))]:
        conn.execute(f"drop table if exists {temp}")


def _master_pass(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    source: str,
    source_params: list[object],
    reporting_currency: str,
    now: dt.datetime,
    append: bool,
    targets: dict[str, str] | None = None,
    kept_refs: Sequence[str | None] | None = None,
) -> int:
    """Evaluate and rank the versions of `source` (its parameters `source_params`), then
    write their rows to every output table (appended, or the tables created from them;
    `targets` names other tables to write in their place); the mastered rows appended.
    `_ranked` and `_invalid` stay for the pass's counts; `kept_refs` as `evaluated_sql`."""
    evaluated, params = evaluated_sql(ent, source, reporting_currency, source_params, kept_refs)
    conn.execute(f"create or replace temp table _evaluated as {evaluated}", params)
    conn.execute(f"create or replace temp table {MULTI} as {multi_sql(ent)}")
    conn.execute(f"create or replace temp view _ranked as {ranked_sql(ent, MULTI)}")
    conn.execute(f"create or replace temp table {INVALID} as {INVALID_SQL}")
    written = 0
    for output, select, args in _outputs(ent, now):
        table = (targets or {}).get(output, output)
        if not append:
            conn.execute(f"create or replace table {table} as {select}", args)
            continue
        inserted = conn.execute(f"insert into {table} {select}", args).fetchone()[0]
        written = inserted if output == mastered_table(ent) else written
    return written


def build_mastered(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    full_refresh: bool = False,
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
) -> MasterStats:
    """Refresh mastered.<entity>, its history and quarantine from raw history, atomically.

    Incremental when it can be: only keys with raw versions newer than the last build are
    re-evaluated (a 1,000-customer update touches 1,000 keys, not a million), plus the keys
    whose rows read a key a referenced mastered table re-evaluated since (its record in
    `meta.reference_changes`): a daily rate re-masters that day's payments, not all of them.
    A full rebuild happens on the first build, on request, when the rules changed, or when
    a referenced table was rebuilt in full (or its record of changes is incomplete).
    """
    ensure_tables(conn, ent)
    ensure_reference_tables(conn, ent)
    _drop_building(conn, ent)  # what a killed build in passes left
    key = q(ent.key)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn.execute("begin transaction")
    try:
        state = _state(conn, ent.name)
        fingerprint, refs = rules_fingerprint(ent, reporting_currency), refs_of(conn, ent)
        watermark = conn.execute(
            f"select coalesce(max(_batch_id), 0) from {raw_table(ent)}"
        ).fetchone()[0]
        incremental = (
            not full_refresh
            and state is not None
            and state[2] == fingerprint
            and table_exists(conn, "mastered", ent.name)
            and table_exists(conn, "quarantine", f"{ent.name}_rejects")
            and table_exists(conn, "quarantine", f"{ent.name}_pending_corrections")
            and table_exists(conn, "mastered", past_versions_name(ent))
            and table_exists(conn, "mastered", history_name(ent))
            and table_exists(conn, "quarantine", f"{ent.name}_superseded_invalid")
        )
        ranges = referenced_changes(conn, ent, state[3], refs) if incremental else None
        incremental = incremental and ranges is not None
        if incremental and watermark == state[1] and not ranges:
            conn.execute("rollback")
            return MasterStats.unchanged()
        if incremental:
            assert ranges is not None
            _load_changes(conn, ranges)
            affected, affected_params = affected_keys_sql(ent, ranges, reporting_currency)
            selects = [f"select {key} from {raw_table(ent)} where _batch_id > ?", *affected]
            conn.execute(
                "create or replace temp table _keys as select distinct * from ("
                + " union all ".join(selects)
                + ")",
                [state[1], *affected_params],
            )
            conn.execute(
                f"create or replace temp table _was as select {key} from {mastered_table(ent)} "
                f"where {key} in (select {key} from _keys)"
            )
        keys_table = "_keys" if incremental else None
        sized = "_keys" if incremental else raw_table(ent)
        versions = conn.execute(f"select count(*) from {sized}").fetchone()[0]
        passes = key_ranges(conn, ent, sized, key_passes(versions))
        before = table_counts(conn, ent) if incremental else None
        if incremental:
            for table in _output_tables(ent):
                conn.execute(f"delete from {table} where {key} in (select {key} from _keys)")
        written, counts, failures = 0, [0] * 7, Counter[str]()
        if not incremental and len(passes) > 1:
            conn.execute("rollback")  # nothing written yet; the passes commit their own
            try:
                counts, failures = _full_build_in_passes(conn, ent, passes, reporting_currency, now)
            finally:
                conn.execute("begin transaction")  # what the handler below rolls back
            _put_in_place(conn, ent)
        else:
            for part, keys in enumerate(passes):
                source = versions_sql(ent, keys_table, keys)
                append = part > 0 or incremental
                inserted = _master_pass(
                    conn, ent, source, keys.params, reporting_currency, now, append
                )
                written += inserted if incremental else 0  # a full build records none
                counts = _add_pass_counts(conn, counts, failures)
        if not incremental:
            _replace_history_view(conn, ent)
        base_build = state[0] if state else 0
        build_id = base_build + 1
        conn.execute(
            f"insert or replace into {STATE} values (?, ?, ?, ?, ?, ?)",
            [ent.name, build_id, watermark, fingerprint, refs, now],
        )
        record_change(
            conn,
            ent,
            build_id,
            base_build,
            refs,
            "_keys" if incremental else None,
            written,
            before,
            now,
        )
        _record_changes(conn, ent, build_id, incremental)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        raise
    finally:
        _drop_scratch(conn, ent)
    mode = "incremental" if incremental else "full"
    return MasterStats(mode, *counts, dict(sorted(failures.items())))
