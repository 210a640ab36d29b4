"""`fs-accelerator export --role ROLE`, `query --role ROLE "SQL"` and `audit verify`.

`--role` only narrows: the caller (identity.py) must hold the role. Every export and
query, allowed or not, appends one entry to the audit log (audit.py).
"""

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import duckdb

from fs_assets.model.paths import data_paths
from fs_assets.transforms.duckdb_file import WarehouseLockTimeout
from fs_assets.transforms.governance import audit
from fs_assets.transforms.governance.export import (
    EXPORT_INFO,
    QUERY_MEMORY_LIMIT,
    QUERY_TIMEOUT_S,
    ExportError,
    ExportMissingError,
    QueryLimitError,
    export_key_id,
    export_role,
    exported_tables,
    query_role,
)
from fs_assets.transforms.governance.identity import (
    Identity,
    IdentityError,
    current_identity,
    os_user,
)
from fs_assets.transforms.governance.masking_key import (
    ENV_KEY_FILE,
    MaskingKeyError,
    create_sample_key,
    sample_key_path,
)
from fs_assets.transforms.governance.policies import ROLES, UnknownRoleError
from resources.warehouse import resolved_warehouse


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _caller(home: Path, role: str, action: str, statement: str | None) -> Identity:
    """The caller, if it holds `role`; a refusal is audited and raised."""
    try:
        who = current_identity(home)
    except IdentityError as exc:
        audit.append(home, action=action, identity="(unresolved)", os_user=os_user(),
                     role=role, statement=statement, rows=None, masking_key_id=None,
                     status=audit.DENIED, error=str(exc))  # fmt: skip
        raise
    try:
        if role in ROLES:  # an unknown role fails later with its did-you-mean
            who.narrow(role)
        return who
    except IdentityError as exc:
        audit.append(home, action=action, identity=who.name, os_user=who.os_user, role=role,
                     statement=statement, rows=None, masking_key_id=None,
                     status=audit.DENIED, error=str(exc))  # fmt: skip
        raise


def _record(home: Path, who: Identity, **fields: Any) -> None:
    audit.append(home, identity=who.name, os_user=who.os_user, **fields)


def _audited(command: Any) -> Any:
    """An export or query that could not be audited prints nothing and exits 1."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except audit.AuditWriteError as exc:
            return _error(str(exc), 1)

    return run


def _export(args: argparse.Namespace) -> int:
    paths = data_paths(getattr(args, "home", None))
    try:
        who = _caller(paths.home, args.role, "export", None)
    except IdentityError as exc:
        return _error(str(exc), 3)
    try:
        # On the spark engine the governed tables are Parquet versions behind manifests.
        parquet = resolved_warehouse(str(paths.home)).governed_parquet()
        path = export_role(paths, args.role, parquet=parquet)
        tables = exported_tables(paths, args.role)
        key_id = export_key_id(paths, args.role)
    except (UnknownRoleError, ExportError, FileNotFoundError, MaskingKeyError) as exc:
        _record(paths.home, who, action="export", role=args.role, statement=None, rows=None,
                masking_key_id=None, status=audit.ERROR, error=str(exc))  # fmt: skip
        return _error(str(exc), 2)
    except (WarehouseLockTimeout, duckdb.Error) as exc:
        _record(paths.home, who, action="export", role=args.role, statement=None, rows=None,
                masking_key_id=None, status=audit.ERROR, error=str(exc))  # fmt: skip
        return _error(f"export failed: {exc}", 1)
    total = sum(n for name, n in tables if not name.endswith(f".{EXPORT_INFO}"))
    _record(paths.home, who, action="export", role=args.role, statement=None, rows=total,
            masking_key_id=key_id, status=audit.OK)  # fmt: skip
    print(f"exported role {args.role} to {path} (masking key id {key_id})")
    for name, rows in tables:
        print(f"  {name:40} {rows:>12,} rows")
    data = [name for name, _ in tables if not name.endswith(f".{EXPORT_INFO}")]
    if data:
        example = f"select * from {data[0].split('.', 1)[-1]} limit 5"
        print(f'query it: fs-accelerator query --role {args.role} "{example}"  (or "show tables")')
    return 0


_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _memory(text: str) -> str:
    if not _MEMORY.match(text.strip()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a memory size such as 512MB or 2GB")
    return text.strip()


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _print_table(columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _query(args: argparse.Namespace) -> int:
    paths = data_paths(getattr(args, "home", None))
    limit = args.max_rows + 1 if args.max_rows > 0 else None
    try:
        who = _caller(paths.home, args.role, "query", args.sql)
    except IdentityError as exc:
        return _error(str(exc), 3)
    entry = {"action": "query", "role": args.role, "statement": args.sql}
    try:
        key_id = export_key_id(paths, args.role)
    except (UnknownRoleError, ExportMissingError, duckdb.Error):
        key_id = None
    try:
        columns, rows = query_role(
            paths,
            args.role,
            args.sql,
            limit=limit,
            timeout_s=args.timeout,
            memory_limit=args.memory_limit,
        )
    except (UnknownRoleError, ExportMissingError) as exc:
        _record(paths.home, who, **entry, rows=None, masking_key_id=key_id,
                status=audit.ERROR, error=str(exc))  # fmt: skip
        return _error(str(exc), 2)
    except QueryLimitError as exc:
        _record(paths.home, who, **entry, rows=None, masking_key_id=key_id,
                status=audit.ERROR, error=str(exc))  # fmt: skip
        return _error(str(exc), 1)
    except duckdb.Error as exc:
        _record(paths.home, who, **entry, rows=None, masking_key_id=key_id,
                status=audit.ERROR, error=str(exc))  # fmt: skip
        return _error(f"query failed: {exc}", 1)
    _record(paths.home, who, **entry, rows=len(rows), masking_key_id=key_id, status=audit.OK)
    if not columns:
        print("OK")
        return 0
    shown = rows if limit is None else rows[: args.max_rows]
    _print_table(columns, shown)
    more = " (more not shown; raise --max-rows)" if len(rows) > len(shown) else ""
    print(f"({len(shown)} rows{more})")
    return 0


def _masking_key(args: argparse.Namespace) -> int:
    path = sample_key_path(data_paths(getattr(args, "home", None)).home)
    try:
        created = create_sample_key(path)
    except MaskingKeyError as exc:
        return _error(str(exc), 2)
    except OSError as exc:
        return _error(f"cannot write the sample masking key {path}: {exc.strerror}", 1)
    state = "created a new" if created else "kept the existing"
    print(f"{state} sample masking key file {path} (mode 0600; the key is not shown)")
    print(
        f"use it: export {ENV_KEY_FILE}={shlex.quote(str(path))}   "
        "(in production, set the key from a secret store)"
    )
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    home = data_paths(getattr(args, "home", None)).home
    try:
        result = audit.verify(home)
    except audit.AuditError as exc:
        return _error(f"audit log does not verify: {exc}", 1)
    print(f"audit log verified: {result.entries} entries, chain intact ({audit.log_path(home)})")
    return 0


def add_governance_commands(subparsers: Any) -> None:
    """Register `export`, `query`, `audit` and `masking-key` on the `fs-accelerator` subparsers."""
    au = subparsers.add_parser("audit", help="the audit log of exports and queries")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    av = au_sub.add_parser("verify", help="re-compute the audit log's hash chain")
    av.set_defaults(func=_audit_verify)

    e = subparsers.add_parser(
        "export", help="write a role's governed tables to <data folder>/exports/<role>.duckdb"
    )
    e.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    e.set_defaults(func=_audited(_export))

    qp = subparsers.add_parser("query", help="run SQL on a role's export (read-only)")
    qp.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    qp.add_argument("sql", help='e.g. "show tables", or "select * from analyst_customer limit 5"')
    qp.add_argument(
        "--max-rows", type=int, default=1000, help="rows to print at most (0: all); default 1000"
    )
    qp.add_argument(
        "--timeout",
        type=_seconds,
        default=QUERY_TIMEOUT_S,
        help=f"stop the query after this many seconds; default {QUERY_TIMEOUT_S:g}",
    )
    qp.add_argument(
        "--memory-limit",
        type=_memory,
        default=QUERY_MEMORY_LIMIT,
        help=f"memory the query may use, e.g. 512MB, 2GB; default {QUERY_MEMORY_LIMIT}",
    )
    qp.set_defaults(func=_audited(_query))

    mk = subparsers.add_parser(
        "masking-key",
        help="sample setup only: create <data folder>/secrets/masking.key (0600) if missing",
    )
    mk.set_defaults(func=_masking_key)
