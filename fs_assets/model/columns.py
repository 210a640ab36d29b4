"""Column and entity types, their formats and PII tags: what the rules and checks read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# ---------------------------------------------------------------------------------------
# PII tags (the seed's policy column tags)
# ---------------------------------------------------------------------------------------
PII_MASK = "TW.mask"
PII_DOB = "TW.dob"
# Quasi-identifiers the seed left untagged: the minor and senior-citizen flags reveal an age
# band (with pin and gender, enough to single people out). Not the seed's tag.
PII_AGE_BAND = "TW.age_band"
PII_TAGS = (PII_MASK, PII_DOB, PII_AGE_BAND)


# ---------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------
class TextFormat(str):
    """A strptime layout (`%d/%m/%Y`) of a DATE or TIMESTAMP delivered as text.

    A string that says what it is: SQL binds it as a `?` parameter, and DuckDB reads it
    as it is while the Spark engine translates it to its own datetime pattern
    (`engines/spark_formats.py`). `Column` makes every `text_format` one."""

    __slots__ = ()


SqlType = Literal[
    "VARCHAR", "DATE", "TIMESTAMP", "INTEGER", "BIGINT", "DOUBLE", "DECIMAL(18,2)", "VARCHAR[]"
]


@dataclass(frozen=True)
class Column:
    """One column of an entity: its type once mastered, and what the rules know of it."""

    name: str
    type: SqlType = "VARCHAR"
    description: str = ""
    required: bool = False
    values: tuple[str, ...] | None = None
    max_length: int | None = None
    exact_length: int | None = None
    pattern: str | None = None
    value_range: tuple[float, float] | None = None
    pii: str | None = None
    # The rule applies only to rows of this customer type (personal-only attributes).
    personal_only: bool = False
    # A typed source (Parquet) may deliver this integer column as a float; an integer
    # value (839.0) is then stored as '839'. Off: a float column rejects the file.
    integral_float_ok: bool = False
    # Free text (an address line): tab and line breaks are not control characters here.
    free_text: bool = False
    # A DATE or TIMESTAMP delivered as text in this strptime layout (a source's mapping),
    # not ISO: the rules and the casts parse it with this format (a parameter, never SQL).
    text_format: TextFormat | str | None = None
    # The file's header for this column, matched exactly (a source's mapping); None: the
    # header cleansed to the column's name ('Cust First Name' for cust_first_name).
    delivered_as: str | None = None
    # A date that must not lie after today (a date of birth).
    not_future: bool = False

    def __post_init__(self) -> None:
        if self.text_format is not None and not isinstance(self.text_format, TextFormat):
            object.__setattr__(self, "text_format", TextFormat(self.text_format))

    @property
    def source_header(self) -> str:
        """How the source system spells the header: 'Cust First Name' for cust_first_name."""
        return " ".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class ForeignKey:
    column: str
    entity: str
    ref_column: str


@dataclass(frozen=True)
class Entity:
    """A business entity: a landing folder, a raw history table and a mastered table."""

    name: str
    key: str
    columns: tuple[Column, ...]
    description: str
    grain: str
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    # Columns mastering adds from other mastered tables (not delivered by the source);
    # how each is computed is in `fs_assets/model/cross_entity.py`.
    derived_columns: tuple[Column, ...] = ()
    # The landing folder's name when it is not the entity's (a source's mapping).
    landing_folder: str | None = None
    # Whether a file may carry columns the entity does not declare (not read, not stored).
    extra_columns_ok: bool = False

    @property
    def folder(self) -> str:
        """The entity's folder in the landing zone."""
        return self.landing_folder or self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(
            f"{self.name} has no column {name!r}; columns: {', '.join(self.column_names)}"
        )

    @property
    def pii_columns(self) -> dict[str, str]:
        return {c.name: c.pii for c in self.columns if c.pii}


ID10 = r"^[A-Za-z0-9]{10}$"  # the seed's cust_id format; products reuse it
ALPHA = r"^[a-zA-Z]+$"
# The seed's email rule: '^[a-z0-9.]+@[a-z]+\.[a-z]{2,3}'. Kept, anchored at the end too,
# so 'a@b.comX' cannot pass on its prefix.
EMAIL = r"^[a-z0-9.]+@[a-z]+\.[a-z]{2,3}$"
ISO_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
