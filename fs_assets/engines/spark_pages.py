"""A dashboard page's filter data on Spark, from the same statements as on DuckDB.

page_data.py writes each of a page's statements once (DuckDB SQL over the marts and the
governed view) and runs them through a `PageSql`. Here they run on Spark: transpiled with
the marts' rewrites (`spark_select`, `named_parameters`), each warehouse table they read
registered, every customer's cell kept as a temporary view (never collected), and only the
small results (cubes per filter cell, at most CUSTOMERS_PER_CELL customers per cell)
collected as Arrow to the Dagster machine for rendering.

The customer list reads the analyst's governed table Spark wrote (its values already
masked: one copy of the policy) and joins the cross-sell on the keyed token, which it
computes as spark_governed.py does: the padded key as columns of a one-row broadcast
frame (`KEY_VIEW`), never a literal in a plan or a file, dropped after the statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from fs_assets.engines.portable import read_tables, view_name
from fs_assets.engines.spark_governed import KEY_VIEW, key_frame, spark_sql
from fs_assets.engines.spark_marts import named_parameters, spark_select
from fs_assets.engines.spark_warehouse import SparkWarehouse, register_tables
from fs_assets.transforms.governance.masking_key import MaskingKey

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class SparkPageSql:
    """`page_data.PageSql` on the Spark warehouse, with the masking key for tokens."""

    def __init__(self, wh: SparkWarehouse, key: MaskingKey | None, views: set[str]) -> None:
        self.wh = wh
        self.key = key
        self.views = views  # temporary views registered: the engine drops them on close
        self._kept: dict[str, DataFrame] = {}

    def _frame(self, sql: str, params: Sequence[object]) -> DataFrame:
        named, args = named_parameters(sql, params)
        text, keyed = spark_sql(named)
        tables = read_tables(named)
        register_tables(self.wh, tables)
        self.views.update(view_name(s, n) for s, n in tables)
        if keyed:
            if self.key is None:
                raise ValueError("this statement computes keyed tokens: pass the masking key")
            key_frame(self.wh, self.key).createOrReplaceTempView(KEY_VIEW)
        return self.wh.spark.sql(spark_select(text), args=args)

    def rows(self, sql: str, params: Sequence[object]) -> pa.Table:
        """Collected as Arrow, ordered by every column with NULLs last (DuckDB's
        `order by all`; Spark puts NULLs first)."""
        try:
            table = self._frame(sql, params).toArrow()
        finally:
            self.wh.spark.catalog.dropTempView(KEY_VIEW)
        return table.sort_by([(c, "ascending", "at_end") for c in table.column_names])

    def keep(self, name: str, sql: str, params: Sequence[object]) -> None:
        """A temporary view of the rows, cached: every cube of the page reads them."""
        frame = self._frame(sql, params).persist()
        frame.createOrReplaceTempView(name)
        self._kept[name] = frame
        self.views.add(name)

    def drop(self, name: str) -> None:
        self.wh.spark.catalog.dropTempView(name)
        frame = self._kept.pop(name, None)
        if frame is not None:
            frame.unpersist()
        self.views.discard(name)

    def keyed(self) -> bool:
        return self.key is not None
