"""The catalog's declared columns as the `dagster/column_schema` its assets show."""

from collections.abc import Sequence

import dagster as dg

from fs_assets.catalog.graph_view import DeclaredColumn


def table_schema(columns: Sequence[DeclaredColumn]) -> dg.TableSchema:
    """Columns (name, type, description) as a Dagster TableSchema, in their order."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=c.name, type=c.type or "", description=c.description)
            for c in columns
        ]
    )
