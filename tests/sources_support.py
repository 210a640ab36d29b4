"""Shared test set-up for the source systems and the Spark engine: a landing folder of
core customers with the generated CRM and card-platform files, and a small local Spark
warehouse."""

from __future__ import annotations

import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from fs_assets.engines import spark_warehouse as sw
from fs_assets.generator import generate_landing
from fs_assets.generator.sources import generate_sources
from fs_assets.model.entities import CUSTOMER

# Two partitions: the tests' tables are tiny, and the machine has two cores.
SPARK_TEST_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}


def sources_landing(
    out: Path, customers: int, seed: int, keep: Collection[str] = (CUSTOMER.name,)
) -> Path:
    """`out` with the core customer files (and those of the other entities in `keep`),
    then the other sources' files and the truth file generated from them."""
    generate_landing(out, customers=customers, seed=seed)
    for folder in out.iterdir():
        if folder.name not in {CUSTOMER.name, *keep}:
            shutil.rmtree(folder)
    generate_sources(out, seed=seed)
    return out


@contextmanager
def local_spark_warehouse(home: Path) -> Iterator[sw.SparkWarehouse]:
    """A warehouse under `home` on `local[2]`, Spark's log quiet but for errors."""
    with sw.spark_warehouse(
        str(home / "warehouse"), home / "control.duckdb", master="local[2]", conf=SPARK_TEST_CONF
    ) as wh:
        wh.spark.sparkContext.setLogLevel("ERROR")
        yield wh
