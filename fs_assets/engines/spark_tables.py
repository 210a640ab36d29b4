"""The Spark warehouse's current tables, as its manifests name them (the catalog's input).

A table of the Spark engine is not a folder but what a manifest names (publish.py): the
batches `raw/<entity>/_CURRENT` lists (as the ingest ledger commits them), the version
folder a build manifest `_builds/<build>.json` names (mastered, history, quarantine,
governed, marts), and the partition folders of the Hive layout's `_CURRENT` (the table
mastered.customer_by_region). `current_tables` lists them with those folders, so a reader
(the catalog scanner, an export) reads exactly the committed version and never a
half-written one; the folders also identify the content: a version folder is never
rewritten, so the same folders mean the same rows (`CurrentTable.fingerprint`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fs_assets.engines.publish import BUILDS, current_build, local_path
from fs_assets.engines.spark_warehouse import SparkWarehouse, batch_tables, build_owner
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.governance.export import ExportError
from fs_assets.transforms.landing_files import duckdb_literal_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MANIFEST_SUFFIX = ".json"
# The Hive layout is the table mastered.customer_by_region on Spark, its partition
# columns typed as in mastered.customer.
REGION_TABLE = ("mastered", "customer_by_region")


@dataclass(frozen=True)
class CurrentTable:
    """One table and the folders (relative to the root) its manifest names now."""

    schema: str
    name: str
    folders: tuple[str, ...]
    hive: bool = False  # the regional layout: partition folders, read with their keys

    @property
    def full_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def fingerprint(self) -> str:
        """The content's identity: the committed folders (written once, never changed)."""
        text = "\n".join(sorted(self.folders))
        return "folders:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _builds(wh: SparkWarehouse) -> list[str]:
    """Every build with a manifest: entities, `governed.<view>`, `marts.<name>`."""
    folder = f"{wh.root.rstrip('/')}/{BUILDS}"
    return sorted(
        n.removesuffix(MANIFEST_SUFFIX)
        for n in wh._children(folder)
        if n.endswith(MANIFEST_SUFFIX) and not n.startswith((".", "_"))
    )


def current_tables(wh: SparkWarehouse) -> list[CurrentTable]:
    """Every table of the Spark warehouse with its committed folders, by name."""
    found: dict[str, CurrentTable] = {}
    for ent in ENTITIES.values():
        for schema, name in batch_tables(ent):
            batches = wh.batches(schema, name)
            if batches:
                folders = tuple(f"{schema}/{name}/{b}" for b in batches)
                found[f"{schema}.{name}"] = CurrentTable(schema, name, folders)
    for build in _builds(wh):
        for table, folder in ((wh.build(build) or {}).get("tables") or {}).items():
            schema, name = table.split("/", 1)
            found[f"{schema}.{name}"] = CurrentTable(schema, name, (folder,))
    layout = wh.read_pointer(f"{wh.root.rstrip('/')}/{region_folder()}")
    if layout is not None:
        parts = tuple(f"{region_folder()}/{f}" for _, _, f in layout.get("partitions", []))
        found[".".join(REGION_TABLE)] = CurrentTable(*REGION_TABLE, parts, hive=True)
    return [found[n] for n in sorted(found)]


def region_folder() -> str:
    from fs_assets.transforms.regional import EXPORT_NAME

    return EXPORT_NAME


def read_current(wh: SparkWarehouse, table: CurrentTable) -> DataFrame:
    """The rows of `table` from exactly its named folders (never a folder listing)."""
    root = wh.root.rstrip("/")
    paths = [f"{root}/{f}" for f in table.folders]
    if table.hive:  # country and state from the folder names, typed as in the customer
        template = wh.read("mastered", CUSTOMER.name)
        if template is None:
            raise RuntimeError("mastered.customer does not exist in the Spark warehouse yet")
        if not paths:  # a layout whose manifest names no partition yet
            return wh.spark.createDataFrame([], template.schema)
        base = f"{root}/{region_folder()}"
        return wh.read_folders(paths, schema=template.schema, base=base)
    return wh.read_folders(paths, recursive=True)


def governed_parquet(root: str, view: str) -> list[str] | None:
    """The Parquet files of governed.<view>'s current version under a local `root`, as
    its build manifest names it (never a newer, half-written folder); None before its
    first build. A plain reader's way in: no SparkSession is started."""
    local = local_path(root)
    if local is None:
        raise ExportError(
            f"{root} is not a local path: an export reads the Spark tables through DuckDB, "
            "from a local (or mounted) warehouse root only"
        )
    build = build_owner(GOVERNED_SCHEMA, view)
    assert build is not None
    folder = current_build(local, build).get(f"{GOVERNED_SCHEMA}/{view}")
    if folder is None:
        return None
    # Listed here, each escaped: DuckDB globs a path, and a root may hold glob characters.
    files = sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and p.is_file())
    return [duckdb_literal_path(p) for p in files]
