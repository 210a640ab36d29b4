"""The adapter that turns Dagster's records into the lineage core's plain data loses nothing."""

from __future__ import annotations

import dagster as dg
from dagster._utils.error import SerializableErrorInfo

from fs_assets.catalog.graph_view import DeclaredColumn
from fs_assets.defs.asset_graph import plain, plain_metadata
from fs_assets.defs.lineage_source import error_info
from fs_assets.lineage.collect import error_text


def test_error_info_prints_as_dagster_prints_the_error() -> None:
    """The FAIL event's stack trace is the same text Dagster's error would give."""
    root = SerializableErrorInfo("ValueError: bad row\n", ["  File x, line 1\n"], "ValueError")
    during = SerializableErrorInfo("KeyError: 'k'\n", ["  File y, line 2\n"], "KeyError")
    error = SerializableErrorInfo(
        "Error occurred while executing op raw_customer:",
        ["  File z, line 3\n", "  File w, line 4\n"],
        "DagsterExecutionStepExecutionError",
        cause=root,
        context=during,
    )
    converted = error_info(error)
    assert converted is not None
    assert converted.to_string() == error.to_string()
    assert "Stack Trace" in converted.to_string() and "KeyError" in converted.to_string()
    assert error_text(converted) == (
        "Error occurred while executing op raw_customer: ValueError: bad row"
    )
    assert error_info(None) is None


def test_metadata_becomes_plain_values() -> None:
    """Column schemas become DeclaredColumns with their tags, column lineage tuple keys, the
    rest their values; nothing Dagster-typed reaches the core."""
    schema = dg.TableSchema(
        columns=[
            dg.TableColumn(
                "email", "VARCHAR", "E-mail.", tags={"pii": "TW.mask", "operator": "hash"}
            ),
            dg.TableColumn("age", "INTEGER", constraints=dg.TableColumnConstraints(nullable=False)),
        ]
    )
    lineage = dg.TableColumnLineage(
        deps_by_column={
            "email": [
                dg.TableColumnDep(asset_key=dg.AssetKey(["raw", "customer"]), column_name="email")
            ]
        }
    )
    meta = plain_metadata(
        {
            "dagster/column_schema": dg.MetadataValue.table_schema(schema),
            "dagster/column_lineage": lineage,
            "dagster/row_count": dg.MetadataValue.int(7),
            "path": dg.MetadataValue.path("/tmp/a b.yaml"),
        }
    )
    email, age = meta["dagster/column_schema"]
    assert email == DeclaredColumn(
        "email",
        "VARCHAR",
        "E-mail.",
        pii="TW.mask",
        nullable=True,  # Dagster's default constraint
        tags=(("pii", "TW.mask"), ("operator", "hash")),
    )
    assert email.tag("operator") == "hash" and age.nullable is False and age.pii is None
    assert meta["dagster/column_lineage"] == {"email": ((("raw", "customer"), "email"),)}
    assert meta["dagster/row_count"] == 7 and meta["path"] == "/tmp/a b.yaml"
    assert plain("text") == "text"
