"""One SQL text for both engines: DuckDB SQL, transpiled to Spark SQL with sqlglot.

The transformations are written in DuckDB's dialect (the default engine runs them as they
are). `to_spark` parses such a statement with sqlglot and writes Spark SQL, with six
small, deliberate corrections to what sqlglot does out of the box:

1. QUALIFY is refused. sqlglot's Spark writer rewrites `... qualify <window> = 1` into a
   sub-select that re-emits the outer projection: for `select *` it leaks the helper
   column `_w`, and every `?` in the select list appears twice, so the positional
   parameters no longer line up. Spark itself gained QUALIFY only in 2026 (SPARK-31561;
   3.5 and 4.0 lack it). So the shared SQL filters a window in a subquery (`where
   _nth = 1`), and `to_spark` raises on a QUALIFY rather than emit a wrong query.
2. `regexp_full_match(x, p)` (RE2, whole string) becomes `x rlike '^(?:' || p || ')'` plus
   an end-of-input assertion. sqlglot passes the DuckDB name through and Spark has no
   such function; a bare `rlike p` would be a *partial* match, and Java's `$` also
   matches before a trailing newline, so `(?s:(?!.))` (nothing follows) is appended.
3. `try_strptime(x, layout)` becomes Spark's `try_to_timestamp(x, pattern)`, keeping
   years 0 to 9999 (what DuckDB's `%Y` reads; Spark's `y` reads more digits and a sign).
   The layout stays one `?` parameter, which the Spark engine binds as the translated
   pattern (`spark_formats.spark_params`). sqlglot writes `strftime` as DATE_FORMAT.
4. `hash(x)` (DuckDB: 64 bits) becomes `xxhash64(x)`; sqlglot keeps the name, and Spark's
   `hash` is 32-bit Murmur3, whose collisions a statement comparing hashes (the
   reconciliation) would take for equal values four billion times as often. A hash is
   only ever compared with another computed by the same engine.
5. Warehouse tables `raw.x`, `mastered.x`, `quarantine.x`, `governed.x`, `marts.x`
   become temporary views `raw__x`, ...: the Spark engine registers each Parquet table as
   such a view, so no catalog (and no path in SQL text) is needed.
6. `with x as [not] materialized (...)` loses the hint: DuckDB's planner reads it (a CTE
   read several times is kept whole unless told otherwise, and rereading a table can
   cost less than keeping 92M rows), Spark's parser refuses it and plans CTEs itself.

Portable spellings the shared SQL uses on purpose (each one is plain DuckDB too):
`array_length(l)` not `len(l)` (sqlglot maps `len` to string LENGTH), `cast(? as
timestamp)` not `?::timestamp` (sqlglot cannot parse a cast on a placeholder), and no
`row_number() over ()` without an order (Spark requires one; the engines number file rows
themselves).
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp

from fs_assets.model.cross_entity import SMALL_LOOKUP_ALIASES

WAREHOUSE_SCHEMAS = ("raw", "mastered", "quarantine", "governed", "marts")
# Java regex: "nothing follows", unlike `$`, which also matches before a final newline.
_END_OF_INPUT = "(?s:(?!.))"
# try_strptime on Spark: one `?` (the layout) in one place, so parameters stay in order.
_PARSED_IN_RANGE = sqlglot.parse_one(
    "try_element_at(filter(array(try_to_timestamp(_text, _layout)), "
    "_ts -> year(_ts) between 0 and 9999), 1)",
    read="spark",
)


def view_name(schema: str, name: str) -> str:
    """The Spark temporary view standing for the warehouse table schema.name."""
    return f"{schema}__{name}"


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Table) and node.db in WAREHOUSE_SCHEMAS and not node.catalog:
        view = exp.Table(this=exp.to_identifier(view_name(node.db, node.name), quoted=True))
        if node.alias:
            view.set("alias", node.args["alias"].copy())
        return view
    if isinstance(node, exp.RegexpFullMatch):
        anchored = exp.Concat(
            expressions=[
                exp.Literal.string("^(?:"),
                node.expression.copy(),
                exp.Literal.string(")" + _END_OF_INPUT),
            ]
        )
        return exp.RegexpLike(this=node.this.copy(), expression=anchored)
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)  # in place: a new node's body would not be rewritten
        return node
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        return exp.Anonymous(this="xxhash64", expressions=[e.copy() for e in node.expressions])
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime":
        text, layout = (e.copy() for e in node.expressions)
        slots = {"_text": text, "_layout": layout}
        return _PARSED_IN_RANGE.copy().transform(
            lambda n: slots[n.name] if isinstance(n, exp.Column) and n.name in slots else n
        )
    return node


@functools.lru_cache(maxsize=512)
def to_spark(sql: str) -> str:
    """The Spark SQL for one DuckDB statement (`?` parameters stay positional)."""
    return tree_to_spark(sqlglot.parse_one(sql, read="duckdb"))


def _hint_small_lookups(tree: exp.Expression) -> exp.Expression:
    """Each select that joins a lookup small at any data size (`SMALL_LOOKUP_ALIASES`: the
    day's fx rates) gets Spark's BROADCAST hint naming it. Spark estimates a join's size
    as the product of its sides, so it would shuffle and sort every judged row to meet a
    few thousand rates; DuckDB needs no hint and has none."""
    found: dict[exp.Select, list[str]] = {}
    for join in tree.find_all(exp.Join):
        alias, select = join.this.alias_or_name, join.parent_select
        if alias in SMALL_LOOKUP_ALIASES and select is not None:
            found.setdefault(select, []).append(alias)
    for select, names in found.items():
        hint = exp.Anonymous(this="BROADCAST", expressions=[exp.to_identifier(n) for n in names])
        select.set("hint", exp.Hint(expressions=[hint]))
    return tree


def tree_to_spark(tree: exp.Expression) -> str:
    """The Spark SQL for one parsed DuckDB statement (see `to_spark`)."""
    if tree.find(exp.Qualify):
        raise ValueError(
            "QUALIFY does not transpile safely to Spark (see fs_assets/engines/portable.py); "
            "filter the window in a subquery"
        )
    return _hint_small_lookups(tree.transform(_rewrite)).sql(dialect="spark")


def read_tables(sql: str) -> list[tuple[str, str]]:
    """The warehouse tables (schema, name) a DuckDB statement reads, in order (not the
    one a `create ... as` writes): what the Spark engine registers before running it."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if isinstance(tree, exp.Create):
        tree = tree.expression
    found = [(t.db, t.name) for t in tree.find_all(exp.Table) if t.db in WAREHOUSE_SCHEMAS]
    return list(dict.fromkeys(found))
