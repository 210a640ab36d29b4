"""The masking policies: loaded from `policies/masking.yaml`, validated, resolved per role.

The file holds the seed's DataOS policy manifests, one per YAML document, in their shape:
`policy.data.priority`, `selector.user.tags` (`roles:id:<role>`), `selector.column.tags`
(the entity model's PII tags) and `mask.operator` with its options. Everything is checked
on load, and a bad file raises `PolicyError` naming the file and the policy before any
view is touched, so what was built from the last good file stays as it was.

Priority: as in DataOS, the policy with the LOWEST priority number wins. Of the policies
that select a user (by any of their roles) and a column tag, the one with the smallest
number decides the mask. Consequence: a user holding both `pii-reader` (75) and
`restricted-acess` (80) sees PII in clear (pass_through), and one holding `dob-bucketing`
(85) and `pii-reader` (75) sees exact dates of birth. A PII column that no policy grants
to any of a user's roles is redacted (default deny, see operators.redact_sql).

Two policies with the same priority that share a column tag must mask it the same way:
a user can hold both their roles, and nothing would say which one applies. The loader
rejects such a pair even when the roles differ; give one of them another number.

Row-level policies are DataOS `filter` policies: `policy.data.filters` lists conditions
(`column`, `operator` equals or in, `value`) that all hold for a row the role may read;
a role selected by several filter policies reads the rows of any of them, a role no
filter policy selects reads every row. Filter columns must have a closed value set in
the entity model (country, state, ...) and every value must be a member of it, so a view
body only ever carries model values.

One optional `type: settings` document holds what is not a policy: `unselected_users`
(`redact`, the default: a PII column no policy grants is redacted; `pass_through`: it is
read in clear, DataOS's behaviour) and the re-identification threshold (`k_anonymity`).
"""

import difflib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from fs_assets.model.columns import PII_TAGS
from fs_assets.model.entities import CUSTOMER, ENTITIES
from fs_assets.model.paths import PROJECT_ROOT
from fs_assets.model.places import country_state_pairs
from fs_assets.transforms.governance.operators import (
    BUCKET_DATE,
    DATE_PRECISIONS,
    DATE_TYPES,
    HASH,
    HASH_ALGOS,
    OPERATORS,
)

POLICY_DIR = PROJECT_ROOT / "policies"
POLICY_FILE = POLICY_DIR / "masking.yaml"

# The roles that get governed views. `restricted-acess` keeps the seed's spelling: it is
# the id the seed's policies select, and renaming it would silently unmask nobody.
RESTRICTED = "restricted-acess"
DOB_BUCKETING = "dob-bucketing"
PII_READER = "pii-reader"
ANALYST = "analyst"  # no policy grants it anything: every PII column is redacted for it
BRANCH_MAHARASHTRA = "branch-maharashtra"  # a row-level policy: India/Maharashtra only
SALES = "sales"  # the cross-sell lead list; contact details hashed (its mask policy)
ROLES = (RESTRICTED, DOB_BUCKETING, PII_READER, ANALYST, BRANCH_MAHARASHTRA, SALES)
# Roles whose governed tables (and export) include the sales lead list.
LEAD_LIST_ROLES = (SALES,)
DEFAULT_DENY = "default-deny"
UNSELECTED_PASS = "unselected-pass-through"  # policy name recorded for pass_through setting

# What a PII column no policy grants becomes (settings: unselected_users).
REDACT_UNSELECTED = "redact"
PASS_UNSELECTED = "pass_through"
UNSELECTED_USERS = (REDACT_UNSELECTED, PASS_UNSELECTED)
FILTER_OPERATORS = ("equals", "in")
# Re-identification: the smallest group a role's export may hold over its quasi-identifiers.
DEFAULT_K_THRESHOLD = 5
DEFAULT_QUASI_IDENTIFIERS = ("cust_dob", "pin", "gender", "minor_flag", "senior_citizen_flag")

_ROLE_TAG = re.compile(r"^roles:id:(?P<role>.+)$")


class PolicyError(ValueError):
    """A policy file that must not be enforced: the message names the file and the policy."""


class UnknownRoleError(KeyError):
    """A role no governed view exists for."""

    def __str__(self) -> str:
        return str(self.args[0])


def role_hint(role: str) -> str:
    """'; did you mean 'restricted-acess'?' for a near miss (case, _ for -, the usual
    spelling of the seed's role id), else ''."""
    close = difflib.get_close_matches(role.lower().replace("_", "-"), ROLES, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRoleError(
            f"unknown role {role!r}; known roles: {', '.join(ROLES)}{role_hint(role)}"
        )
    return role


# --- the manifest, as written in the file ---------------------------------------------


class _Strict(BaseModel):
    # A misspelt key (`operater:`) must fail, not fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HashOptions(_Strict):
    algo: str

    @field_validator("algo")
    @classmethod
    def _known_algo(cls, v: str) -> str:
        if v == "sha256":
            raise ValueError(
                "hash algo 'sha256' is unkeyed: a short value (a mobile, a PIN, a name) is "
                "reversed by hashing every candidate; use 'hmac-sha256'"
            )
        if v not in HASH_ALGOS:
            raise ValueError(f"unknown hash algo {v!r}; known: {', '.join(HASH_ALGOS)}")
        return v


class _BucketDateOptions(_Strict):
    precision: str

    @field_validator("precision")
    @classmethod
    def _known_precision(cls, v: str) -> str:
        if v not in DATE_PRECISIONS:
            raise ValueError(f"unknown date precision {v!r}; known: {', '.join(DATE_PRECISIONS)}")
        return v


class _Mask(_Strict):
    operator: str
    hash: _HashOptions | None = None
    bucket_date: _BucketDateOptions | None = None

    @field_validator("operator")
    @classmethod
    def _known_operator(cls, v: str) -> str:
        if v not in OPERATORS:
            raise ValueError(f"unknown operator {v!r}; known: {', '.join(OPERATORS)}")
        return v

    @model_validator(mode="after")
    def _options_match_operator(self) -> "_Mask":
        for name in (HASH, BUCKET_DATE):
            given = getattr(self, name) is not None
            if self.operator == name and not given:
                raise ValueError(f"operator {name} needs its options block `{name}:`")
            if self.operator != name and given:
                raise ValueError(f"options `{name}:` given but the operator is {self.operator}")
        return self


class _UserSelector(_Strict):
    match: Literal["any", "all"] = "any"
    tags: list[str]

    @field_validator("tags")
    @classmethod
    def _role_tags(cls, tags: list[str]) -> list[str]:
        if not tags:
            raise ValueError("at least one user tag is needed")
        for tag in tags:
            m = _ROLE_TAG.match(tag)
            if not m:
                raise ValueError(f"user tag {tag!r} is not of the form roles:id:<role>")
            if m["role"] not in ROLES:
                raise ValueError(
                    f"unknown role {m['role']!r} in {tag!r}; roles with governed views: "
                    f"{', '.join(ROLES)}{role_hint(m['role'])}"
                )
        return tags


class _ColumnSelector(_Strict):
    tags: list[str]

    @field_validator("tags")
    @classmethod
    def _pii_tags(cls, tags: list[str]) -> list[str]:
        if not tags:
            raise ValueError("at least one column tag is needed")
        for tag in tags:
            if tag not in PII_TAGS:
                raise ValueError(
                    f"unknown column tag {tag!r}; the entity model's PII tags: "
                    f"{', '.join(PII_TAGS)}"
                )
        return tags


class _Selector(_Strict):
    user: _UserSelector
    column: _ColumnSelector


class _Filter(_Strict):
    column: str
    operator: str = "equals"
    value: str | list[str]

    @field_validator("operator")
    @classmethod
    def _known_filter_operator(cls, v: str) -> str:
        if v not in FILTER_OPERATORS:
            raise ValueError(f"unknown filter operator {v!r}; known: {', '.join(FILTER_OPERATORS)}")
        return v

    @model_validator(mode="after")
    def _values_in_model(self) -> "_Filter":
        known = filter_values(self.column)
        if known is None:
            raise ValueError(
                f"filter column {self.column!r} has no closed value set in the entity "
                f"model; filterable: {', '.join(filterable_columns())}"
            )
        values = [self.value] if isinstance(self.value, str) else self.value
        if self.operator == "equals" and not isinstance(self.value, str):
            raise ValueError("operator equals takes one value; use operator in for a list")
        if not values:
            raise ValueError("operator in needs at least one value")
        for v in values:
            if v not in known:
                close = difflib.get_close_matches(v, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{v!r} is not a value of {self.column}{hint}")
        return self


class _UserOnlySelector(_Strict):
    user: _UserSelector


class _DataPolicy(_Strict):
    type: Literal["mask", "filter"]
    priority: int
    selector: _Selector | _UserOnlySelector
    mask: _Mask | None = None
    filters: list[_Filter] | None = None

    @model_validator(mode="after")
    def _body_matches_type(self) -> "_DataPolicy":
        if self.type == "mask":
            if self.mask is None or self.filters is not None:
                raise ValueError("a mask policy needs `mask:` and no `filters:`")
            if not isinstance(self.selector, _Selector):
                raise ValueError("a mask policy needs `selector.column.tags`")
        else:
            if not self.filters or self.mask is not None:
                raise ValueError("a filter policy needs `filters:` and no `mask:`")
        return self


class _PolicyBody(_Strict):
    data: _DataPolicy


class _Manifest(_Strict):
    version: str = "v1"
    name: str
    type: Literal["policy"]
    layer: str = "user"
    description: str = ""
    owner: str | None = None
    policy: _PolicyBody


class _KAnonymity(_Strict):
    threshold: int = DEFAULT_K_THRESHOLD
    quasi_identifiers: list[str] = list(DEFAULT_QUASI_IDENTIFIERS)

    @field_validator("threshold")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("k_anonymity.threshold must be at least 1")
        return v

    @field_validator("quasi_identifiers")
    @classmethod
    def _customer_columns(cls, cols: list[str]) -> list[str]:
        for c in cols:
            if c not in CUSTOMER.column_names:
                raise ValueError(f"quasi-identifier {c!r} is not a customer column")
        if not cols:
            raise ValueError("at least one quasi-identifier is needed")
        return cols


class _SettingsBody(_Strict):
    unselected_users: Literal["redact", "pass_through"] = "redact"
    k_anonymity: _KAnonymity = _KAnonymity()


class _SettingsManifest(_Strict):
    version: str = "v1"
    name: str
    type: Literal["settings"]
    description: str = ""
    settings: _SettingsBody


def filterable_columns() -> tuple[str, ...]:
    """Columns a row filter may name: those of the governed entity with a closed value set."""
    return tuple(c.name for c in CUSTOMER.columns if filter_values(c.name) is not None)


def filter_values(column: str) -> tuple[str, ...] | None:
    """The values a row filter on `column` may name; None: not filterable."""
    if column == "state":
        return tuple(sorted({s for _, s in country_state_pairs()}))
    if column not in CUSTOMER.column_names:
        return None
    values = CUSTOMER.column(column).values
    return tuple(values) if values else None


# --- the policy, as enforced ----------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One masking policy, flattened from its manifest."""

    name: str
    description: str
    priority: int
    roles: frozenset[str]
    match: str  # any: the user holds one of the roles; all: every one of them
    column_tags: frozenset[str]
    operator: str
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def selects(self, roles: Iterable[str]) -> bool:
        held = set(roles)
        return self.roles <= held if self.match == "all" else bool(self.roles & held)

    @property
    def mask(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.operator, tuple(sorted(self.options.items()))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "priority": self.priority,
            "roles": sorted(self.roles),
            "match": self.match,
            "column_tags": sorted(self.column_tags),
            "operator": self.operator,
            "options": self.options,
        }


@dataclass(frozen=True)
class RowFilter:
    """One filter policy: a role selected by it reads rows where every condition holds."""

    name: str
    roles: frozenset[str]
    match: str
    conditions: tuple[tuple[str, tuple[str, ...]], ...]  # (column, allowed values)

    def selects(self, roles: Iterable[str]) -> bool:
        held = set(roles)
        return self.roles <= held if self.match == "all" else bool(self.roles & held)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roles": sorted(self.roles),
            "conditions": {c: list(v) for c, v in self.conditions},
        }


@dataclass(frozen=True)
class Settings:
    """The settings document (defaults when the file has none)."""

    unselected_users: str = REDACT_UNSELECTED
    k_threshold: int = DEFAULT_K_THRESHOLD
    quasi_identifiers: tuple[str, ...] = DEFAULT_QUASI_IDENTIFIERS


@dataclass(frozen=True)
class PolicySet:
    """The validated policies of one file, and the rule that picks one."""

    source: Path
    policies: tuple[Policy, ...]
    filters: tuple[RowFilter, ...] = ()
    settings: Settings = Settings()

    def row_filters(self, roles: Iterable[str]) -> tuple[RowFilter, ...]:
        """The filter policies selecting a user with `roles`; empty: every row."""
        held = set(roles)
        return tuple(f for f in self.filters if f.selects(held))

    def row_filter_sql(self, roles: Iterable[str]) -> str | None:
        """A WHERE condition for the rows the user may read; None: every row.

        Columns and values were checked against the entity model's closed sets on load;
        they are quoted here as identifiers and literals all the same.
        """
        chosen = self.row_filters(roles)
        if not chosen:
            return None

        def literal(v: str) -> str:
            return "'" + v.replace("'", "''") + "'"

        ors = []
        for f in chosen:
            ands = [
                f'"{col}" in ({", ".join(literal(v) for v in values)})'
                for col, values in f.conditions
            ]
            ors.append("(" + " and ".join(ands) + ")")
        return " or ".join(ors)

    def resolve(self, roles: Iterable[str], column_tag: str) -> Policy | None:
        """The policy deciding `column_tag` for a user with `roles`; None means redact.

        The lowest priority number wins; equal numbers on a shared tag mask alike (checked on
        load), so the name only makes the choice deterministic.
        """
        held = set(roles)
        candidates = [p for p in self.policies if column_tag in p.column_tags and p.selects(held)]
        return min(candidates, key=lambda p: (p.priority, p.name), default=None)


def _flatten_filter(m: _Manifest) -> RowFilter:
    data = m.policy.data
    conditions = tuple(
        (f.column, (f.value,) if isinstance(f.value, str) else tuple(f.value))
        for f in data.filters or ()
    )
    return RowFilter(
        name=m.name,
        roles=frozenset(_ROLE_TAG.match(t)["role"] for t in data.selector.user.tags),
        match=data.selector.user.match,
        conditions=conditions,
    )


def _flatten(m: _Manifest) -> Policy:
    data = m.policy.data
    assert data.mask is not None and isinstance(data.selector, _Selector)  # checked on load
    options: dict[str, str] = {}
    if data.mask.hash is not None:
        options = {"algo": data.mask.hash.algo}
    if data.mask.bucket_date is not None:
        options = {"precision": data.mask.bucket_date.precision}
    return Policy(
        name=m.name,
        description=m.description,
        priority=data.priority,
        roles=frozenset(_ROLE_TAG.match(t)["role"] for t in data.selector.user.tags),
        match=data.selector.user.match,
        column_tags=frozenset(data.selector.column.tags),
        operator=data.mask.operator,
        options=options,
    )


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(document)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] in ("extra_forbidden", "literal_error", "int_parsing", "int_type"):
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def _check_columns(source: Path, p: Policy) -> None:
    """bucket_date only makes sense on dates: check it against the columns the tags mark."""
    if p.operator != BUCKET_DATE:
        return
    for ent in ENTITIES.values():
        for col in ent.columns:
            if col.pii in p.column_tags and col.type not in DATE_TYPES:
                raise PolicyError(
                    f"{source}: policy {p.name!r}: bucket_date needs DATE or TIMESTAMP "
                    f"columns, but {col.pii} marks {ent.name}.{col.name} ({col.type})"
                )


def _check_conflicts(source: Path, policies: list[Policy]) -> None:
    for a, b in itertools.combinations(policies, 2):
        shared = a.column_tags & b.column_tags
        if a.priority != b.priority or not shared or a.mask == b.mask:
            continue
        same_role = a.roles & b.roles
        who = (
            f"role {', '.join(sorted(same_role))}"
            if same_role
            else f"a user holding roles {', '.join(sorted(a.roles | b.roles))}"
        )
        raise PolicyError(
            f"{source}: policies {a.name!r} and {b.name!r} conflict: both have priority "
            f"{a.priority} for column tag {', '.join(sorted(shared))} but mask differently "
            f"({a.operator} vs {b.operator}) for {who}; give one of them another priority"
        )


def parse_policies(text: str, source: Path) -> PolicySet:
    """Validate the YAML text of a policy file; `source` is named in every error."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not docs:
        raise PolicyError(f"{source}: no policies in the file")
    policies: list[Policy] = []
    filters: list[RowFilter] = []
    settings: Settings | None = None
    names: set[str] = set()
    for n, doc in enumerate(docs, start=1):
        name = doc.get("name") if isinstance(doc, dict) else None
        label = f"policy {name!r} (document {n})" if name else f"document {n}"
        if not isinstance(doc, dict):
            raise PolicyError(f"{source}: {label}: expected a mapping, got {type(doc).__name__}")
        if name in names:
            raise PolicyError(f"{source}: {label}: the name is used twice")
        names.add(name)
        if doc.get("type") == "settings":
            if settings is not None:
                raise PolicyError(f"{source}: {label}: a second settings document")
            try:
                body = _SettingsManifest.model_validate(doc).settings
            except ValidationError as exc:
                raise PolicyError(f"{source}: {label}: {_explain(exc)}") from None
            settings = Settings(
                body.unselected_users,
                body.k_anonymity.threshold,
                tuple(body.k_anonymity.quasi_identifiers),
            )
            continue
        try:
            manifest = _Manifest.model_validate(doc)
        except ValidationError as exc:
            raise PolicyError(f"{source}: {label}: {_explain(exc)}") from None
        if manifest.policy.data.type == "filter":
            filters.append(_flatten_filter(manifest))
            continue
        policy = _flatten(manifest)
        _check_columns(source, policy)
        policies.append(policy)
    _check_conflicts(source, policies)
    return PolicySet(
        source=source,
        policies=tuple(policies),
        filters=tuple(filters),
        settings=settings or Settings(),
    )


def load_policies(path: Path | None = None) -> PolicySet:
    """Read and validate a policy file (default: policies/masking.yaml of the checkout)."""
    path = path or POLICY_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc.strerror}") from None
    return parse_policies(text, path)


def resolve(roles: set[str], column_tag: str, policies: PolicySet | None = None) -> Policy | None:
    """The policy deciding `column_tag` for a user holding `roles` (None: redacted)."""
    return (policies or load_policies()).resolve(roles, column_tag)
