"""Dagster's asset graph and metadata as the plain view the catalog takes.

The one place below the definitions that still reads Dagster's types: the lineage events
need it until they too take plain records; then it moves up to the defs layer.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from fs_assets.catalog.graph_view import AssetNodeInfo, CheckInfo, DeclaredColumn, GraphView
from fs_assets.catalog.tables import COLUMN_SCHEMA_KEY, TABLE_NAME_KEY, warehouse_table
from fs_assets.model.keys import KeyPath


def unwrap(value: Any) -> Any:
    """Definition metadata may be raw (TableSchema) or wrapped (TableSchemaMetadataValue)."""
    return value.value if isinstance(value, dg.MetadataValue) else value


def key_path(key: dg.AssetKey) -> KeyPath:
    return tuple(key.path)


def table_of(metadata: Mapping[str, Any]) -> str | None:
    """'warehouse.mastered.customer' -> 'mastered.customer'; None when not a warehouse table."""
    return warehouse_table(unwrap(metadata.get(TABLE_NAME_KEY)))


def declared_columns(metadata: Mapping[str, Any]) -> tuple[DeclaredColumn, ...]:
    schema = unwrap(metadata.get(COLUMN_SCHEMA_KEY))
    if not isinstance(schema, dg.TableSchema):
        return ()
    return tuple(
        DeclaredColumn(
            name=c.name,
            type=c.type,
            description=c.description or "",
            pii=(c.tags or {}).get("pii"),
            nullable=c.constraints.nullable if c.constraints else None,
        )
        for c in schema.columns
    )


def graph_view(graph: BaseAssetGraph) -> GraphView:
    """The assets (key, description, owners, group, parents, table, columns) and checks."""
    nodes = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        nodes.append(
            AssetNodeInfo(
                key=key_path(key),
                description=node.description or "",
                owners=tuple(node.owners),
                group=node.group_name or "default",
                parents=tuple(key_path(p) for p in sorted(node.parent_keys)),
                table=table_of(node.metadata),
                columns=declared_columns(node.metadata),
                metadata={k: unwrap(v) for k, v in node.metadata.items()},
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
