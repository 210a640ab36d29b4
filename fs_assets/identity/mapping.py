"""A source system declared by a mapping file only: where its files land, its id column,
which of its columns hold which canonical identity attribute, and how far it is trusted.

`load_mapping` validates one file and `load_mappings` a folder of them, with errors that
name the file, the key and what to write instead; no code changes to add a source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fs_assets.identity.attributes import (
    ATTRIBUTES,
    REQUIRED_ATTRIBUTES,
    SOURCES_DIR,
    mapping_files,
)

FORMATS = ("csv", "parquet")
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
DEFAULT_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_REQUIRED_KEYS = ("source", "landing_folder", "id_column", "updated_at_column", "trust_rank")
_OPTIONAL_KEYS = ("description", "format", "date_format", "timestamp_format", "attributes")


class MappingError(ValueError):
    """A mapping file that cannot be used, naming the file and what to fix."""


@dataclass(frozen=True)
class SourceMapping:
    """One source system: its landing folder and how its columns map to the attributes."""

    source: str
    landing_folder: str
    id_column: str
    updated_at_column: str
    trust_rank: int  # 1 = most trusted; survivorship prefers the lowest rank
    attributes: Mapping[str, str]  # canonical attribute -> the source's column
    format: str = "csv"
    date_format: str = DEFAULT_DATE_FORMAT
    timestamp_format: str = DEFAULT_TIMESTAMP_FORMAT
    path: Path | None = None

    @property
    def columns(self) -> list[str]:
        """The source's columns to read: id, update time, then the mapped ones."""
        return [self.id_column, self.updated_at_column, *self.attributes.values()]


def _text(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MappingError(f"{path}: '{key}' must be a non-empty text, not {value!r}")
    if any(ord(c) < 32 for c in value):
        raise MappingError(f"{path}: '{key}' holds a control character")
    return value


def _check_keys(path: Path, raw: dict[str, Any]) -> None:
    unknown = sorted(set(raw) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        raise MappingError(
            f"{path}: unknown key(s) {unknown}; the keys are "
            f"{sorted(_REQUIRED_KEYS + _OPTIONAL_KEYS)}"
        )
    missing = [k for k in _REQUIRED_KEYS if k not in raw]
    if missing:
        raise MappingError(f"{path}: missing key(s) {missing}, e.g. id_column: <its id column>")


def _attributes(path: Path, raw: Any, reserved: Iterable[str]) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw:
        raise MappingError(f"{path}: 'attributes' must map canonical attributes to columns")
    unknown = sorted(str(a) for a in raw if a not in ATTRIBUTES)
    if unknown:
        raise MappingError(
            f"{path}: unknown attribute(s) {unknown}; the canonical attributes are "
            f"{list(ATTRIBUTES)}"
        )
    missing = sorted(REQUIRED_ATTRIBUTES - set(raw))
    if missing:
        raise MappingError(f"{path}: attributes must map {missing} (a person needs a name)")
    columns = {a: _text(path, f"attributes.{a}", c) for a, c in raw.items()}
    seen = list(reserved) + list(columns.values())
    twice = sorted({c for c in seen if seen.count(c) > 1})
    if twice:
        raise MappingError(f"{path}: column(s) {twice} mapped twice (or also the id/update)")
    return {a: columns[a] for a in ATTRIBUTES if a in columns}


def _trust_rank(path: Path, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MappingError(f"{path}: 'trust_rank' must be a whole number >= 1 (1 = most trusted)")
    return value


def load_mapping(path: Path) -> SourceMapping:
    """One validated mapping file (`MappingError` naming what to fix otherwise)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: a mapping file holds keys such as source, id_column")
    _check_keys(path, raw)
    source = _text(path, "source", raw["source"])
    if not _NAME.match(source):
        raise MappingError(f"{path}: 'source' must match {_NAME.pattern}, not {source!r}")
    folder = _text(path, "landing_folder", raw["landing_folder"])
    if folder in (".", "..") or "/" in folder or "\\" in folder:
        raise MappingError(f"{path}: 'landing_folder' is one folder name inside the landing zone")
    fmt = raw.get("format", "csv")
    if fmt not in FORMATS:
        raise MappingError(f"{path}: 'format' must be one of {FORMATS}, not {fmt!r}")
    id_column = _text(path, "id_column", raw["id_column"])
    updated = _text(path, "updated_at_column", raw["updated_at_column"])
    return SourceMapping(
        source=source,
        landing_folder=folder,
        id_column=id_column,
        updated_at_column=updated,
        trust_rank=_trust_rank(path, raw["trust_rank"]),
        attributes=_attributes(path, raw.get("attributes"), (id_column, updated)),
        format=fmt,
        date_format=_text(path, "date_format", raw.get("date_format", DEFAULT_DATE_FORMAT)),
        timestamp_format=_text(
            path, "timestamp_format", raw.get("timestamp_format", DEFAULT_TIMESTAMP_FORMAT)
        ),
        path=path,
    )


def _unique(mappings: list[SourceMapping], field: str) -> None:
    values = [getattr(m, field) for m in mappings]
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        files = [str(m.path) for m in mappings if str(getattr(m, field)) in twice]
        raise MappingError(f"{field} {twice} declared by more than one mapping: {files}")


def load_mappings(folder: Path = SOURCES_DIR) -> list[SourceMapping]:
    """Every mapping file of a folder, validated, by trust rank (no two share a source,
    a landing folder or a trust rank)."""
    mappings = [load_mapping(p) for p in mapping_files(folder)]
    if not mappings:
        raise MappingError(f"{folder}: no mapping files (*.yaml), so no source to link")
    for field in ("source", "landing_folder", "trust_rank"):
        _unique(mappings, field)
    return sorted(mappings, key=lambda m: m.trust_rank)
