"""`fs-accelerator export --role ROLE` and `fs-accelerator query --role ROLE "SQL"`."""

import argparse
import sys
from typing import Any

import duckdb

from fs_assets.governance.export import (
    ExportError,
    ExportMissingError,
    export_role,
    exported_tables,
    query_role,
)
from fs_assets.governance.policies import ROLES, UnknownRoleError
from fs_assets.paths import data_paths
from resources.warehouse import WarehouseLockTimeout


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _export(args: argparse.Namespace) -> int:
    paths = data_paths(getattr(args, "home", None))
    try:
        path = export_role(paths, args.role)
        tables = exported_tables(paths, args.role)
    except (UnknownRoleError, ExportError, FileNotFoundError) as exc:
        return _error(str(exc), 2)
    except (WarehouseLockTimeout, duckdb.Error) as exc:
        return _error(f"export failed: {exc}", 1)
    print(f"exported role {args.role} to {path}")
    for name, rows in tables:
        print(f"  {name:40} {rows:>12,} rows")
    if tables:
        example = f"select * from {tables[0][0].split('.', 1)[-1]} limit 5"
        print(f'query it: fs-accelerator query --role {args.role} "{example}"  (or "show tables")')
    return 0


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
        columns, rows = query_role(paths, args.role, args.sql, limit=limit)
    except (UnknownRoleError, ExportMissingError) as exc:
        return _error(str(exc), 2)
    except duckdb.Error as exc:
        return _error(f"query failed: {exc}", 1)
    if not columns:
        print("OK")
        return 0
    shown = rows if limit is None else rows[: args.max_rows]
    _print_table(columns, shown)
    more = " (more not shown; raise --max-rows)" if len(rows) > len(shown) else ""
    print(f"({len(shown)} rows{more})")
    return 0


def add_governance_commands(subparsers: Any) -> None:
    """Register `export` and `query` on the `fs-accelerator` subparsers."""
    e = subparsers.add_parser(
        "export", help="write a role's governed tables to <data folder>/exports/<role>.duckdb"
    )
    e.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    e.set_defaults(func=_export)

    qp = subparsers.add_parser("query", help="run SQL on a role's export (read-only)")
    qp.add_argument("--role", required=True, help=f"one of: {', '.join(ROLES)}")
    qp.add_argument("sql", help='e.g. "show tables", or "select * from analyst_customer limit 5"')
    qp.add_argument(
        "--max-rows", type=int, default=1000, help="rows to print at most (0: all); default 1000"
    )
    qp.set_defaults(func=_query)
