"""The data product manifest `customer-overview-dp`, generated from the definitions.

The seed applies a hand-written DataOS manifest (`dataos-ctl product apply`) naming the
product, its domain, the pipeline that builds it, its inputs and outputs. Written by hand
it drifts from the code; here it is generated from the Dagster definitions (outputs are
the mastered and governed tables, quality is every asset check, resources the asset
groups) and the masking policies, in the seed's shape, and validated against a small
schema whenever it is written or read, so a consumer never reads a manifest that does not
match it.
"""

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fs_assets.catalog.graph_view import GraphView
from fs_assets.catalog.tables import DeclaredTable, declared_tables, user_string
from fs_assets.model.entities import ENTITY_NAMES
from fs_assets.model.naming import DATASET_NAMESPACE
from fs_assets.transforms.governance.policies import PolicySet

PRODUCT_NAME = "customer-overview-dp"
MANIFEST_VERSION = "v1alpha"
DOMAIN = "financial-services"
MANIFEST_FILE = "data_product.yaml"
# The seed's description of the product, kept word for word.
DESCRIPTION = (
    "A unified, accurate, and persistent set of identifiers and attributes that describe a "
    "customer and that can be used to connect customer data across multiple organizational "
    "silos, and business processes and units. This mastered data, that is continuously live "
    "and up-to-date, can be fed to operational and analytical systems to drive business."
)
# Schemas whose tables are the product's outputs (what consumers read); `main` holds the
# seed's dataset names (fs_assets/defs/seed_names.py).
OUTPUT_SCHEMAS = ("mastered", "governed", "marts", "main")
HIVE_LAYOUT_KEY = "hive_layout"


class ManifestError(ValueError):
    """A manifest that must not be published: the message names the file and the field."""


class _Strict(BaseModel):
    # A misspelt key must fail validation, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resource(_Strict):
    description: str
    purpose: str
    type: str
    name: str
    ref: str | None = None


class Input(_Strict):
    description: str
    purpose: Literal["source"]
    refType: str
    ref: str


class Output(_Strict):
    description: str
    purpose: Literal["consumption"]
    refType: str
    ref: str
    asset: str | None = None
    piiColumns: dict[str, str] = Field(default_factory=dict)


class QualityCheck(_Strict):
    asset: str
    check: str
    blocking: bool
    description: str


class Policy(_Strict):
    name: str
    type: Literal["mask"]
    priority: int
    roles: list[str]
    columnTags: list[str]
    operator: str
    options: dict[str, str] = Field(default_factory=dict)


class DataSpec(_Strict):
    domain: str = Field(min_length=1)
    resources: list[Resource] = Field(min_length=1)
    inputs: list[Input] = Field(min_length=1)
    outputs: list[Output] = Field(min_length=1)
    quality: list[QualityCheck]
    policies: list[Policy]

    @field_validator("outputs")
    @classmethod
    def _unique_outputs(cls, outputs: list[Output]) -> list[Output]:
        refs = [o.ref for o in outputs]
        dupes = sorted({r for r in refs if refs.count(r) > 1})
        if dupes:
            raise ValueError(f"outputs listed twice: {dupes}")
        return outputs


class Body(_Strict):
    data: DataSpec


class Manifest(_Strict):
    name: str
    version: str
    type: Literal["data"]
    tags: list[str]
    description: str = Field(min_length=1)
    entity: Literal["product"]
    v1alpha: Body

    @field_validator("name")
    @classmethod
    def _dns_name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,62}", v):
            raise ValueError(f"{v!r} is not a lowercase name of letters, digits and hyphens")
        return v


def _first_sentence(text: str) -> str:
    head = text.split(". ", 1)[0].strip()
    return head if head.endswith(".") else head + "."


def _outputs(graph: GraphView, tables: dict[str, DeclaredTable]) -> list[Output]:
    outputs = []
    for name, table in sorted(tables.items()):
        if table.side or table.schema not in OUTPUT_SCHEMAS:
            continue
        key = table.producers[0]
        outputs.append(
            Output(
                description=_first_sentence(table.description) if table.description else name,
                purpose="consumption",
                refType="duckdb",
                ref=f"{DATASET_NAMESPACE}/{name}",
                asset=user_string(key),
                piiColumns=table.pii_columns,
            )
        )
        layout = graph.get(key).metadata.get(HIVE_LAYOUT_KEY)
        if isinstance(layout, str):
            outputs.append(
                Output(
                    description=f"{name} as Hive-style Parquet (Spark, Trino, DuckDB).",
                    purpose="consumption",
                    refType="parquet-hive",
                    ref=layout,
                    asset=user_string(key),
                    piiColumns=table.pii_columns,
                )
            )
    return outputs


def build_manifest(graph: GraphView, policies: PolicySet) -> Manifest:
    """The manifest of what `graph` builds, in the seed's shape."""
    tables = declared_tables(graph)
    groups: dict[str, int] = {}
    for key in graph.asset_keys():
        group = graph.get(key).group
        groups[group] = groups.get(group, 0) + 1
    resources = [
        Resource(
            description="Data Product pipeline",
            purpose="build the data product's data set",
            type="dagster-code-location",
            name="fs_accelerator",
            ref="fs_assets.definitions",
        ),
        *(
            Resource(
                description=f"{n} asset(s) of the {group} layer",
                purpose="build the data product's data set",
                type="dagster-asset-group",
                name=group,
            )
            for group, n in sorted(groups.items())
        ),
        Resource(
            description="Masking policies enforced by the governed views",
            purpose="govern access to PII",
            type="policy",
            name=policies.source.name,
            ref=f"policies/{policies.source.name}",
        ),
    ]
    inputs = [
        Input(
            description=f"{entity} landing files (CSV or Parquet, immutable once landed)",
            purpose="source",
            refType="file",
            ref=f"landing/{entity}/",
        )
        for entity in ENTITY_NAMES
    ]
    quality = [
        QualityCheck(
            asset=user_string(c.asset),
            check=c.name,
            blocking=c.blocking,
            description=c.description,
        )
        for c in sorted(graph.checks, key=lambda c: (c.asset, c.name))
    ]
    policy_list = [
        Policy(
            name=p.name,
            type="mask",
            priority=p.priority,
            roles=sorted(p.roles),
            columnTags=sorted(p.column_tags),
            operator=p.operator,
            options=dict(p.options),
        )
        for p in sorted(policies.policies, key=lambda p: (p.priority, p.name))
    ]
    return Manifest(
        name=PRODUCT_NAME,
        version=MANIFEST_VERSION,
        type="data",
        tags=[
            "data-product",
            "dataos:type:product",
            "dataos:product:data",
            f"dataos:product:data:{PRODUCT_NAME}",
        ],
        description=DESCRIPTION,
        entity="product",
        v1alpha=Body(
            data=DataSpec(
                domain=DOMAIN,
                resources=resources,
                inputs=inputs,
                outputs=_outputs(graph, tables),
                quality=quality,
                policies=policy_list,
            )
        ),
    )


def to_yaml(manifest: Manifest) -> str:
    return yaml.safe_dump(
        manifest.model_dump(exclude_none=True), sort_keys=False, allow_unicode=True, width=100
    )


def parse_manifest(text: str, source: Path) -> Manifest:
    """Validate a manifest's YAML text; errors name `source` and the offending fields."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: expected a mapping at the top level")
    try:
        return Manifest.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ManifestError(f"{source}: invalid data product manifest: {problems}") from None


def load_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from None
    return parse_manifest(text, path)


def write_manifest(path: Path, manifest: Manifest) -> Manifest:
    """Write atomically, then read back through the validator: what is on disk is valid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(to_yaml(manifest), encoding="utf-8")
    try:
        parse_manifest(tmp.read_text(encoding="utf-8"), path)
    except ManifestError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return load_manifest(path)
