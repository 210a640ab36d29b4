"""Checks that tie the layers together: reconciliation, quarantine rate, landing health."""

from collections.abc import Iterator

import dagster as dg
import duckdb

from asset_checks.check_scope import FULL_SCOPE, CheckScope
from fs_assets.defs.keys import mastered_key, raw_key
from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import (
    LEDGER,
    ingest_rejects_table,
    mastered_table,
    pending_table,
    reconciled_tables,
    rejects_table,
)
from fs_assets.model.rules import q
from fs_assets.transforms.change_record import CHECK_MODE, CHECK_MODE_REASON, INCREMENTAL
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

# Above this share of keys rejected (no valid version), the data product is degraded.
MAX_REJECT_SHARE = 0.01


def reconciliation(conn, ent: Entity, scope: CheckScope = FULL_SCOPE) -> dict[str, int]:
    """Key counts across the layers; `conn` is DuckDB or a `SparkWarehouse` (portable SQL).

    Every raw key is mastered or rejected, never both; every key's newest raw version is
    its mastered row, a pending correction, or (a key with no valid version) its reject;
    every raw version is in the history (valid) or in quarantine (pending, rejected or
    superseded). A version is identified by its key, file and row.

    Incremental, every table is cut to the changed keys: each statement is about one key's
    raw versions and its rows in the five tables, and outside the change neither has moved
    (raw only grows, and only by versions of changed keys), so the table-wide counts match
    exactly when they match on the changed keys and matched before.

    A key's newest version needs a window (a sort) only when the key has several (or no
    key: the NULL keys are one partition, as in a window over all of raw); the others'
    one version is their newest. The keys are grouped once, for both the count and that
    split (10M transactions, most with one version: 35% less CPU than a window over all).
    A version is joined as three integers, not its key and path: the key's 64-bit hash
    (`hash`; `xxhash64` on Spark), the file's number among raw's files (one small table) and
    the row. A row whose key is NULL, or whose file raw lacks, gets a NULL and matches
    nothing, as before. A row naming another key in a version's file and row is caught
    unless the two keys' hashes collide (one chance in 2^64). Timed at 100M transaction
    versions under a 4 GB limit: 114 s joining the key and path, 82 s the key and the
    file's number, 55 s the three integers (10M versions: 4.8 s, 2.8 s).

    Both inclusions are proved by fingerprints first: two multisets of versions compared
    by their count and the sum of their versions' 64-bit hashes (streaming aggregates),
    and only when they differ is the anti-join run that counts the versions unaccounted
    for, exactly as it always was. Every raw version is in exactly one of history,
    pending, rejects and superseded, so in a sound warehouse raw's versions and theirs are
    equal. The newest versions with the explaining tables' versions that are nobody's newest
    (`later`: a mastered row whose key has a pending correction, a pending correction older
    than its key's newest raw version, both found from the few keys with pending
    corrections) are the explaining tables' versions. Equal multisets prove the inclusion
    whatever `later` holds; a version lost, counted twice or recorded as another changes
    the count or the sum unless 64-bit hashes cancel (one chance in 2^64, as for the keys'
    hashes). At 100M transaction versions (4 GB limit) the two anti-joins were 47 s of
    the statement's 108 s of operator time, and most of its 9.9 GB spilled.
    """
    key = q(ent.key)
    raw_rows, mastered_rows, reject_rows, pending_rows, history_rows, superseded_rows = (
        scope.rows(ent, t) for t in reconciled_tables(ent)
    )
    key_hash = f"case when {{a}}.{key} is not null then hash({{a}}.{key}) end as _key_hash"

    def numbered(alias: str) -> str:  # the join giving `alias`'s rows their file's number
        return f"left join files f on f._source_file = {alias}._source_file"

    def version(alias: str) -> str:  # a version's three integers
        return f"{key_hash.format(a=alias)}, f._file_id, {alias}._source_row"

    def versions_of(rows: str) -> str:
        return f"(select {version('x')} from {rows} x {numbered('x')})"

    def fingerprint(versions: list[str]) -> str:  # count and hash sum of versions' union
        rows = " union all ".join(f"select * from {v} as v" for v in versions)
        return (
            "select count(*) as n, sum(cast(hash(_key_hash, _file_id, _source_row) "
            f"as decimal(38, 0))) as h from ({rows}) as x"
        )

    def equal(a: list[str], b: list[str]) -> str:  # do two multisets of versions match
        return (
            f"(select count(*) = 1 from ({fingerprint(a)}) as a join ({fingerprint(b)}) as b "
            "on a.n = b.n and a.h is not distinct from b.h)"
        )

    same = "x._key_hash = n._key_hash and x._file_id = n._file_id and x._source_row = n._source_row"
    recorded_tables = (history_rows, pending_rows, reject_rows, superseded_rows)
    explaining_tables = (mastered_rows, pending_rows, reject_rows)

    def none_of(tables: tuple[str, ...]) -> str:  # `n` is a version of none of `tables`
        return " and ".join(
            f"not exists (select 1 from {versions_of(t)} x where {same})" for t in tables
        )

    order = "r._modified_ts desc, r._batch_id desc, r._source_row desc"

    def newest_of(keys: str) -> str:  # each key's newest raw version, of keys semi-joined
        return f"""select _key_hash, _file_id, _source_row from (
              select {version("r")},
                row_number() over (partition by r.{key} order by {order}) as _nth
              from {raw_rows} r {numbered("r")} semi join {keys}) as v
            where _nth = 1"""

    ctes = f"""files as (
            select _source_file, row_number() over (order by _source_file) as _file_id
            from (select distinct _source_file from {raw_rows}) as d),
        versions as (select {key}, count(*) as n from {raw_rows} group by {key}),
        multi as (select {key} from versions where n > 1 or {key} is null),
        newest as (
            select {version("r")} from {raw_rows} r {numbered("r")}
              anti join multi m on m.{key} = r.{key}
              where r.{key} is not null
            union all
            {newest_of(f"multi m on m.{key} is not distinct from r.{key}")}),
        later as (
            select {version("m")} from {mastered_rows} m {numbered("m")}
              semi join {pending_rows} p on p.{key} = m.{key}
            union all
            select p._key_hash, p._file_id, p._source_row from {versions_of(pending_rows)} p
              anti join ({newest_of(f"{pending_rows} k on k.{key} = r.{key}")}) as x
              on x._key_hash = p._key_hash and x._file_id = p._file_id
                and x._source_row = p._source_row)"""
    raw_keys, mastered, rejected, pending, both, explained, recorded = conn.execute(
        f"""with {ctes}
        select
          (select count({key}) from versions),
          (select count(*) from {mastered_rows}),
          (select count(*) from {reject_rows}),
          (select count(*) from {pending_rows}),
          (select count(*) from {mastered_rows} m
             semi join {reject_rows} r on r.{key} = m.{key}),
          {equal(["newest", "later"], [versions_of(t) for t in explaining_tables])},
          {equal([versions_of(raw_rows)], [versions_of(t) for t in recorded_tables])}"""
    ).fetchone()
    unexplained = unrecorded = 0
    if not explained:  # some newest version may be in none of the explaining tables
        (unexplained,) = conn.execute(
            f"with {ctes} select count(*) from newest n where {none_of(explaining_tables)}"
        ).fetchone()
    if not recorded:  # some raw version may be in none of the recording tables
        (unrecorded,) = conn.execute(
            f"with {ctes} select count(*) from {versions_of(raw_rows)} n "
            f"where {none_of(recorded_tables)}"
        ).fetchone()
    return {
        "raw_keys": raw_keys,
        "mastered_rows": mastered,
        "rejected_rows": rejected,
        "pending_corrections": pending,
        "keys_in_both": both,
        "newest_versions_unexplained": unexplained,
        "versions_unrecorded": unrecorded,
    }


def integrity_check_tables(ent: Entity) -> list[tuple[str, str]]:
    """The tables these checks read: raw, mastered and quarantine of the entity."""
    return [
        ("raw", ent.name),
        ("mastered", ent.name),
        ("quarantine", f"{ent.name}_rejects"),
        ("quarantine", f"{ent.name}_pending_corrections"),
        ("quarantine", f"{ent.name}_superseded_invalid"),
        ("mastered", f"{ent.name}_history"),
    ]


def integrity_check_specs(ent: Entity) -> list[dg.AssetCheckSpec]:
    asset = mastered_key(ent.name)
    return [
        dg.AssetCheckSpec(
            "reconciles_with_raw",
            asset=asset,
            blocking=True,
            description=(
                f"Every key of raw.{ent.name} is either mastered or rejected, never both, "
                "never lost (distinct raw keys = mastered rows + rejected rows), and every "
                "key's newest raw version is its mastered row, a pending correction or its "
                "reject; every raw version is in the history or in quarantine (pending, "
                "rejected or superseded)."
            ),
        ),
        dg.AssetCheckSpec(
            "quarantine_rate",
            asset=asset,
            description=(
                f"At most {MAX_REJECT_SHARE:.0%} of the {ent.name} keys are rejected; "
                "reports the rules broken and a sample of rejected keys."
            ),
        ),
        dg.AssetCheckSpec(
            "pending_corrections",
            asset=asset,
            description=(
                f"No {ent.name} has a pending correction (a newer version that breaks a rule "
                "while the last valid one stays mastered); a WARN naming the count, the "
                "rules and a sample of keys otherwise."
            ),
        ),
    ]


def evaluate_integrity_checks(
    conn, ent: Entity, selected: set[str], scope: CheckScope = FULL_SCOPE
) -> Iterator[dg.AssetCheckResult]:
    """quarantine_rate and pending_corrections read the small quarantine tables in full."""
    asset = mastered_key(ent.name)
    if "reconciles_with_raw" in selected:
        counts = reconciliation(conn, ent, scope)
        gap = counts["raw_keys"] - counts["mastered_rows"] - counts["rejected_rows"]
        yield dg.AssetCheckResult(
            check_name="reconciles_with_raw",
            asset_key=asset,
            passed=gap == 0
            and counts["keys_in_both"] == 0
            and counts["newest_versions_unexplained"] == 0
            and counts["versions_unrecorded"] == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={**counts, "unaccounted_keys": gap},
        )
    if "quarantine_rate" in selected:
        yield _quarantine_rate(conn, ent)
    if "pending_corrections" in selected:
        yield _pending_corrections(conn, ent)


def _pending_corrections(conn, ent: Entity) -> dg.AssetCheckResult:
    table = pending_table(ent)
    rows, keys = conn.execute(
        f"select count(*), count(distinct {q(ent.key)}) from {table}"
    ).fetchone()
    by_rule = dict(
        conn.execute(
            f"select r, count(*) from (select unnest(_failed_rules) as r from {table}) "
            "group by r order by 2 desc, 1"
        ).fetchall()
    )
    sample = [
        r[0]
        for r in conn.execute(
            f"select distinct {q(ent.key)} from {table} order by 1 limit 5"
        ).fetchall()
    ]
    return dg.AssetCheckResult(
        check_name="pending_corrections",
        asset_key=mastered_key(ent.name),
        passed=rows == 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{rows} pending corrections of {keys} {ent.name} keys in "
            f"quarantine.{ent.name}_pending_corrections; their last valid version stays mastered"
            if rows
            else f"no pending corrections of {ent.name}"
        ),
        metadata={
            "pending_corrections": rows,
            "keys_with_pending_correction": keys,
            "failed_by_rule": dg.MetadataValue.json(by_rule),
            "sample": dg.MetadataValue.json(sample),
        },
    )


def _quarantine_rate(conn, ent: Entity) -> dg.AssetCheckResult:
    mastered, rejected = conn.execute(
        f"select (select count(*) from {mastered_table(ent)}),"
        f" (select count(*) from {rejects_table(ent)})"
    ).fetchone()
    by_rule = dict(
        conn.execute(
            f"select r, count(*) from (select unnest(_failed_rules) as r "
            f"from {rejects_table(ent)}) group by r order by 2 desc"
        ).fetchall()
    )
    sample = [
        r[0]
        for r in conn.execute(
            f"select {q(ent.key)} from {rejects_table(ent)} order by 1 limit 5"
        ).fetchall()
    ]
    share = rejected / (mastered + rejected) if mastered + rejected else 0.0
    return dg.AssetCheckResult(
        check_name="quarantine_rate",
        asset_key=mastered_key(ent.name),
        passed=share <= MAX_REJECT_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rejected_rows": rejected,
            "reject_share": round(share, 6),
            "failed_by_rule": dg.MetadataValue.json(by_rule),
            "sample": dg.MetadataValue.json(sample),
        },
    )


def build_landing_check(ent: Entity) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(ent.name),
        name="landing_files_accepted",
        pool=WAREHOUSE_POOL,
        description=(
            "The latest ingestion read every new landing file and every row had a key and a "
            "timestamp; otherwise names the file, line and reason."
        ),
    )
    def _check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        event = context.instance.get_latest_materialization_event(raw_key(ent.name))
        run_id = event.run_id if event else None
        with warehouse.connect(read_only=True) as conn:
            rows = conn.execute(
                f"select file_name, status, rows_rejected, error, error_line from {LEDGER} "
                "where entity = ? and run_id = ? order by ingest_id",
                [ent.name, run_id],
            ).fetchall()
        rejected_files = [
            {"file": f, "line": line, "reason": err}
            for f, s, _, err, line in rows
            if s == "rejected"
        ]
        rejected_rows = sum(n or 0 for _, _, n, _, _ in rows)
        with warehouse.connect(read_only=True) as conn:
            first_row = (
                _first_ingest_reject(conn, ent, run_id) if rejected_rows and run_id else None
            )
        return dg.AssetCheckResult(
            passed=not rejected_files and rejected_rows == 0,
            severity=dg.AssetCheckSeverity.ERROR,
            description=_landing_failure(ent, rejected_files, rejected_rows, first_row),
            metadata={
                "files_seen": len(rows),
                "files_rejected": dg.MetadataValue.json(rejected_files),
                "rows_quarantined": rejected_rows,
                "run_id": run_id or "",
                # About the latest ingestion's files only: what changed, by construction.
                CHECK_MODE: INCREMENTAL,
                CHECK_MODE_REASON: "the files of the latest ingestion",
            },
        )

    return _check


def _first_ingest_reject(conn, ent: Entity, run_id: str) -> tuple | None:
    """The first row this run's ingestion quarantined: its file, row number and reason (None
    where the rejects are not in this file, as on the Spark engine: the count still fails)."""
    try:
        return conn.execute(
            f"select r._source_file, r._source_row, r._reason from {ingest_rejects_table(ent)} r "
            f"join {LEDGER} l on l.entity = ? and l.run_id = ? and l.path = r._source_file "
            "order by r._source_file, r._source_row limit 1",
            [ent.name, run_id],
        ).fetchone()
    except duckdb.CatalogException:
        return None


def _landing_failure(
    ent: Entity, rejected_files: list[dict], rejected_rows: int, first_row: tuple | None
) -> str | None:
    """What failed, the first file, line and reason, and what to do; None when nothing did."""
    parts = []
    if rejected_files:
        first = rejected_files[0]
        parts.append(
            f"{len(rejected_files)} file(s) rejected, first {first['file']!r} line "
            f"{first['line']}: {first['reason']} (moved to the landing folder's _rejected/ "
            "with a report; fix it and land it again)"
        )
    if rejected_rows:
        where = ingest_rejects_table(ent)
        first = f", first {first_row[0]!r} row {first_row[1]}: {first_row[2]}" if first_row else ""
        parts.append(f"{rejected_rows} row(s) quarantined in {where}{first}")
    return "; ".join(parts) or None


LANDING_CHECKS = [build_landing_check(e) for e in ENTITIES.values()]
