"""The golden customer as an entity: its columns, types and PII tags, declared once.

`mastered.golden_customer` (golden.py) is created from these columns, and the governed
views mask it per role from the same PII tags as the customer's (attributes.ATTRIBUTE_DOCS):
names, e-mail, mobile, national id, address lines and pin are TW.mask, the date of birth
TW.dob; city, state and country are not PII, like the customer's.
"""

from __future__ import annotations

from fs_assets.identity.attributes import ATTRIBUTE_DOCS, ATTRIBUTES, DATE_ATTRIBUTES
from fs_assets.model.columns import Column, Entity
from fs_assets.model.keys import GOLDEN_CUSTOMER_PATH

GOLDEN_ID = "golden_id"


def _columns() -> tuple[Column, ...]:
    attributes: list[Column] = []
    for a in ATTRIBUTES:
        description, pii = ATTRIBUTE_DOCS[a]
        kind = "DATE" if a in DATE_ATTRIBUTES else "VARCHAR"
        attributes.append(Column(a, kind, f"The person's {description[0].lower()}"
                                 f"{description[1:]}", pii=pii))  # fmt: skip
        attributes.append(Column(f"{a}_source", description=f"The source the {a} won from."))
    return (
        Column(GOLDEN_ID, description="The person's golden customer id (G + 10 digits), stable."),
        *attributes,
        Column("source_records", "BIGINT", "How many source records are this person."),
        Column("sources", "VARCHAR[]", "The sources holding this person."),
        Column("last_updated_at", "TIMESTAMP", "Newest update of any of its records."),
    )


GOLDEN_ENTITY = Entity(
    name=GOLDEN_CUSTOMER_PATH[-1],
    key=GOLDEN_ID,
    columns=_columns(),
    description="One person across every source system: survivorship per attribute.",
    grain="one row per person (golden_id), each attribute from its most trusted source",
)
