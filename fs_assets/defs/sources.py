"""`raw/src_<source>` and `mastered/src_<source>` (+ history) for every source system but
the core feed, made at code-location load from the mapping files in `sources/`.

Each source entity (`fs_assets/identity/source_entity.py`) goes through the same raw and
mastering assets as the model's entities: landing files merged into history, rules,
quarantine, pending corrections and SCD2 history. A source whose folder has no files yet
builds empty tables. The tables hold the sources' PII in clear, in the warehouse like
`mastered.customer` (inside the governed boundary; no governed view reads them yet).
"""

import dagster as dg

from fs_assets.defs.mastered import build_mastered_asset
from fs_assets.defs.raw import build_raw_asset
from fs_assets.identity.source_entity import load_source_entities
from fs_assets.model.columns import Entity

SOURCE_ENTITIES: list[Entity] = load_source_entities()


def build_source_assets(entities: list[Entity]) -> list[dg.AssetsDefinition]:
    """The raw and mastered assets of each source entity."""
    return [
        *(build_raw_asset(e) for e in entities),
        *(build_mastered_asset(e) for e in entities),
    ]


SOURCE_ASSETS = build_source_assets(SOURCE_ENTITIES)
