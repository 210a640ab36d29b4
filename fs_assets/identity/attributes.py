"""The canonical identity attributes a source's columns map to, and where mappings live."""

from __future__ import annotations

from pathlib import Path

from fs_assets.model.paths import PROJECT_ROOT

SOURCES_DIR = PROJECT_ROOT / "sources"  # one YAML mapping file per source system

# The canonical identity attributes, in the order of the canonical table's columns.
ATTRIBUTES: tuple[str, ...] = (
    "first_name",
    "middle_name",
    "last_name",
    "date_of_birth",
    "email",
    "mobile",
    "national_id",
    "address_line1",
    "address_line2",
    "address_line3",
    "city",
    "state",
    "pin",
    "country",
)
DATE_ATTRIBUTES = frozenset({"date_of_birth"})
# The e-mail shape linkage keeps (on the trimmed, lower-cased value); a source's rules
# quarantine an e-mail without it.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
# What a mapping must map at least: a person without a name cannot be linked.
REQUIRED_ATTRIBUTES = frozenset({"first_name", "last_name"})


def mapping_files(folder: Path = SOURCES_DIR) -> list[Path]:
    """The mapping files of a folder, by name (one source system each)."""
    return sorted(p for p in folder.iterdir() if p.suffix == ".yaml" and p.is_file())
