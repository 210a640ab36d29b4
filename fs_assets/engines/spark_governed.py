"""The governed views on Spark: each role's masked table, from the same DuckDB SQL.

`fs_assets/defs/governed.py` resolves a role's view of an entity into one DuckDB
statement (the masks of `governance/operators.py`, the row filters of the policy file).
DuckDB keeps it as a view; here the same statement is transpiled (`portable.to_spark`)
and its rows are written as a Parquet table `governed/<view>/version-.../`, made current
by its own build manifest `_builds/governed.<view>.json` (publish.py), so a reader sees
the previous table or the next, never half of one. No policy is restated here.

The masking key. The keyed masks read the padded key with `getvariable('fs_mask_ipad')`
(DuckDB: session variables, masking_key.py). On Spark those two calls become columns of a
one-row frame built in this process and broadcast into the job (`KEY_VIEW`, a cross join
the statement gains), so the key travels as data: Spark's plans print a local relation's
columns, never its values, and nothing persists a view that names it. Only the masked
values are written; the key and its pads are not in any file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from fs_assets.engines.portable import read_tables, to_spark
from fs_assets.engines.spark_warehouse import SparkWarehouse, build_owner, register_tables
from fs_assets.transforms.governance import GOVERNED_SCHEMA
from fs_assets.transforms.governance.masking_key import INNER_VAR, OUTER_VAR, MaskingKey

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

KEY_VIEW = "_fs_mask_key"  # the one-row frame of the padded key, for one job only
KEY_VARS = (INNER_VAR, OUTER_VAR)


def governed_build(name: str) -> str:
    """The build manifest of one governed table: `_builds/governed.<view>.json`."""
    build = build_owner(GOVERNED_SCHEMA, name)
    assert build is not None
    return build


def _key_column(node: exp.Expression) -> exp.Expression:
    if (
        isinstance(node, exp.Anonymous)
        and node.name.lower() == "getvariable"
        and len(node.expressions) == 1
        and isinstance(node.expressions[0], exp.Literal)
        and node.expressions[0].this in KEY_VARS
    ):
        return exp.column(node.expressions[0].this, table=KEY_VIEW, quoted=True)
    return node


def spark_sql(select_sql: str) -> tuple[str, bool]:
    """The governed statement for Spark (DuckDB dialect, transpiled by `wh.sql`) and
    whether it reads the key: each `getvariable` of a pad becomes a column of `KEY_VIEW`,
    cross-joined to the FROM of the SELECT that reads it (the outermost one of a governed
    view; a CTE's in the page's customer list, page_data.customer_table)."""
    tree = sqlglot.parse_one(select_sql, read="duckdb")
    keyed = tree.transform(_key_column)
    if keyed == tree:
        return select_sql, False
    if not isinstance(keyed, exp.Select):
        raise ValueError("a governed statement is one SELECT")
    readers = {
        id(s): s
        for c in keyed.find_all(exp.Column)
        if c.table == KEY_VIEW and (s := c.parent_select) is not None
    }
    for select in readers.values():
        select.join(exp.to_table(KEY_VIEW), join_type="cross", copy=False)
    return keyed.sql(dialect="duckdb"), True


def key_frame(wh: SparkWarehouse, key: MaskingKey) -> DataFrame:
    """The padded key as a one-row frame, broadcast to the job's tasks."""
    from pyspark.sql import functions as F

    inner, outer = key.pads()
    schema = f"`{INNER_VAR}` BINARY, `{OUTER_VAR}` BINARY"
    return F.broadcast(wh.spark.createDataFrame([(bytearray(inner), bytearray(outer))], schema))


def governed_frame(wh: SparkWarehouse, select_sql: str, key: MaskingKey | None) -> DataFrame:
    """The rows of one governed statement, its sources registered (and the key's frame
    when it reads the key; without a key a keyed statement is refused)."""
    text, keyed = spark_sql(select_sql)
    register_tables(wh, read_tables(select_sql))
    if keyed:
        if key is None:
            raise ValueError("this governed view masks with the key: pass the masking key")
        key_frame(wh, key).createOrReplaceTempView(KEY_VIEW)
    return wh.sql(text)


def write_governed(wh: SparkWarehouse, name: str, select_sql: str, key: MaskingKey | None) -> int:
    """Write governed.<name> from its DuckDB statement as a new version and make it
    current (one manifest); the row count. The key's view is dropped afterwards."""
    try:
        frame = governed_frame(wh, select_sql, key)
        build = governed_build(name)
        wh.replace(build, {(GOVERNED_SCHEMA, name): frame})
    finally:
        wh.spark.catalog.dropTempView(KEY_VIEW)
    written = wh.read(GOVERNED_SCHEMA, name)
    assert written is not None  # replace() has just committed it
    return written.count()


def to_spark_sql(select_sql: str) -> str:
    """The Spark SQL text a governed statement runs as (tests, `explain`)."""
    return to_spark(spark_sql(select_sql)[0])
