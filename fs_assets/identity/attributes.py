"""The canonical identity attributes a source's columns map to, and where mappings live."""

from __future__ import annotations

from pathlib import Path

from fs_assets.model.columns import PII_DOB, PII_MASK
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
# What each attribute holds and its PII tag, as the customer entity tags the same data
# (city, state and country are not PII there either): read by every source entity and by
# the golden customer, so their governed columns are masked alike.
ATTRIBUTE_DOCS: dict[str, tuple[str, str | None]] = {
    "first_name": ("First (given) name.", PII_MASK),
    "middle_name": ("Middle name.", PII_MASK),
    "last_name": ("Last (family) name.", PII_MASK),
    "date_of_birth": ("Date of birth, not in the future.", PII_DOB),
    "email": ("E-mail address (any case).", PII_MASK),
    "mobile": ("Mobile number as written (digits, spaces, + - ( ) .).", PII_MASK),
    "national_id": ("National id (e.g. PAN).", PII_MASK),
    "address_line1": ("Address line 1.", PII_MASK),
    "address_line2": ("Address line 2.", PII_MASK),
    "address_line3": ("Address line 3.", PII_MASK),
    "city": ("City.", None),
    "state": ("State or province.", None),
    "pin": ("Postal code (letters, digits, spaces, hyphens).", PII_MASK),
    "country": ("Country.", None),
}
# The e-mail shape linkage keeps (on the trimmed, lower-cased value); a source's rules
# quarantine an e-mail without it.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
# What a mapping must map at least: a person without a name cannot be linked.
REQUIRED_ATTRIBUTES = frozenset({"first_name", "last_name"})


def mapping_files(folder: Path = SOURCES_DIR) -> list[Path]:
    """The mapping files of a folder, by name (one source system each)."""
    return sorted(p for p in folder.iterdir() if p.suffix == ".yaml" and p.is_file())
