"""Mastered on Spark: `mastering`'s SQL, transpiled, on the changed keys only.

Parquet is not updated in place: a build re-evaluates the changed keys and writes each
table's new version as the previous version without those keys plus their new rows,
all of a build's tables named together by one manifest (publish.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fs_assets.engines.spark_warehouse import (
    CHANGES_DDL,
    SparkWarehouse,
    build_tables,
    raw_ddl,
)
from fs_assets.model.columns import Entity
from fs_assets.model.rules import q
from fs_assets.model.value_sets import DEFAULT_REPORTING_CURRENCY
from fs_assets.transforms.mastering import (
    EVALUATED_COUNTS_SQL,
    INVALID,
    INVALID_SQL,
    MULTI,
    RULE_FAILURES_SQL,
    MasterStats,
    affected_keys_sql,
    changed_keys_table,
    evaluated_sql,
    history_select_sql,
    mastered_select_sql,
    multi_sql,
    pending_select_sql,
    ranked_sql,
    referenced_entities,
    referenced_tables,
    rejects_select_sql,
    rules_fingerprint,
    single_ranked_sql,
    superseded_select_sql,
    traceable_references,
    versions_sql,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def build_mastered(
    wh: SparkWarehouse,
    ent: Entity,
    reporting_currency: str = DEFAULT_REPORTING_CURRENCY,
    full_refresh: bool = False,
) -> MasterStats:
    """Refresh mastered/<entity>, its history, rejects and pending corrections.

    Incremental when it can be, as on DuckDB: only the keys with a raw batch newer than
    the last build (`BuildState.watermark`), plus the keys whose rows read a key that a
    referenced entity's one build since re-evaluated, are evaluated again, with all their
    versions; each new table version is the previous one without those keys plus their
    new rows (Parquet is not updated in place), all under one new build manifest. Every
    key is evaluated on the first build, on request (`full_refresh`), when the rules or
    the reporting currency changed, or when a referenced entity was rebuilt in full or
    more than once since (its changes cannot be traced then)."""
    for name in referenced_tables(ent):
        if not wh.register("mastered", name):
            raise RuntimeError(
                f"mastered.{name} does not exist yet; build it before mastered.{ent.name} "
                f"(its rules read it)"
            )
    wh.register("raw", ent.name, raw_ddl(ent))
    key = q(ent.key)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    previous = wh.build(ent.name)
    state = BuildState.of(wh, ent, reporting_currency, previous)
    plan = None if full_refresh else state.plan(wh, ent, previous)
    if plan is not None and not plan.batches and not plan.changed:
        wh.drop_unnamed(ent.name)  # what a killed build left, once past the retention
        return MasterStats.unchanged()
    cached: list[DataFrame] = []
    views = [INVALID, MULTI, "_ranked", "_evaluated", "_keys", "_was"]
    views += [changed_keys_table(name) for name in referenced_entities(ent)]
    try:
        source = versions_sql(ent)
        if plan is not None:
            keys = changed_keys(wh, ent, plan, reporting_currency).persist()
            cached.append(keys)
            if keys.isEmpty():  # referenced keys changed, none that this entity reads
                wh.restate(ent.name, state.doc(full=False, base=None))
                return MasterStats.unchanged()
            keys.createOrReplaceTempView("_keys")
            source = versions_sql(ent, "_keys")
        sql, params = evaluated_sql(ent, source, reporting_currency)
        evaluated = wh.sql(sql, params)
        # The keys with several versions, from the raw key column alone (a small job).
        multi = wh.sql(multi_sql(ent, source)).persist()
        cached.append(multi)
        multi.createOrReplaceTempView(MULTI)
        if multi.isEmpty():  # each key has one version: its rules are evaluated once, into
            evaluated.createOrReplaceTempView("_evaluated")  # the ranked cache, unwindowed
            ranked = wh.sql(single_ranked_sql())
        else:  # read twice (single and several versions): cached
            evaluated = evaluated.persist()
            cached.append(evaluated)
            evaluated.createOrReplaceTempView("_evaluated")
            ranked = wh.sql(ranked_sql(ent, MULTI))
        ranked = ranked.persist()
        cached.append(ranked)
        ranked.createOrReplaceTempView("_ranked")
        # Kept once, as on DuckDB: the three quarantine tables and the rule failure counts
        # read the few invalid versions instead of scanning every ranked version again.
        invalid = wh.sql(INVALID_SQL).persist()
        cached.append(invalid)
        invalid.createOrReplaceTempView(INVALID)
        frames = [
            wh.sql(mastered_select_sql(ent)),
            wh.sql(history_select_sql(ent)),
            wh.sql(rejects_select_sql(ent), [now]),
            wh.sql(pending_select_sql(ent), [now]),
            wh.sql(superseded_select_sql(ent), [now]),
        ]
        tables = build_tables(ent.name)
        changes = None
        if (
            plan is not None
        ):  # the previous version without the re-evaluated keys, plus their new rows
            for schema, name in tables:
                wh.register(schema, name)
            frames = [
                wh.sql(unchanged_rows_sql(schema, name, key)).unionByName(frame)
                for (schema, name), frame in zip(tables, frames, strict=True)
            ]
            was = f"select m.{key} from mastered.{q(ent.name)} m semi join _keys k using ({key})"
            wh.sql(was).createOrReplaceTempView("_was")
            frames[0] = frames[0].persist()  # read again for the changes below
            cached.append(frames[0])
            frames[0].createOrReplaceTempView("_now")
            views.append("_now")
            changes = wh.sql(
                f'select cast(k.{key} as varchar) as "key", '
                f"(w.{key} is null) <> (m.{key} is null) as presence_changed from _keys k "
                f"left join _was w on w.{key} = k.{key} left join _now m on m.{key} = k.{key}"
            )
        outputs = dict(zip(tables, frames, strict=True))
        wh.replace(ent.name, outputs, state.doc(full=plan is None, base=previous), changes)
        counts = wh.execute(EVALUATED_COUNTS_SQL).fetchone()
        failures = dict(wh.execute(RULE_FAILURES_SQL).fetchall())
    finally:
        for frame in reversed(cached):
            frame.unpersist()
        for view in views:
            wh.spark.catalog.dropTempView(view)
    return MasterStats("full" if plan is None else "incremental", *counts, failures)


def mastered_counts(wh: SparkWarehouse, ent: Entity) -> tuple[int, ...]:
    """Rows of mastered, rejects, pending corrections (and their keys) and history, as
    the current build left them (an incremental build's stats count what it evaluated)."""
    tables = build_tables(ent.name)
    for schema, name in tables:
        wh.register(schema, name)
    mastered, history, rejects, pending, _ = (f"{s}.{q(n)}" for s, n in tables)
    return wh.execute(
        f"select (select count(*) from {mastered}), (select count(*) from {rejects}),"
        f" (select count(*) from {pending}),"
        f" (select count(distinct {q(ent.key)}) from {pending}),"
        f" (select count(*) from {history})"
    ).fetchone()


def unchanged_rows_sql(schema: str, name: str, key: str) -> str:
    """The rows of a build's table whose key an incremental build does not re-evaluate."""
    return f"select p.* from {schema}.{q(name)} p anti join _keys k on p.{key} = k.{key}"


@dataclass(frozen=True)
class IncrementalPlan:
    """What an incremental build re-evaluates: new raw batches, referenced entities'
    changes tables ("entity" -> the folder of its changes in its current build)."""

    watermark: int
    batches: list[str]
    changed: dict[str, str]


@dataclass(frozen=True)
class BuildState:
    """What a build manifest records about its build ("state"), so the next build can be
    incremental: the newest raw batch it read, the rules' fingerprint, the builds of the
    referenced entities it read, whether it evaluated every key ("full") or only those in
    its changes folder ("changes"), and the build it replaced ("base")."""

    watermark: int  # the newest raw batch (ingest id) committed when the build started
    rules: str
    refs: dict[str, str]  # referenced entity -> its build (version) read

    @classmethod
    def of(
        cls, wh: SparkWarehouse, ent: Entity, reporting_currency: str, previous: dict | None
    ) -> BuildState:
        batches = wh.batches("raw", ent.name)
        watermark = int(batches[-1].removeprefix("batch=")) if batches else 0
        refs = {
            name: ((wh.build(name) or {}).get("build") or "none")
            for name in referenced_entities(ent)
        }
        return cls(watermark, rules_fingerprint(ent, reporting_currency), refs)

    def doc(self, *, full: bool, base: dict | None) -> dict:
        return {
            "watermark": self.watermark,
            "rules": self.rules,
            "refs": self.refs,
            "full": full,
            "base": (base or {}).get("build"),
        }

    def plan(
        self, wh: SparkWarehouse, ent: Entity, previous: dict | None
    ) -> IncrementalPlan | None:
        """What changed since the previous build; None when every key needs evaluating."""
        before = (previous or {}).get("state")
        tables = (previous or {}).get("tables", {})
        if (
            not before
            or before.get("rules") != self.rules
            or set(before.get("refs", {})) != set(self.refs)
            or any(f"{s}/{n}" not in tables for s, n in build_tables(ent.name))
        ):
            return None
        changed: dict[str, str] = {}
        for name, build in self.refs.items():
            seen = before["refs"][name]
            if seen == build:
                continue
            doc = wh.build(name) or {}
            ref_state = doc.get("state") or {}
            folder = ref_state.get("changes")
            # Traceable only over one incremental build of the referenced entity.
            if (
                not traceable_references(ent)
                or ref_state.get("full", True)
                or ref_state.get("base") != seen
            ):
                return None
            if seen == "none" or folder is None:
                return None
            changed[name] = f"{wh.root.rstrip('/')}/{folder}"
        watermark = int(before.get("watermark", 0))
        batches = [
            b for b in wh.batches("raw", ent.name) if int(b.removeprefix("batch=")) > watermark
        ]
        return IncrementalPlan(watermark, batches, changed)


def changed_keys(
    wh: SparkWarehouse, ent: Entity, plan: IncrementalPlan, reporting_currency: str
) -> DataFrame:
    """The keys an incremental build re-evaluates: those of the new raw batches (read
    from their folders alone), and those whose rows read a changed referenced key
    (`mastering.affected_keys_sql`, over each referenced entity's changes table)."""
    key = q(ent.key)
    raw = wh.table_path("raw", ent.name)
    frames = []
    if plan.batches:
        batches = [f"{raw}/{b}" for b in plan.batches]
        new = wh.read_folders(batches, schema=raw_ddl(ent), recursive=True)
        frames.append(new.select(ent.key))
    for name, folder in plan.changed.items():  # dropped by build_mastered
        changes = wh.read_folders([folder], schema=CHANGES_DDL)
        changes.createOrReplaceTempView(changed_keys_table(name))
    changed = dict.fromkeys(plan.changed, (0, 0))  # only which entities changed is read
    selects, params = affected_keys_sql(ent, changed, reporting_currency)
    if selects:
        frames.append(wh.sql(" union all ".join(selects), params))
    if not frames:
        return wh.spark.createDataFrame([], f"{key} STRING")
    out = functools.reduce(lambda a, b: a.unionByName(b), frames)
    return out.distinct()
