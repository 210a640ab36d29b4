"""customer_by_region on Spark: the Hive layout `country=<c>/state=<s>/`, one version
folder per partition, named by one manifest committed last."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from fs_assets.engines.publish import POINTER, new_version
from fs_assets.engines.spark_warehouse import STAGING, SparkWarehouse
from fs_assets.model.entities import CUSTOMER


def write_partitions(
    wh: SparkWarehouse,
    pairs: list[tuple[str, str]],
    select_sql: str,
    export_name: str,
    landing_prefixes: list[str] | None = None,
) -> dict[tuple[str, str], int]:
    """Replace exactly these (country, state) folders of the Hive layout; rows per pair.

    `select_sql` is the regional asset's own selection (mastered customers of `_pairs`).
    Spark writes all pairs in one job to a staging folder; each pair's folder is then
    renamed into `<root>/<export_name>/country=<c>/state=<s>` (named by the values
    themselves, like the DuckDB export), and pairs without rows lose their folder.
    `_source_file` is written relative to the landing folder (`landing_prefixes`, as
    `regional.landing_prefixes` gives them), a file outside it by its name only.
    """
    if not wh.register("mastered", CUSTOMER.name):
        raise RuntimeError("mastered.customer does not exist yet; build it first")
    wh.spark.createDataFrame(pairs, "country STRING, state STRING").createOrReplaceTempView(
        "_pairs"
    )
    root = f"{wh.root.rstrip('/')}/{export_name}"
    staging, version = f"{root}/{STAGING}/{uuid.uuid4().hex}", new_version()
    partition_folders(wh, root)  # refuses a layout without a manifest before any work
    written: dict[tuple[str, str], str] = {}
    try:
        wh.sql(select_sql).withColumn(
            "_source_file", _relative_source(landing_prefixes or [])
        ).write.partitionBy("country", "state").parquet(staging)
        staged = wh.read_folders([staging])
        rows = {(r[0], r[1]): r[2] for r in staged.groupBy("country", "state").count().collect()}
        # Each pair's rows become a new version folder inside its partition folder; the
        # old one stays (readers may be scanning it) until the manifest stops naming it.
        for country_dir in wh._children(staging):
            if not country_dir.startswith("country="):
                continue
            for state_dir in wh._children(f"{staging}/{country_dir}"):
                if not state_dir.startswith("state="):
                    continue
                country = unquote(country_dir.removeprefix("country="))
                state = unquote(state_dir.removeprefix("state="))
                folder = f"country={country}/state={state}/{version}"
                wh._rename(f"{staging}/{country_dir}/{state_dir}", f"{root}/{folder}")
                written[(country, state)] = folder
        current = commit_partitions(wh, root, pairs, written)
    finally:
        wh.delete(staging)
        wh.spark.catalog.dropTempView("_pairs")
    for country, state in pairs:
        kept = current.get((country, state), "").rsplit("/", 1)[-1]
        wh.drop_expired(f"{root}/country={country}/state={state}", {kept})
    return {p: rows.get(p, 0) for p in pairs}


def commit_partitions(
    wh: SparkWarehouse,
    root: str,
    pairs: Iterable[tuple[str, str]],
    written: dict[tuple[str, str], str],
) -> dict[tuple[str, str], str]:
    """Make `written` the current folders of `pairs` in the layout's manifest (a pair
    not written loses its entry: it has no rows now); every other entry is kept.

    The manifest is read, changed and replaced under the layout's lock, so two writers of
    different partitions at once both keep their entries (a read at the start of the
    Spark job would lose the one that commits first). Returns the manifest committed."""
    with wh.manifest_lock(root):
        current = {
            (c, s): folder for c, s, folder in (wh.read_pointer(root) or {}).get("partitions", [])
        }
        for pair in pairs:
            current.pop(pair, None)
        current.update(written)
        doc = {"partitions": sorted([c, s, f] for (c, s), f in current.items())}
        wh.commit_doc(f"{root}/{POINTER}", doc)
    return current


def partition_folders(wh: SparkWarehouse, root: str) -> dict[tuple[str, str], str]:
    """The regional layout's manifest: (country, state) -> its current folder, relative."""
    doc = wh.read_pointer(root) or {}
    if (
        "partitions" not in doc
        and wh.exists(root)
        and any(n.startswith("country=") for n in wh._children(root))
    ):
        raise RuntimeError(
            f"{root} holds partition folders but no {POINTER} manifest (a layout written "
            "before versioned publish); delete the folder and materialize customer_by_region "
            "for every partition again"
        )
    return {(c, s): folder for c, s, folder in doc.get("partitions", [])}


def _relative_source(prefixes: list[str]) -> Any:
    """`_source_file` without the landing folder (literal prefixes, not patterns)."""
    from pyspark.sql import functions as F

    col = F.col("_source_file")
    expr = F.regexp_extract(col, r"[^/]*$", 0)
    for prefix in reversed(prefixes):
        expr = F.when(col.startswith(prefix), col.substr(len(prefix) + 1, 1 << 20)).otherwise(expr)
    return expr
