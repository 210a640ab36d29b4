"""`governed/<role>_<entity>` assets: what each role may read, as DuckDB views (on the
Spark engine, Parquet tables Spark writes from the same statement: spark_governed.py).

One view per role and per entity with PII columns, over `mastered.<entity>`, one over
its history `mastered.<entity>_history` (the same masks; plus valid_from/valid_to), and
one over identity resolution's `mastered.golden_customer` (its PII columns tagged like the
customer's, fs_assets/identity/golden_entity.py): non-PII
columns pass, each PII column gets the mask of the policy that `policies/masking.yaml`
resolves for the role and the column's tag, or is redacted when none grants it (read in
clear with the file's `unselected_users: pass_through`); the role's filter policies, if
any, limit the rows (a WHERE on the view, so its export holds only those rows). The
policies are read when the asset runs, not when the code location loads, so a broken
policy file fails the governed runs (leaving the previous views in place) instead of
taking the whole code location down; the materialization records what was enforced.

A role that does not read TW.mask columns in clear also reads the join keys `cust_id` and
`golden_id` as keyed tokens (the same HMAC as the masks), so its tables join within one export but a
customer id cannot be looked up or used to recompute anything. Keyed columns need the
masking key in the session (masking_key.py): a session without it reads NULL there.
"""

from dataclasses import dataclass

import dagster as dg
import duckdb

from fs_assets.catalog.graph_view import MASKED_TAG
from fs_assets.catalog.scanner import SameRows
from fs_assets.defs.history import HISTORY_DOCS
from fs_assets.defs.keys import CROSS_SELL_KEY, history_key, mastered_key
from fs_assets.defs.metadata import table_name
from fs_assets.identity.golden_entity import GOLDEN_ENTITY, GOLDEN_ID
from fs_assets.model.columns import PII_MASK, Entity
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.keys import (
    MASTERED_SCHEMA,
    OWNER,
    history_table,
    mastered_table,
    pending_table,
)
from fs_assets.model.rules import q
from fs_assets.transforms.governance import (
    GOLDEN_SCHEMA,
    GOVERNED_SCHEMA,
    governed_sources,
    source_name,
    view_name,
)
from fs_assets.transforms.governance.lead_list import (
    CONTACT_COLUMNS,
    LEAD_FIELDS,
    LEADS,
    lead_list_sql,
    leads_table,
)
from fs_assets.transforms.governance.operators import (
    HASH,
    PASS_THROUGH,
    REDACT,
    mask_sql,
    pass_through_sql,
    token_sql,
)
from fs_assets.transforms.governance.policies import (
    DEFAULT_DENY,
    LEAD_LIST_ROLES,
    PASS_UNSELECTED,
    POLICY_FILE,
    REDACT_UNSELECTED,
    ROLES,
    UNSELECTED_PASS,
    PolicySet,
    check_role,
    load_policies,
)
from fs_assets.transforms.governance.views import create_view, governed_table
from resources.masking_key import MaskingKeyResource
from resources.warehouse import WAREHOUSE_POOL, WarehouseResource

# The current views mark a row whose key has a pending correction (a newer version that
# broke a rule, in quarantine.<entity>_pending_corrections); not PII, so no mask.
PENDING_FLAG = "has_pending_correction"
PENDING_FLAG_DOC = (
    "BOOLEAN",
    "True when a newer version of this row broke a rule and waits in quarantine as a "
    "pending correction; the row shown is the last valid version.",
)

# Join keys that identify a customer or a person: tokenised for roles without clear TW.mask.
TOKENISED_KEYS = ("cust_id", GOLDEN_ID)
# The `masked` tag's value on the declared columns: the mask depends on the role's policy.
MASKED_VALUE = "per the role's policy"
JOIN_KEY_TOKEN = "join-key-token"


def flags_pending(ent: Entity, history: bool) -> bool:
    """Whether the view marks pending corrections: the current view of a model entity. The
    golden customer has no quarantine of its own (its sources' bad rows never reach it)."""
    return not history and ent.name in ENTITIES


@dataclass(frozen=True)
class GovernedColumn:
    name: str
    type: str
    sql: str
    pii: str | None = None
    policy: str | None = None  # policy name, DEFAULT_DENY, or None for a non-PII column
    operator: str | None = None


@dataclass(frozen=True)
class GovernedView:
    """One role's view of one entity, and which policy decided each PII column."""

    role: str
    entity: Entity
    columns: tuple[GovernedColumn, ...]
    policies: PolicySet
    history: bool = False  # over mastered.<entity>_history, with its validity interval

    @property
    def name(self) -> str:
        return view_name(self.role, source_name(self.entity, self.history))

    @property
    def table(self) -> str:
        return governed_table(self.name)

    @property
    def row_filter(self) -> str | None:
        """The role's row-level condition (filter policies), or None: every row."""
        return self.policies.row_filter_sql({self.role})

    @property
    def select_sql(self) -> str:
        cols = ",\n  ".join(f"{c.sql} as {q(c.name)}" for c in self.columns)
        where = f"\nwhere {self.row_filter}" if self.row_filter else ""
        if self.history:
            interval = ", ".join(q(c) for c in HISTORY_DOCS)
            return f"select\n  {cols},\n  {interval}\nfrom {history_table(self.entity)}{where}"
        if not flags_pending(self.entity, self.history):
            return f"select\n  {cols}\nfrom {mastered_table(self.entity)}{where}"
        key = q(self.entity.key)
        flag = (
            f"exists (select 1 from {pending_table(self.entity)} p where p.{key} = m.{key}) "
            f"as {q(PENDING_FLAG)}"
        )
        return f"select\n  {cols},\n  {flag}\nfrom {mastered_table(self.entity)} m{where}"

    def column_schema(self) -> dg.TableSchema:
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=c.name,
                    type=c.type,
                    description=self.entity.column(c.name).description,
                    tags=(
                        {"pii": c.pii, "policy": c.policy, "operator": c.operator}
                        if c.pii and c.policy and c.operator
                        else {}
                    ),
                )
                for c in self.columns
            ]
            + _extra_columns(self.entity, self.history)
        )

    def policies_json(self) -> dict[str, object]:
        applied = {c.policy for c in self.columns if c.policy and c.policy != DEFAULT_DENY}
        unselected = self.policies.settings.unselected_users
        return {
            "role": self.role,
            "source": str(self.policies.source),
            "resolution": "lowest priority number wins; PII no policy grants: "
            + ("redacted" if unselected == REDACT_UNSELECTED else "read in clear"),
            "applied": [p.as_json() for p in self.policies.policies if p.name in applied],
            "row_filters": [f.as_json() for f in self.policies.row_filters({self.role})],
            "columns": {
                c.name: {"pii": c.pii, "policy": c.policy, "operator": c.operator}
                for c in self.columns
                if c.pii or c.policy
            },
        }


def _pending_column() -> dg.TableColumn:
    kind, doc = PENDING_FLAG_DOC
    return dg.TableColumn(name=PENDING_FLAG, type=kind, description=doc)


def _interval_columns() -> list[dg.TableColumn]:
    return [dg.TableColumn(name=n, type=t, description=d) for n, (t, d) in HISTORY_DOCS.items()]


def _extra_columns(ent: Entity, history: bool) -> list[dg.TableColumn]:
    """After the entity's columns: the validity interval, or the pending-correction flag."""
    if history:
        return _interval_columns()
    return [_pending_column()] if flags_pending(ent, history) else []


def reads_clear_pii(role: str, policies: PolicySet) -> bool:
    """Whether `role` reads TW.mask columns in clear (then its join keys stay clear too)."""
    policy = policies.resolve({role}, PII_MASK)
    if policy is None:
        return policies.settings.unselected_users == PASS_UNSELECTED
    return policy.operator == PASS_THROUGH


def governed_view(
    ent: Entity, role: str, policies: PolicySet, history: bool = False
) -> GovernedView:
    """Resolve the mask of every PII column of `ent` for `role` (a user holding only it)."""
    check_role(role)
    tokenise = not reads_clear_pii(role, policies)
    columns = []
    for col in ent.columns:
        if col.name in TOKENISED_KEYS and tokenise:
            masked = token_sql(col)
            columns.append(
                GovernedColumn(col.name, masked.type, masked.sql, None, JOIN_KEY_TOKEN, HASH)
            )
            continue
        if not col.pii:
            masked = pass_through_sql(col)
            columns.append(GovernedColumn(col.name, masked.type, masked.sql))
            continue
        policy = policies.resolve({role}, col.pii)
        if policy is None and policies.settings.unselected_users == PASS_UNSELECTED:
            masked = mask_sql(col, PASS_THROUGH)
            columns.append(
                GovernedColumn(
                    col.name, masked.type, masked.sql, col.pii, UNSELECTED_PASS, PASS_THROUGH
                )
            )
        elif policy is None:
            masked = mask_sql(col, REDACT)
            columns.append(
                GovernedColumn(col.name, masked.type, masked.sql, col.pii, DEFAULT_DENY, REDACT)
            )
        else:
            masked = mask_sql(col, policy.operator, policy.options)
            columns.append(
                GovernedColumn(
                    col.name, masked.type, masked.sql, col.pii, policy.name, policy.operator
                )
            )
    return GovernedView(role, ent, tuple(columns), policies, history)


def build_governed_view(
    conn: duckdb.DuckDBPyConnection,
    ent: Entity,
    role: str,
    policies: PolicySet,
    history: bool = False,
) -> GovernedView:
    """Create or replace `governed.<role>_<entity>[_history]` in one transaction."""
    view = governed_view(ent, role, policies, history)
    create_view(conn, view.name, view.select_sql)
    return view


def golden_table_exists(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether identity resolution has made `mastered.golden_customer` (a full build does)."""
    return bool(
        conn.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [GOLDEN_SCHEMA, GOLDEN_ENTITY.name],
        ).fetchone()[0]
    )


def build_governed_views(
    conn: duckdb.DuckDBPyConnection, policies: PolicySet, roles: tuple[str, ...] = ROLES
) -> list[GovernedView]:
    """Every role's views of every entity with PII, of its history, and of the golden
    customer once identity resolution has made its table."""
    golden = golden_table_exists(conn)
    return [
        build_governed_view(conn, ent, role, policies, history)
        for role in roles
        for ent, history in (*governed_sources(), *(((GOLDEN_ENTITY, False),) if golden else ()))
    ]


def governed_key(role: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey([GOVERNED_SCHEMA, view_name(role, entity)])


def _declared_schema(ent: Entity, history: bool = False) -> dg.TableSchema:
    """Before a run: the columns and their PII tags (the masks are known once it ran).

    The columns a role may read masked (PII, and the join keys tokenised for roles without
    clear PII) are tagged `masked`: the catalog scanner counts the view's rows but does
    not profile them. Their data is the mastered column's, profiled there; profiling the
    mask would compute it for every row (a keyed hash is two SHA-256 per value, most of a
    scan at a million customers) to learn what the base profile says already.
    """
    columns = [
        dg.TableColumn(
            name=c.name,
            type=c.type,
            description=c.description,
            tags={
                **({"pii": c.pii} if c.pii else {}),
                **({MASKED_TAG: MASKED_VALUE} if c.pii or c.name in TOKENISED_KEYS else {}),
            },
        )
        for c in ent.columns
    ]
    return dg.TableSchema(columns=columns + _extra_columns(ent, history))


def _lineage(ent: Entity, history: bool = False) -> dg.TableColumnLineage:
    src = history_key(ent) if history else mastered_key(ent.name)
    names = [*ent.column_names, *(HISTORY_DOCS if history else ())]
    deps = {c: [dg.TableColumnDep(asset_key=src, column_name=c)] for c in names}
    if flags_pending(ent, history):  # from the pending corrections mastering writes, by key
        deps[PENDING_FLAG] = [dg.TableColumnDep(asset_key=src, column_name=ent.key)]
    return dg.TableColumnLineage(deps)


def build_governed_asset(role: str, ent: Entity, history: bool = False) -> dg.AssetsDefinition:
    source = source_name(ent, history)
    name = view_name(role, source)
    grain = (
        f"one row per valid version of a {ent.name}, with valid_from/valid_to"
        if history
        else ent.grain
    )

    @dg.asset(
        key=governed_key(role, source),
        group_name=GOVERNED_SCHEMA,
        owners=[OWNER],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        deps=[history_key(ent) if history else mastered_key(ent.name)],
        description=(
            f"What a user with role {role} may read of {source}. Grain: {grain}. "
            f"A view over mastered.{source}: non-PII columns pass; each PII column is "
            f"masked by the policy of {POLICY_FILE.name} that wins for the role and the "
            "column's tag (lowest priority number), or redacted when none grants it."
        ),
        metadata={
            "dagster/table_name": table_name(GOVERNED_SCHEMA, name),
            "dagster/column_schema": _declared_schema(ent, history),
            "dagster/column_lineage": _lineage(ent, history),
            "role": role,
        },
    )
    def _governed(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        masking_key: MaskingKeyResource,
    ) -> dg.MaterializeResult:
        # Validate before opening the warehouse: a bad file or no key must change nothing.
        policies = load_policies()
        key = masking_key.get()
        view = governed_view(ent, role, policies, history)
        with warehouse.open_engine() as engine:
            if ent is GOLDEN_ENTITY and not engine.present([(GOLDEN_SCHEMA, ent.name)]):
                raise dg.Failure(
                    f"mastered.{ent.name} does not exist yet: materialize the identity "
                    "assets first (fs-accelerator build builds them; --select "
                    "'group:identity')"
                )
            # DuckDB: a view over the mastered tables; Spark: a Parquet table written from
            # the same statement, published behind its manifest.
            rows = engine.write_governed(view.name, view.select_sql, key)
        masks = {c.name: f"{c.operator} ({c.policy})" for c in view.columns if c.pii}
        context.log.info(f"governed.{name} for role {role}: {masks}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rows),
                "dagster/column_schema": view.column_schema(),
                "policies": dg.MetadataValue.json(view.policies_json()),
                "masking_key_id": dg.MetadataValue.text(key.key_id),
            }
        )

    return _governed


def _lead_list_schema() -> dg.TableSchema:
    """The lead list's columns; cust_id and the contact details tagged `masked` (as in the
    governed customer views), so the catalog counts them but never profiles the masks."""
    masked = {MASKED_TAG: MASKED_VALUE}
    customer = {c.name: c for c in CUSTOMER.columns}
    columns = [
        dg.TableColumn("cust_id", "VARCHAR", customer["cust_id"].description, tags=masked),
        *(dg.TableColumn(name, "VARCHAR") for name in LEAD_FIELDS),
        *(
            dg.TableColumn(
                c, "VARCHAR", customer[c].description, tags={"pii": customer[c].pii, **masked}
            )
            for c in CONTACT_COLUMNS
        ),
        *(
            dg.TableColumn(c, "VARCHAR", customer[c].description)
            for c in ("marketing_consent", "do_not_contact")
        ),
    ]
    return dg.TableSchema(columns=columns)


def build_lead_list_asset(role: str) -> dg.AssetsDefinition:
    """`governed.<role>_leads`: the sales lead list as the role may read it."""

    @dg.asset(
        key=governed_key(role, LEADS),
        group_name=GOVERNED_SCHEMA,
        owners=[OWNER],
        kinds={"duckdb"},
        pool=WAREHOUSE_POOL,
        deps=[mastered_key("customer"), CROSS_SELL_KEY],
        description=(
            f"The sales lead list for role {role}: per person with a recommended card "
            "(none they hold on any core record), the cust_id of their person record, card, "
            "reason and campaign stage (the furthest on any of their records); e-mail and "
            "mobile only for people with marketing consent and no do-not-contact request on "
            "any record, masked as the role's governed customer view masks them."
        ),
        metadata={
            "dagster/table_name": table_name(GOVERNED_SCHEMA, view_name(role, LEADS)),
            "dagster/column_schema": _lead_list_schema(),
            "role": role,
        },
    )
    def _leads(
        warehouse: WarehouseResource, masking_key: MaskingKeyResource
    ) -> dg.MaterializeResult:
        policies = load_policies()
        key = masking_key.get()
        view = governed_view(CUSTOMER, role, policies)
        sql = lead_list_sql({c.name: c.sql for c in view.columns}, view.row_filter)
        table, name = leads_table(role), view_name(role, LEADS)
        counts = f"select count(*), count(email_addr) from {table}"
        with warehouse.open_engine() as engine:  # a view, or a Parquet table on Spark
            engine.write_governed(name, sql, key)
            # A DuckDB view computes its masks with the key; Spark stored them.
            with engine.reading(key) as reader:
                rows, contacts = reader.execute(counts).fetchone()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rows),
                "with_contact_details": dg.MetadataValue.int(contacts),
                "masking_key_id": dg.MetadataValue.text(key.key_id),
            }
        )

    return _leads


def same_rows_views(policies: PolicySet) -> dict[str, SameRows]:
    """The governed views that hold every row of their mastered source (the role has no
    row filter), with the columns they pass through unchanged (non-PII, and a history
    view's validity interval), the golden customer's included: the catalog scanner takes
    those columns' profile from the source's instead of scanning the same values once per
    role; the pending-correction flag, the same SQL in each, is profiled in the first view
    (by name) over the source and copied to the others."""
    views: dict[str, SameRows] = {}
    first: dict[str, str] = {}  # source -> the first view (by name) over it
    for role in sorted(ROLES, key=lambda r: view_name(r, "")):
        for ent, history in (*governed_sources(), (GOLDEN_ENTITY, False)):
            view = governed_view(ent, role, policies, history)
            if view.row_filter:
                continue
            passed = {c.name for c in view.columns if c.pii is None and c.operator is None}
            schema = GOLDEN_SCHEMA if ent is GOLDEN_ENTITY else MASTERED_SCHEMA
            source = f"{schema}.{source_name(ent, history)}"
            name = f"{GOVERNED_SCHEMA}.{view.name}"
            flag = flags_pending(ent, history)
            sibling = first.setdefault(source, name) if flag else None
            views[name] = SameRows(
                source,
                frozenset(passed | (set(HISTORY_DOCS) if history else set())),
                shared=frozenset({PENDING_FLAG}) if sibling not in (None, name) else frozenset(),
                sibling=sibling if sibling != name else None,
            )
    return views


GOVERNED_ASSETS = [
    *(
        build_governed_asset(role, ent, history)
        for role in ROLES
        for ent, history in governed_sources()
    ),
    *(build_governed_asset(role, GOLDEN_ENTITY) for role in ROLES),
    *(build_lead_list_asset(role) for role in LEAD_LIST_ROLES),
]
