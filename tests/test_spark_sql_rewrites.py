"""The Spark spellings of the governed and mart statements, checked without a Spark session.

What the engines' equality tests (tests/test_engines.py) cannot show cheaply: parameters
inside string literals are not parameters, a named parameter keeps its value when its
expression moves, DuckDB-only functions never reach Spark, and the masking key's session
variables become columns of the key's relation, never literals.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sqlglot")

import pyarrow as pa
import sqlglot
from sqlglot import exp

from fs_assets.engines.portable import read_tables
from fs_assets.engines.spark_governed import KEY_VIEW, spark_sql, to_spark_sql
from fs_assets.engines.spark_marts import named_parameters, spark_select
from fs_assets.identity.tables import CUSTOMER_IDENTITY, GOLDEN_CUSTOMER
from fs_assets.transforms.governance.masking_key import INNER_VAR, OUTER_VAR
from fs_assets.transforms.marts.cross_sell import cross_sell_sql
from fs_assets.transforms.marts.dashboards import funnel_sql, lead_sql, spend_sql
from fs_assets.transforms.marts.features import IdentityLink, features_sql
from fs_assets.transforms.marts.page_data import (
    CUSTOMERS_PER_CELL,
    PAGES,
    customer_table,
    page_data,
)
from fs_assets.transforms.marts.uplift import uplift_sql

# DuckDB spellings Spark lacks or reads differently; none may survive the rewrite.
DUCKDB_ONLY = (
    "LIST_",
    "TO_DAYS",
    "LATERAL",
    "QUALIFY",
    "STRUCT_PACK",
    "GETVARIABLE",
    "MATERIALIZED (",
    "?",
)


def test_a_question_mark_in_a_string_is_not_a_parameter() -> None:
    named, args = named_parameters("select '?' as q, x from t where a = ? and b = ?", [1, "b?"])
    assert named == "select '?' as q, x from t where a = :p0 and b = :p1"
    assert args == {"p0": 1, "p1": "b?"}
    with pytest.raises(ValueError, match="2 markers but 1 parameters"):
        named_parameters("select ? , ?", [1])


def linked_features_sql() -> tuple[str, list[object]]:
    """The features over the identity links and golden records (Spark builds them so once
    the identity assets have published those tables)."""
    return features_sql(IdentityLink(CUSTOMER_IDENTITY, "core", GOLDEN_CUSTOMER))


MART_STATEMENTS = [
    features_sql,
    linked_features_sql,
    cross_sell_sql,
    funnel_sql,
    lead_sql,
    spend_sql,
    uplift_sql,
]


@pytest.mark.parametrize("build", MART_STATEMENTS, ids=lambda f: f.__name__)
def test_mart_statements_reach_spark_without_duckdb_only_spellings(build) -> None:
    sql, params = build()
    named, args = named_parameters(sql, params)
    text = spark_select(named)
    upper = text.upper()
    assert not [w for w in DUCKDB_ONLY if w in upper]
    assert not text.upper().startswith("CREATE")
    # Every parameter is still used, by name, after expressions moved.
    assert all(f":{name}" in text for name in args)
    # Spark allows one generator per select, and no FILTER on a window aggregate.
    tree = sqlglot.parse_one(text, read="spark")
    assert not [w for w in tree.find_all(exp.Window) if isinstance(w.this, exp.Filter)]
    for select in tree.find_all(exp.Select):
        assert sum(isinstance(e.unalias(), exp.Explode) for e in select.expressions) <= 1
    assert read_tables(named), "reads warehouse tables"
    assert ("marts", "customer_features") not in read_tables(features_sql()[0])


def test_a_cast_parameter_is_a_parameter() -> None:
    """`?::varchar[]` is one token to sqlglot (its `?::` operator): still a marker."""
    named, args = named_parameters("select unnest(?::varchar[]) as a, ? as b", [["x"], 2])
    assert named == "select unnest(:p0::varchar[]) as a, :p1 as b"
    assert args == {"p0": ["x"], "p1": 2}


def test_side_by_side_unnests_are_zipped_as_duckdb_pads_them() -> None:
    """DuckDB unnests several lists of one select side by side (NULL past a shorter
    one): one `inline(arrays_zip(...))`, the aliases kept; a list's `len` is `size`."""
    text = spark_select(
        "select unnest(:p0::varchar[]) as stage, unnest(range(1, len(:p0::varchar[]) + 1))"
        " as stage_order"
    )
    assert text.upper().startswith("SELECT INLINE(ARRAYS_ZIP(")
    assert text.endswith("AS (stage, stage_order)") and "EXPLODE" not in text.upper()
    assert "SIZE(CAST(:p0 AS ARRAY<STRING>))" in text and "LENGTH(" not in text.upper()
    assert "SEQUENCE(CAST(1 AS BIGINT)" in text  # DuckDB's range is BIGINT, Spark's INT
    # One unnest stays an explode; a text's length stays a length.
    assert (
        spark_select("select unnest(x) as a, length(s) as n from t")
        .upper()
        .startswith("SELECT EXPLODE(X) AS A, LENGTH(S) AS N")
    )


def test_a_filtered_window_aggregate_becomes_a_case() -> None:
    """`max(x) filter (where p) over w`: `max(case when p then x end) over w`; a filter on
    a plain aggregate stays (Spark has it)."""
    text = spark_select(
        "select max(c) filter (where o = 'a') over (partition by k) as m,"
        " count(*) filter (where o = 'b') over () as n, count(*) filter (where f) as g"
        " from t group by all"
    )
    assert "MAX(CASE WHEN o = 'a' THEN c END) OVER (PARTITION BY k) AS m" in text
    assert "COUNT(CASE WHEN o = 'b' THEN 1 END) OVER () AS n" in text
    assert "COUNT(*) FILTER(WHERE f) AS g" in text


@pytest.mark.parametrize(
    "aggregate",
    ["arg_max(c, d)", "count(distinct c)", "list(c order by d)", "string_agg(c, ',')"],
)
def test_a_filtered_window_aggregate_of_another_meaning_is_refused(aggregate: str) -> None:
    """A CASE inside `arg_max(a, d)` would pick the row of the greatest `d` over every row
    and give NULL when it fails the filter: refused by name, never a silent other answer."""
    with pytest.raises(ValueError, match="no Spark spelling"):
        spark_select(f"select {aggregate} filter (where o = 'a') over (partition by k) from t")


def test_the_key_variables_become_columns_of_the_key_relation() -> None:
    pads = f"getvariable('{OUTER_VAR}') || getvariable('{INNER_VAR}')"
    sql = f"select sha256({pads}) as h from mastered.customer m"
    text, keyed = spark_sql(sql)
    assert keyed and KEY_VIEW in text and "getvariable" not in text.lower()
    spark = to_spark_sql(sql)
    assert f"`{KEY_VIEW}`.`{INNER_VAR}`" in spark and "CROSS JOIN" in spark.upper()
    # A statement without keyed masks reads no key.
    assert spark_sql("select cust_id from mastered.customer") == (
        "select cust_id from mastered.customer",
        False,
    )


def test_a_key_read_in_a_cte_joins_the_key_relation_there() -> None:
    """The page's customer list computes the token in a CTE: the key's relation is joined
    to that CTE's FROM (its columns are out of scope elsewhere), once per reading SELECT."""
    token = f"sha256(getvariable('{OUTER_VAR}') || cust_id)"
    sql = f"with t as (select {token} as h from marts.cross_sell) select g.x from t g"
    text, keyed = spark_sql(sql)
    tree = sqlglot.parse_one(text, read="duckdb")
    cte = tree.find(exp.CTE).this
    joined = [
        s
        for s in tree.find_all(exp.Select)
        if any(t.name == KEY_VIEW and t.parent_select is s for t in s.find_all(exp.Table))
    ]
    assert keyed and joined == [cte]


class _Recorder:
    """A page_data.PageSql that records each statement instead of running it."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[object]]] = []

    def rows(self, sql: str, params) -> pa.Table:
        self.statements.append((sql, list(params)))
        return pa.table({})

    def keep(self, name: str, sql: str, params) -> None:
        self.statements.append((sql, list(params)))

    def drop(self, name: str) -> None:
        pass

    def keyed(self) -> bool:
        return True


@pytest.mark.parametrize("slug", PAGES)
def test_page_statements_reach_spark_without_duckdb_only_spellings(slug: str) -> None:
    """Every statement of a page's filter data (cells, cubes, the keyed customer list), as
    spark_pages.py spells it: no DuckDB-only spelling, every parameter used, the key a
    column of its relation."""
    rec = _Recorder()
    page_data(rec, slug)
    assert len(rec.statements) >= 4
    keyed = []
    for sql, params in rec.statements:
        named, args = named_parameters(sql, params)
        text = spark_select(spark_sql(named)[0])
        assert not [w for w in DUCKDB_ONLY if w in text.upper()], text
        assert all(f":{name}" in text for name in args)
        keyed += [text] if KEY_VIEW in text else []
    assert len(keyed) == 1 and [CUSTOMERS_PER_CELL] in [p for _, p in rec.statements]


def test_the_spark_customer_list_is_refused_without_the_key() -> None:
    """Without a key the token cannot be computed: refused before any statement runs."""
    from fs_assets.engines.spark_pages import SparkPageSql

    with pytest.raises(RuntimeError, match="masking key"):
        customer_table(SparkPageSql(None, None, set()))  # type: ignore[arg-type]


def test_a_small_lookup_is_broadcast_by_the_select_that_joins_it() -> None:
    """The day's fx rate (one row per currency and day) carries Spark's BROADCAST hint on
    the select that joins it, in mastering and in the fx check alike, so the judged rows
    are not shuffled to meet it; the statement is otherwise the same, and a statement
    without it (the account's evaluation) gets no hint."""
    from fs_assets.engines.portable import to_spark
    from fs_assets.model.cross_entity import FX_LOOKUP, SMALL_LOOKUP_ALIASES, lookup_joins_sql
    from fs_assets.model.entities import ENTITIES
    from fs_assets.transforms.mastering import evaluated_sql, versions_sql

    assert {FX_LOOKUP.alias} == SMALL_LOOKUP_ALIASES  # not a customer's history, not accounts
    ent = ENTITIES["transaction"]
    joins, _ = lookup_joins_sql(ent, "t", "INR")
    statements = [evaluated_sql(ent, versions_sql(ent))[0], f"select t.* from x t {joins}"]
    for sql in statements:
        hinted = sqlglot.parse_one(to_spark(sql), read="spark")
        hints = list(hinted.find_all(exp.Hint))
        assert [h.sql(dialect="spark") for h in hints] == ["/*+ BROADCAST(_fx) */"]
        joined = [j.this.alias_or_name for j in hints[0].parent_select.args.get("joins", [])]
        assert "_fx" in joined
        hints[0].pop()  # the hint is the only difference
        assert hinted.sql(dialect="spark") == to_spark(sql).replace("/*+ BROADCAST(_fx) */ ", "")
    account = ENTITIES["account"]
    assert "/*+" not in to_spark(evaluated_sql(account, versions_sql(account))[0])


def test_a_hash_is_64_bits_on_spark_as_on_duckdb() -> None:
    """The reconciliation compares versions by their keys' hashes: DuckDB's `hash` is 64
    bits, Spark's `hash` 32 (Murmur3), so the Spark spelling is `xxhash64`, never `hash`."""
    from asset_checks.integrity_checks import reconciliation
    from fs_assets.engines.portable import to_spark
    from fs_assets.model.entities import ENTITIES

    class Capture:
        statements: list[str] = []

        def execute(self, sql: str, params: object = None) -> Capture:
            self.statements.append(sql)
            return self

        def fetchone(self) -> tuple[object, ...]:
            # The counts, both fingerprints differing; then the two anti-joins' counts.
            return (0,) * 7 if len(self.statements) == 1 else (0,)

    capture = Capture()
    reconciliation(capture, ENTITIES["transaction"])
    counts, unexplained, unrecorded = capture.statements
    # Every statement's versions (the CTEs: raw's newest 2, the later versions 3), then the
    # fingerprints (each hash sum 1, the explaining tables 3, raw 1, the recording tables
    # 4), the explaining tables' anti-joins (3), raw's versions and the recording tables'.
    ctes = 2 + 3
    hashes = {counts: ctes + 2 + 3 + 2 + 1 + 4, unexplained: ctes + 3, unrecorded: ctes + 1 + 4}
    for sql, expected in hashes.items():
        spark = to_spark(sql)
        assert sql.count("hash(") == spark.count("XXHASH64(") == expected
        assert "HASH(" not in spark.replace("XXHASH64(", "")


@pytest.mark.parametrize("hint", ["materialized", "not materialized"])
def test_a_ctes_materialized_hint_is_left_out_and_its_body_still_rewritten(hint: str) -> None:
    """DuckDB reads `as [not] materialized`; Spark refuses it. The body's warehouse tables
    still become their views."""
    from fs_assets.engines.portable import to_spark

    spark = to_spark(f"with s as {hint} (select x from mastered.t) select * from s, s s2")
    assert "MATERIALIZED" not in spark.upper()
    assert read_tables(f"with s as {hint} (select x from mastered.t) select 1") == [
        ("mastered", "t")
    ]
    assert "`mastered__t`" in spark
    sqlglot.parse_one(spark, read="spark")
