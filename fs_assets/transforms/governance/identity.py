"""Who is asking: OS accounts and services mapped to roles by `policies/identities.yaml`.

A role is not a command-line claim: `--role` only narrows what the caller holds. The
caller is the OS account of the process (its effective user id, not $USER), or a service
named by FS_ACCELERATOR_IDENTITY when that account may run as the service. The owner of
the data folder holds the file's `data_folder_owner` roles unless listed under `users`.
"""

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from fs_assets.transforms.governance.policies import POLICY_DIR, ROLES, role_hint

IDENTITY_FILE = POLICY_DIR / "identities.yaml"
ENV_IDENTITY = "FS_ACCELERATOR_IDENTITY"  # a service's name; honoured for its run_as only


class IdentityError(PermissionError):
    """The caller may not act as the role: the message says who holds what."""

    def __str__(self) -> str:
        return str(self.args[0])


def _roles(roles: list[str]) -> list[str]:
    for r in roles:
        if r not in ROLES:
            raise ValueError(f"unknown role {r!r}; known: {', '.join(ROLES)}{role_hint(r)}")
    return roles


class _Service(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    roles: list[str]
    run_as: list[str]

    @field_validator("roles")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _roles(v)


class _IdentityFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = "v1"
    data_folder_owner: list[str] = []
    users: dict[str, list[str]] = {}
    services: dict[str, _Service] = {}

    @field_validator("data_folder_owner")
    @classmethod
    def _owner_roles(cls, v: list[str]) -> list[str]:
        return _roles(v)

    @field_validator("users")
    @classmethod
    def _user_roles(cls, users: dict[str, list[str]]) -> dict[str, list[str]]:
        for roles in users.values():
            _roles(roles)
        return users


@dataclass(frozen=True)
class Identity:
    """The caller: `name` as audited, the OS account, and the roles it holds."""

    name: str
    os_user: str
    roles: tuple[str, ...]
    source: str  # how it was mapped: user, data folder owner, service

    def narrow(self, role: str) -> str:
        """`role` if the caller holds it; IdentityError naming who holds what otherwise."""
        if role in self.roles:
            return role
        held = ", ".join(self.roles) if self.roles else "no role"
        raise IdentityError(
            f"{self.name} ({self.source}) may not act as {role!r}: it holds {held} in "
            f"{IDENTITY_FILE.name}; ask its owner to grant the role, or use one you hold"
        )


def load_identities(path: Path | None = None) -> _IdentityFile:
    path = path or IDENTITY_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise IdentityError(f"{path}: cannot read the identity file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise IdentityError(f"{path}: not valid YAML: {exc}") from None
    try:
        return _IdentityFile.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise IdentityError(f"{path}: {problems}") from None


def os_user() -> str:
    """The login name of the process's effective user id (not $USER, which is settable)."""
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def current_identity(
    home: Path, path: Path | None = None, env: dict[str, str] | None = None
) -> Identity:
    """The caller of this process and its roles; a service claim its account may not make
    is an IdentityError."""
    env = dict(os.environ) if env is None else env
    ids = load_identities(path)
    user = os_user()
    service = env.get(ENV_IDENTITY)
    if service:
        svc = ids.services.get(service)
        if svc is None:
            known = ", ".join(ids.services) or "none"
            raise IdentityError(
                f"{ENV_IDENTITY}={service!r} names no service in {IDENTITY_FILE.name} "
                f"(services: {known}); unset it to act as {user}"
            )
        if user not in svc.run_as:
            raise IdentityError(
                f"{user} may not act as service {service!r}: only {', '.join(svc.run_as)} "
                f"may ({IDENTITY_FILE.name}, services.{service}.run_as)"
            )
        return Identity(f"service:{service}", user, tuple(svc.roles), "service")
    if user in ids.users:
        return Identity(user, user, tuple(ids.users[user]), "user")
    try:
        owner = home.stat().st_uid == os.geteuid()
    except OSError:
        owner = False
    if owner:
        return Identity(user, user, tuple(ids.data_folder_owner), "data folder owner")
    return Identity(user, user, (), "not listed")
