"""The marts on Spark, from the same DuckDB statements as on DuckDB.

Each mart (features.py, cross_sell.py, dashboards.py, uplift.py) is one DuckDB
statement, a `create or replace table marts.<name> as select`. Here its SELECT is
transpiled to Spark (`portable.to_spark`) and written as a Parquet table
`marts/<name>/version-.../`, made current by its build manifest `_builds/marts.<name>.json`
(publish.py). The dashboards' KPIs and charts read these small results through
`TableReader` (DuckDB SQL, transpiled); no rule is restated here.

Before `to_spark`, the statement's DuckDB-only list and struct spellings are rewritten
into functions Spark has, each with DuckDB's meaning (`_spark_spelling`): 1-based list
access that is NULL out of range, a position that is NULL when absent, `list(distinct x
order by x)`, `date_diff('day', ...)` counting calendar days, `to_days`, `arg_max` over a
tuple, `x in (select unnest(list))`, and the lateral `unnest(list_max([...]))` that picks
a row's largest struct (Spark: `array_max` of the structs, read field by field). QUALIFY
(refused by `to_spark` for shared SQL) is expanded by sqlglot here, where no select list
of a qualified query uses `*` or a parameter. Positional `?` parameters become named ones
first (`:p0`, ...), so moving an expression cannot misalign them. Also rewritten:
DuckDB's `len(list)` (Spark's `size`), several `unnest`s side by side in one select
(`inline(arrays_zip(...))`: Spark allows one generator per select) and an aggregate's
FILTER inside a window (a CASE in its argument: Spark refuses FILTER there).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp, transforms
from sqlglot.tokens import TokenType

from fs_assets.engines.portable import read_tables, tree_to_spark, view_name
from fs_assets.engines.spark_warehouse import SparkCursor, SparkWarehouse, register_tables
from fs_assets.model.keys import MARTS_SCHEMA

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

_MARKERS = (TokenType.PLACEHOLDER, TokenType.QDCOLON)
PARAM = "p"  # named parameters :p0, :p1, ... in the order of the `?` they replace


def named_parameters(sql: str, params: Sequence[object]) -> tuple[str, dict[str, object]]:
    """The statement with each `?` token (never one inside a string) as `:p<i>`."""
    tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(sql)
    # `?::type` is one token to sqlglot (its `?::` operator): its `?` is a marker too.
    marks = [t.start for t in tokens if t.token_type in _MARKERS]
    if len(marks) != len(params):
        raise ValueError(f"{len(marks)} markers but {len(params)} parameters")
    out, last = [], 0
    for i, start in enumerate(marks):
        out += [sql[last:start], f":{PARAM}{i}"]
        last = start + 1
    out.append(sql[last:])
    return "".join(out), {f"{PARAM}{i}": v for i, v in enumerate(params)}


def _fn(name: str, *args: exp.Expression) -> exp.Expression:
    """A Spark function call sqlglot leaves as written."""
    return exp.Anonymous(this=name, expressions=[a.copy() for a in args])


def _lateral_max(node: exp.Lateral) -> tuple[str, exp.Expression] | None:
    """`lateral (select unnest(list_max([struct_pack(...), ...]))) as alias`: (alias, the
    largest struct as Spark computes it); None for any other lateral."""
    unnest = node.find(exp.Explode, exp.Unnest)
    arg = None
    if isinstance(unnest, exp.Explode):
        arg = unnest.this
    elif unnest is not None and unnest.expressions:
        arg = unnest.expressions[0]
    if not isinstance(arg, exp.ArrayMax) or not node.alias:
        return None
    return node.alias, exp.ArrayMax(this=arg.this.copy())


def _element(values: exp.Expression, index: exp.Expression) -> exp.Expression:
    """DuckDB's 1-based `list[i]`: NULL out of range (Spark's index is an INT)."""
    return _fn("try_element_at", values, exp.cast(index.copy(), "int"))


def _zipped_unnests(node: exp.Expression) -> exp.Expression:
    """DuckDB's `select unnest(a) as x, unnest(b) as y`, which unnests the lists side by
    side (a shorter one padded with NULL): Spark allows one generator per select, so
    `select inline(arrays_zip(a, b)) as (x, y)`, which pads alike."""
    if not isinstance(node, exp.Select) or len(node.expressions) < 2:
        return node
    items = node.expressions
    if not all(isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) for e in items):
        return node
    zipped = _fn("arrays_zip", *(e.this.this for e in items))
    names = [exp.to_identifier(e.alias) for e in items]
    node.set("expressions", [exp.Aliases(this=_fn("inline", zipped), expressions=names)])
    return node


def _is_list(node: exp.Expression) -> bool:
    return isinstance(node, exp.Array) or (
        isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.ARRAY)
    )


# Aggregates of one argument that skip nulls: a FILTER is a CASE inside them.
NULL_SKIPPING_AGGREGATES = (exp.Count, exp.Sum, exp.Min, exp.Max, exp.Avg)


def _unfiltered_window(node: exp.Window) -> exp.Expression:
    """`agg(x) filter (where p) over (...)`, which Spark refuses for a window, as
    `agg(case when p then x end) over (...)` (`count(*)`: of `case when p then 1 end`).

    Equal only for an aggregate of one plain argument that skips nulls (count, sum, min,
    max, avg); any other (`arg_max(a, d)`, `count(distinct a)`, ...) would silently mean
    something else, so it is refused by name."""
    agg, where = node.this.this, node.this.expression.this
    arg = agg.this
    if (
        not isinstance(agg, NULL_SKIPPING_AGGREGATES)
        or isinstance(arg, exp.Distinct)
        or any(v for k, v in agg.args.items() if k not in ("this", "big_int"))
    ):
        raise ValueError(
            f"{agg.sql('duckdb')} FILTER (WHERE ...) OVER (...) has no Spark spelling of the "
            "same meaning here: write it as a CASE inside the aggregate in the mart's SQL"
        )
    value = exp.Literal.number(1) if arg is None or isinstance(arg, exp.Star) else arg
    agg = agg.copy()
    agg.set("this", exp.Case(ifs=[exp.If(this=where.copy(), true=value.copy())]))
    node = node.copy()
    node.set("this", agg)
    return node


def _spark_spelling(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Window) and isinstance(node.this, exp.Filter):
        return _unfiltered_window(node)
    if isinstance(node, exp.GenerateSeries) and not isinstance(node.args["start"], exp.Cast):
        # A new node's children are not visited again: rewrite the bounds first.
        bounds = {
            k: exp.cast(node.args[k].copy().transform(_spark_spelling), "bigint")
            for k in ("start", "end")
        }
        return exp.GenerateSeries(**{**node.args, **bounds})  # DuckDB's range is BIGINT
    if isinstance(node, exp.Length) and _is_list(node.this):
        return _fn("size", node.this)  # DuckDB's len(list); Spark's length is of text
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        return _element(node.this, node.expressions[0])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_extract":
        return _element(*node.expressions)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "list_position":
        return exp.Nullif(
            this=_fn("array_position", *node.expressions), expression=exp.Literal.number(0)
        )
    if isinstance(node, exp.ToDays):
        return _fn("make_dt_interval", node.this)
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, (exp.Distinct, exp.Order)):
        inner = node.this.this if isinstance(node.this, exp.Order) else node.this
        values = inner.expressions[0] if isinstance(inner, exp.Distinct) else inner
        return _fn("array_sort", _fn("collect_set", values))
    if isinstance(node, exp.DateDiff) and node.text("unit").lower() in ("day", "'day'"):
        start, end = (exp.cast(e.copy(), "date") for e in (node.expression, node.this))
        return _fn("datediff", end, start)
    if isinstance(node, exp.ArgMax | exp.ArgMin) and isinstance(node.expression, exp.Tuple):
        return node.__class__(
            this=node.this.copy(), expression=_fn("struct", *node.expression.expressions)
        )
    if isinstance(node, exp.In) and (query := node.args.get("query")) is not None:
        select = query.this if isinstance(query, exp.Subquery) else query
        if isinstance(select, exp.Select) and isinstance(select.expressions[0], exp.Explode):
            return _fn("array_contains", select.expressions[0].this, node.this)
    return node


def spark_select(create_sql: str) -> str:
    """The Spark SQL of the SELECT of a mart's `create ... as select` (DuckDB SQL)."""
    tree = sqlglot.parse_one(create_sql, read="duckdb")
    select = tree.expression if isinstance(tree, exp.Create) else tree
    for lateral in list(select.find_all(exp.Lateral)):
        found = _lateral_max(lateral)
        if found is None:
            continue
        alias, largest = found
        join = lateral.parent
        (join if isinstance(join, exp.Join) else lateral).pop()
        for col in list(select.find_all(exp.Column)):
            if col.table == alias:
                col.replace(exp.Dot(this=largest.copy(), expression=exp.to_identifier(col.name)))
    select = select.transform(_spark_spelling).transform(_zipped_unnests)
    return tree_to_spark(select.transform(transforms.eliminate_qualify))


def mart_frame(wh: SparkWarehouse, create_sql: str, params: Sequence[object]) -> DataFrame:
    """The rows of one mart statement on Spark, the warehouse tables it reads registered."""
    named, args = named_parameters(create_sql, params)
    register_tables(wh, read_tables(named))
    return wh.spark.sql(spark_select(named), args=args)


class TableReader:
    """DuckDB SQL over the Spark warehouse: each statement's tables are exposed (as
    temporary views) before it runs; `views` collects their names for the engine to drop."""

    def __init__(self, wh: SparkWarehouse, views: set[str]) -> None:
        self.wh = wh
        self.views = views

    def execute(self, sql: str, params: Sequence[object] | None = None) -> SparkCursor:
        tables = read_tables(sql)
        register_tables(self.wh, tables)
        self.views.update(view_name(s, n) for s, n in tables)
        return self.wh.execute(sql, params)


def write_mart(
    wh: SparkWarehouse,
    name: str,
    create_sql: str,
    params: Sequence[object],
    *,
    summary: bool = False,
) -> int:
    """Write marts.<name> from its statement as a new version behind its manifest; rows.

    `summary`: a small table whose row order is part of it (a dashboard's figures, in
    the order its charts list them). Its rows are collected and written as one file in
    that order: a folder of several files has no order a reader could follow.
    """
    frame = mart_frame(wh, create_sql, params)
    if summary:
        frame = wh.spark.createDataFrame(frame.collect(), frame.schema).coalesce(1)
    wh.replace(f"{MARTS_SCHEMA}.{name}", {(MARTS_SCHEMA, name): frame})
    written = wh.read(MARTS_SCHEMA, name)
    assert written is not None  # replace() has just committed it
    return written.count()
