"""What the catalog reads from the asset graph, as plain data (keys are tuples of strings).

The catalog's logic takes this view, not Dagster's graph; the adapter that makes it from
the definitions sits above the core.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fs_assets.model.keys import KeyPath

# A view column whose value depends on who reads it (a governed view's masked PII column or
# join-key token): the scanner counts the view's rows but does not profile the column.
MASKED_TAG = "masked"


@dataclass(frozen=True)
class DeclaredColumn:
    name: str
    type: str | None = None
    description: str = ""
    pii: str | None = None
    nullable: bool | None = None
    tags: tuple[tuple[str, str], ...] = ()  # the column's tags as (name, value) pairs

    def tag(self, name: str) -> str | None:
        return dict(self.tags).get(name)

    @property
    def masked(self) -> bool:
        return self.tag(MASKED_TAG) is not None


@dataclass(frozen=True)
class AssetNodeInfo:
    """One asset as its definition declares it."""

    key: KeyPath
    description: str = ""
    owners: tuple[str, ...] = ()
    group: str = "default"
    parents: tuple[KeyPath, ...] = ()
    table: str | None = None  # "<schema>.<table>" of its own warehouse table, if any
    columns: tuple[DeclaredColumn, ...] = ()
    # Other definition metadata, unwrapped to plain values (e.g. "hive_layout": a path).
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckInfo:
    asset: KeyPath
    name: str
    blocking: bool = False
    description: str = ""


@dataclass(frozen=True)
class GraphView:
    """The assets and checks of a set of definitions."""

    nodes: Mapping[KeyPath, AssetNodeInfo]
    checks: tuple[CheckInfo, ...] = ()

    @classmethod
    def of(cls, nodes: Iterable[AssetNodeInfo], checks: Iterable[CheckInfo] = ()) -> "GraphView":
        return cls({n.key: n for n in nodes}, tuple(checks))

    def asset_keys(self) -> set[KeyPath]:
        return set(self.nodes)

    def get(self, key: KeyPath) -> AssetNodeInfo:
        return self.nodes[key]

    def check(self, asset: KeyPath, name: str) -> CheckInfo | None:
        return next((c for c in self.checks if c.asset == asset and c.name == name), None)
