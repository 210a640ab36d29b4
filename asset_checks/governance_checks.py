"""Governance checks: re-identification risk of each role's view, and the audit chain.

`k_anonymity` (one per role, on `governed/<role>_customer` and on
`governed/<role>_golden_customer`): the smallest group of rows the role's view (its
export's content) holds over the quasi-identifiers of the policy file's settings, as the
role reads them: a redacted column is one value, a hashed one keeps its groups (an HMAC
of a PIN still singles a customer out), a bucketed date groups by bucket. The golden
record is grouped by the attributes the core feed's mapping file maps those customer
columns to (cust_dob -> date_of_birth, pin -> pin); a quasi-identifier it does not hold
(gender, the age-band flags) is left out. Below the threshold it WARNs, naming k, the
threshold and how many rows sit in groups that small. A role reading PII in clear
(pii-reader) is inside the boundary: k is reported, the threshold does not apply.

`audit_log_intact` (on `governed/pii_reader_customer`): the audit log's hash chain
re-computes (audit.py); an edited, removed or reordered line fails it (ERROR).
"""

from dataclasses import dataclass

import dagster as dg

from fs_assets.defs.governed import governed_key, reads_clear_pii
from fs_assets.engines.base import CheckReader
from fs_assets.identity.canonical import mastered_source
from fs_assets.identity.golden_entity import GOLDEN_ENTITY
from fs_assets.identity.mapping import load_mappings
from fs_assets.identity.source_entity import CORE_FOLDER
from fs_assets.model.columns import Entity
from fs_assets.model.entities import CUSTOMER
from fs_assets.model.paths import data_paths
from fs_assets.model.rules import q
from fs_assets.transforms.governance import GOVERNED_SCHEMA, view_name
from fs_assets.transforms.governance.audit import AuditError, log_path, verify
from fs_assets.transforms.governance.policies import PII_READER, ROLES, load_policies
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource


@dataclass(frozen=True)
class KAnonymity:
    k: int  # the smallest group's size (0: no rows)
    groups: int
    groups_below: int
    rows_below: int


def k_anonymity(
    conn: CheckReader, table: str, columns: tuple[str, ...], threshold: int
) -> KAnonymity:
    """Group `table` by `columns` (identifiers from the entity model, quoted)."""
    cols = ", ".join(q(c) for c in columns)
    k, groups, below, rows = conn.execute(
        f"""select coalesce(min(n), 0), count(*), count(*) filter (where n < ?),
                   coalesce(sum(n) filter (where n < ?), 0)
            from (select count(*) as n from {table} group by {cols})""",
        [threshold, threshold],
    ).fetchone()
    return KAnonymity(int(k), int(groups), int(below), int(rows))


def golden_quasi_identifiers(quasi_identifiers: tuple[str, ...]) -> tuple[str, ...]:
    """The golden record's columns holding these customer quasi-identifiers: the attribute
    the core feed's mapping file maps each customer column to, in the same order; none
    without a core mapping."""
    core = next((m for m in load_mappings() if m.landing_folder == CORE_FOLDER), None)
    if core is None:
        return ()
    attribute_of = {column: attribute for attribute, column in mastered_source(core)[3].items()}
    return tuple(attribute_of[c] for c in quasi_identifiers if c in attribute_of)


def quasi_identifiers_of(entity: Entity, quasi_identifiers: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of `entity`'s view to group by for the policy file's quasi-identifiers."""
    if entity is GOLDEN_ENTITY:
        return golden_quasi_identifiers(quasi_identifiers)
    return quasi_identifiers


def build_k_anonymity_check(role: str, entity: Entity = CUSTOMER) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=governed_key(role, entity.name),
        name="k_anonymity",
        pool=WAREHOUSE_POOL,
        description=(
            f"k-anonymity of what role {role} reads of {entity.name} over the policy file's "
            "quasi-identifiers (as masked for the role); WARN below the file's threshold."
        ),
    )
    def _check(
        warehouse: WarehouseResource, masking_key: MaskingKeyResource
    ) -> dg.AssetCheckResult:
        policies = load_policies()
        settings = policies.settings
        columns = quasi_identifiers_of(entity, settings.quasi_identifiers)
        name = view_name(role, entity.name)
        table = f"{GOVERNED_SCHEMA}.{q(name)}"
        applies = not reads_clear_pii(role, policies)
        if not columns:
            return dg.AssetCheckResult(
                passed=True,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"quasi_identifiers": dg.MetadataValue.json([])},
                description=f"{entity.name} holds none of the quasi-identifiers",
            )
        args = (table, columns, settings.k_threshold)
        # A view in the DuckDB file groups hashed quasi-identifiers by token (the key);
        # on Spark, a Parquet table of masked values.
        with warehouse.open_engine() as engine, engine.reading(masking_key.get()) as reader:
            result = k_anonymity(reader, *args)
        passed = not applies or result.k >= settings.k_threshold or result.groups == 0
        return dg.AssetCheckResult(
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "k": result.k,
                "threshold": settings.k_threshold,
                "quasi_identifiers": dg.MetadataValue.json(list(columns)),
                "groups": result.groups,
                "groups_below_threshold": result.groups_below,
                "rows_in_groups_below_threshold": result.rows_below,
                "threshold_applies": applies,
            },
            description=(
                f"smallest group {result.k} rows (threshold {settings.k_threshold})"
                if applies
                else f"smallest group {result.k} rows; {role} reads PII in clear: not applied"
            ),
        )

    return _check


@dg.asset_check(
    asset=governed_key(PII_READER, CUSTOMER.name),
    name="audit_log_intact",
    description="The audit log of exports and queries re-computes its hash chain.",
)
def audit_log_intact(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    home = data_paths(warehouse.home).home
    try:
        result = verify(home)
    except AuditError as exc:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"log": str(log_path(home)), "problem": str(exc)},
        )
    return dg.AssetCheckResult(
        passed=True, metadata={"log": str(log_path(home)), "entries": result.entries}
    )


GOVERNANCE_CHECKS = [
    *(build_k_anonymity_check(r, e) for e in (CUSTOMER, GOLDEN_ENTITY) for r in ROLES),
    audit_log_intact,
]
