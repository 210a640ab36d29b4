"""A source system's entity, made from its mapping file alone: no code per source.

The entity `src_<source>` goes through raw history and last-known-good mastering like the
model's entities (`fs_assets/transforms/raw_history.py`, `mastering.py`). Its columns are
named by what they hold, whatever the source calls them: `source_id` (the mapping's id
column, the key), `modified_at` (its updated-at column, the version time, parsed with
its timestamp format) and one column per mapped canonical attribute, each read from the
file by its exact header (`Column.delivered_as`). Columns the mapping does not map are
not read: nothing declares what they hold, so they could carry PII that no tag governs.

Its rules: the key is present; no control character in any text (tab and line breaks
allowed in address lines); dates parse with the mapping's format and a date of birth is
not in the future; an e-mail has the shape linkage compares and a mobile and a pin hold
only the characters people write them with. A row that breaks one is quarantined with
the rule's name and never reaches linkage.

The core banking feed (landing folder `customer`) is not a source entity: it is the
model's customer entity, mastered as `mastered.customer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fs_assets.identity.attributes import (
    ATTRIBUTE_DOCS,
    DATE_ATTRIBUTES,
    EMAIL_PATTERN,
    SOURCES_DIR,
)
from fs_assets.identity.mapping import MappingError, SourceMapping, load_mappings
from fs_assets.model.columns import Column, Entity
from fs_assets.model.entities import CUSTOMER, ENTITY_NAMES

SOURCE_PREFIX = "src_"  # src_<source>: raw.src_crm, mastered.src_crm
KEY = "source_id"
VERSION = "modified_at"
CORE_FOLDER = CUSTOMER.folder  # the core feed's folder: mastered as the customer entity

# Canonical attribute -> (free text, pattern); descriptions and PII tags are
# attributes.ATTRIBUTE_DOCS. The e-mail pattern is the shape linkage keeps (EMAIL_PATTERN),
# on the value with spaces around it, any case.
_EMAIL = rf"(?i)^\s*{EMAIL_PATTERN.removeprefix('^').removesuffix('$')}\s*$"
_PHONE = r"^[0-9 +().-]*$"
_POSTAL = r"^[A-Za-z0-9 -]*$"
_ATTRIBUTE_RULES: dict[str, tuple[bool, str | None]] = {
    "email": (False, _EMAIL),
    "mobile": (False, _PHONE),
    "address_line1": (True, None),
    "address_line2": (True, None),
    "address_line3": (True, None),
    "pin": (False, _POSTAL),
}


def source_entity_name(source: str) -> str:
    return f"{SOURCE_PREFIX}{source}"


def _attribute_column(mapping: SourceMapping, attribute: str, header: str) -> Column:
    description, pii = ATTRIBUTE_DOCS[attribute]
    free_text, pattern = _ATTRIBUTE_RULES.get(attribute, (False, None))
    is_date = attribute in DATE_ATTRIBUTES
    return Column(
        attribute,
        "DATE" if is_date else "VARCHAR",
        f"{description} The source's column {header!r}.",
        pattern=pattern,
        pii=pii,
        free_text=free_text,
        text_format=mapping.date_format if is_date else None,
        delivered_as=header,
        not_future=is_date,
    )


def source_entity(mapping: SourceMapping) -> Entity:
    """The entity of one source system, from its mapping (`MappingError` for the core feed,
    which is the customer entity)."""
    if mapping.landing_folder == CORE_FOLDER:
        raise MappingError(
            f"{mapping.path or mapping.source}: the {CORE_FOLDER!r} folder is the core feed, "
            "mastered as the customer entity, not as a source entity"
        )
    if mapping.landing_folder.startswith((".", "_")):
        raise MappingError(
            f"{mapping.path or mapping.source}: landing_folder {mapping.landing_folder!r} "
            "starts with '.' or '_', which the landing zone keeps for itself (_rejected, "
            "temporary files); name the folder without it"
        )
    if mapping.landing_folder in ENTITY_NAMES:
        raise MappingError(
            f"{mapping.path or mapping.source}: landing_folder {mapping.landing_folder!r} is "
            f"the folder of the {mapping.landing_folder} entity; give the source its own folder"
        )
    columns = (
        Column(
            KEY,
            description=f"The source's record id (its column {mapping.id_column!r}).",
            required=True,
            delivered_as=mapping.id_column,
        ),
        Column(
            VERSION,
            "TIMESTAMP",
            f"When the source last changed the record (its column "
            f"{mapping.updated_at_column!r}); with the id it identifies one version.",
            required=True,
            text_format=mapping.timestamp_format,
            delivered_as=mapping.updated_at_column,
        ),
        *(_attribute_column(mapping, a, h) for a, h in mapping.attributes.items()),
    )
    return Entity(
        name=source_entity_name(mapping.source),
        key=KEY,
        columns=columns,
        description=f"{mapping.source} records as its mapping file reads them, for identity "
        "resolution.",
        grain=f"one row per {mapping.source} record ({KEY}), latest valid version by {VERSION}",
        landing_folder=mapping.landing_folder,
        extra_columns_ok=True,
    )


def source_entities(mappings: Sequence[SourceMapping]) -> list[Entity]:
    """The entity of every source but the core feed, in the mappings' (trust) order."""
    return [source_entity(m) for m in mappings if m.landing_folder != CORE_FOLDER]


def load_source_entities(folder: Path = SOURCES_DIR) -> list[Entity]:
    """The source entities of the mapping files in `folder` (at code-location load)."""
    return source_entities(load_mappings(folder))


def core_source(folder: Path = SOURCES_DIR) -> str | None:
    """The name the core feed goes by in `mastered.customer_identity` (its mapping's
    `source`), or None without a mapping for it."""
    return next((m.source for m in load_mappings(folder) if m.landing_folder == CORE_FOLDER), None)
