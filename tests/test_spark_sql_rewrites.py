"""The Spark spellings of the governed and mart statements, checked without a Spark session.

What the engines' equality tests (tests/test_engines.py) cannot show cheaply: parameters
inside string literals are not parameters, a named parameter keeps its value when its
expression moves, DuckDB-only functions never reach Spark, and the masking key's session
variables become columns of the key's relation, never literals.
"""

from __future__ import annotations

import pytest

pytest.importorskip("sqlglot")

from fs_assets.engines.portable import read_tables
from fs_assets.engines.spark_governed import KEY_VIEW, spark_sql, to_spark_sql
from fs_assets.engines.spark_marts import named_parameters, spark_select
from fs_assets.transforms.governance.masking_key import INNER_VAR, OUTER_VAR
from fs_assets.transforms.marts.cross_sell import cross_sell_sql
from fs_assets.transforms.marts.features import features_sql

# DuckDB spellings Spark lacks or reads differently; none may survive the rewrite.
DUCKDB_ONLY = ("LIST_", "TO_DAYS", "LATERAL", "QUALIFY", "STRUCT_PACK", "GETVARIABLE", "?")


def test_a_question_mark_in_a_string_is_not_a_parameter() -> None:
    named, args = named_parameters("select '?' as q, x from t where a = ? and b = ?", [1, "b?"])
    assert named == "select '?' as q, x from t where a = :p0 and b = :p1"
    assert args == {"p0": 1, "p1": "b?"}
    with pytest.raises(ValueError, match="2 markers but 1 parameters"):
        named_parameters("select ? , ?", [1])


@pytest.mark.parametrize("build", [features_sql, cross_sell_sql], ids=["features", "cross_sell"])
def test_mart_statements_reach_spark_without_duckdb_only_spellings(build) -> None:
    sql, params = build()
    named, args = named_parameters(sql, params)
    text = spark_select(named)
    upper = text.upper()
    assert not [w for w in DUCKDB_ONLY if w in upper]
    assert not text.upper().startswith("CREATE")
    # Every parameter is still used, by name, after expressions moved.
    assert all(f":{name}" in text for name in args)
    assert ("mastered", "customer" if build is features_sql else "product") in read_tables(sql)
    assert ("marts", "customer_features") not in read_tables(features_sql()[0])


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
