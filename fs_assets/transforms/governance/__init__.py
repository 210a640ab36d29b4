"""Governance: the masking policies as code, enforced in what each role can read.

`policies` validates and resolves `policies/masking.yaml`, `operators` turns a mask into
SQL, `export` copies a role's governed views (built by `fs_assets/defs/governed.py`) into
a DuckDB file of its own, `identity` maps the caller to roles, `audit` keeps a
hash-chained log. No Dagster here, so the CLI and the export load fast.
"""

from fs_assets.model.columns import Entity
from fs_assets.model.entities import ENTITIES
from fs_assets.model.keys import GOLDEN_CUSTOMER_PATH

GOVERNED_SCHEMA = "governed"
# Identity resolution's golden customer (mastered.golden_customer): every role reads it
# through its own view, masked like the customer (fs_assets/identity/golden_entity.py).
GOLDEN_SCHEMA, GOLDEN = GOLDEN_CUSTOMER_PATH


def governed_entities() -> tuple[Entity, ...]:
    """Entities with at least one PII-tagged column: only they need a governed view.

    An entity without PII columns (product, account and transaction today) reads the same
    for every role, so a per-role view of it would be a copy with no policy in it. It gets
    one as soon as one of its columns is tagged in the entity model.
    """
    return tuple(e for e in ENTITIES.values() if e.pii_columns)


HISTORY_SUFFIX = "_history"


def governed_sources() -> tuple[tuple[Entity, bool], ...]:
    """(entity, history?) of every governed view: each entity with PII and its history."""
    return tuple((e, history) for e in governed_entities() for history in (False, True))


def source_name(ent: Entity, history: bool) -> str:
    """'customer' or 'customer_history': the mastered table a governed view reads."""
    return ent.name + (HISTORY_SUFFIX if history else "")


def view_name(role: str, entity: str) -> str:
    """`restricted_acess_customer`: role ids contain hyphens, SQL identifiers should not."""
    return f"{role.replace('-', '_')}_{entity}"
