"""Static SQL kept in `.sql` files beside the transforms that run it.

A file names the tables it reads as `{placeholders}` filled from the model's constants
(identifiers and SQL fragments the code builds, never data); values stay `?` parameters.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def _text(package: str, name: str) -> str:
    return (resources.files(package) / "sql" / name).read_text(encoding="utf-8")


def load_sql(package: str, name: str, **names: str) -> str:
    """`<package>/sql/<name>` with its `{placeholders}` filled; a missing one is a KeyError."""
    return _text(package, name).format_map(names)
