"""Freshness of the data itself: how old is the newest ingested version in mastered.

Dagster's FreshnessPolicy on the mastered assets (see fs_assets/defs/mastered.py) says
when a table was last rebuilt; this check says whether the rebuild brought anything new,
from the `_ingested_at` of the newest mastered row, so a pipeline that runs every hour on
a landing zone that stopped receiving files still warns.
"""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from fs_assets.defs.keys import mastered_key
from fs_assets.defs.mastered import MAX_AGE
from fs_assets.model.columns import Entity
from fs_assets.model.keys import mastered_table


def duration(age: dt.timedelta) -> str:
    """A duration as a person reads it: '45 s', '12 min', '3 h 12 min', '24 h', '4 d 2 h'."""
    seconds = int(abs(age).total_seconds())
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds} s"
    if hours < 1:
        return f"{minutes} min"
    if hours < 72:
        rest = minutes % 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours % 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def freshness_text(age: dt.timedelta | None) -> str:
    """What the check saw, in words: the age of the newest ingestion against the limit."""
    limit = f"limit {duration(MAX_AGE)}"
    if age is None:
        return f"nothing ingested yet, {limit}"
    if age < dt.timedelta(0):
        return f"newest ingestion {duration(age)} in the future (clock skew?), {limit}"
    return f"newest ingestion {duration(age)} ago, {limit}"


def freshness_check_tables(ent: Entity) -> list[tuple[str, str]]:
    """The table this check reads."""
    return [("mastered", ent.name)]


def freshness_check_specs(ent: Entity) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "data_freshness",
            asset=mastered_key(ent.name),
            description=(
                f"The newest mastered {ent.name} row was ingested within the last "
                f"{duration(MAX_AGE)} (a warning when older)."
            ),
        )
    ]


def evaluate_freshness_check(
    conn, ent: Entity, selected: set[str]
) -> Iterator[dg.AssetCheckResult]:
    """`conn`: DuckDB or the Spark engine's `SparkWarehouse`; `_ingested_at` is naive UTC
    on both (Spark keeps it as TIMESTAMP_NTZ), so the age is comparable with UTC now."""
    if "data_freshness" not in selected:
        return
    newest = conn.execute(f"select max(_ingested_at) from {mastered_table(ent)}").fetchone()[0]
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    age = (now - newest) if newest else None
    yield dg.AssetCheckResult(
        check_name="data_freshness",
        asset_key=mastered_key(ent.name),
        passed=age is not None and age <= MAX_AGE,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness_text(age),
        metadata={
            "newest_ingested_at": str(newest) if newest else "never",
            "age_hours": round(age.total_seconds() / 3600, 2) if age is not None else -1.0,
            "max_age_hours": MAX_AGE.total_seconds() / 3600,
        },
    )
