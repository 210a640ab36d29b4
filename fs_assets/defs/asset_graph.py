"""Dagster's asset graph and metadata as the plain view the catalog and lineage take.

The core reads definitions as `GraphView` (keys as tuples of strings, columns as
`DeclaredColumn`, metadata as plain values); this adapter makes it from Dagster's types.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from fs_assets.catalog.graph_view import AssetNodeInfo, CheckInfo, DeclaredColumn, GraphView
from fs_assets.catalog.tables import COLUMN_SCHEMA_KEY, TABLE_NAME_KEY, warehouse_table
from fs_assets.model.keys import KeyPath


def unwrap(value: Any) -> Any:
    """Metadata may be raw (TableSchema) or wrapped (TableSchemaMetadataValue)."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def key_path(key: dg.AssetKey) -> KeyPath:
    return tuple(key.path)


def columns_of(schema: dg.TableSchema) -> tuple[DeclaredColumn, ...]:
    return tuple(
        DeclaredColumn(
            name=c.name,
            type=c.type,
            description=c.description or "",
            pii=(c.tags or {}).get("pii"),
            nullable=c.constraints.nullable if c.constraints else None,
            tags=tuple((c.tags or {}).items()),
        )
        for c in schema.columns
    )


def plain(value: Any) -> Any:
    """One metadata value as plain data: a column schema as DeclaredColumns, column lineage
    as {column: ((upstream key path, column), ...)}, any other value unwrapped."""
    value = unwrap(value)
    if isinstance(value, dg.TableSchema):
        return columns_of(value)
    if isinstance(value, dg.TableColumnLineage):
        return {
            column: tuple((key_path(d.asset_key), d.column_name) for d in deps)
            for column, deps in value.deps_by_column.items()
        }
    return value


def plain_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {k: plain(v) for k, v in metadata.items()}


def table_of(metadata: Mapping[str, Any]) -> str | None:
    """'warehouse.mastered.customer' -> 'mastered.customer'; None when not a warehouse table."""
    return warehouse_table(unwrap(metadata.get(TABLE_NAME_KEY)))


def graph_view(graph: BaseAssetGraph) -> GraphView:
    """The assets (key, description, owners, group, parents, table, columns) and checks."""
    nodes = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        metadata = plain_metadata(node.metadata)
        columns = metadata.get(COLUMN_SCHEMA_KEY)
        nodes.append(
            AssetNodeInfo(
                key=key_path(key),
                description=node.description or "",
                owners=tuple(node.owners),
                group=node.group_name or "default",
                parents=tuple(key_path(p) for p in sorted(node.parent_keys)),
                table=table_of(node.metadata),
                columns=columns if isinstance(columns, tuple) else (),
                metadata=metadata,
            )
        )
    checks = [
        CheckInfo(
            asset=key_path(key.asset_key),
            name=key.name,
            blocking=bool(spec.blocking),
            description=spec.description or "",
        )
        for key in graph.asset_check_keys
        if (spec := graph.get_check_spec(key)) is not None
    ]
    return GraphView.of(nodes, checks)
