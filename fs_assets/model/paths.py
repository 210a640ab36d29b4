"""Where the project keeps what it writes: one data folder, resolved when used.

`FS_ACCELERATOR_HOME` names the folder; without it, `./data` of the checkout. Everything
lives below it: the landing zone, the DuckDB warehouse, the Dagster instance, lineage,
exports and reports. Nothing here is read at import time, so tests can point the project
at a temporary folder by setting the variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "FS_ACCELERATOR_HOME"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DataPaths:
    """The layout of one data folder."""

    home: Path

    @classmethod
    def of_warehouse(cls, warehouse: Path) -> DataPaths:
        """The data folder a warehouse file lives in (its reports and exports sit beside it)."""
        return cls(warehouse.parent)

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def rejected(self) -> Path:
        return self.landing / "_rejected"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def warehouse_dir(self) -> Path:
        """Files the warehouse exports for other engines (Hive-style Parquet)."""
        return self.home / "warehouse"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster_home"

    @property
    def lineage(self) -> Path:
        return self.home / "lineage"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def identity_model(self) -> Path:
        """The trained identity linkage model (Splink JSON; parameters only, owner-only)."""
        return self.home / "identity" / "linkage_model.json"

    @property
    def exports(self) -> Path:
        """One DuckDB file per role, holding only that role's governed views."""
        return self.home / "exports"

    def landing_dir(self, entity: str) -> Path:
        return self.landing / entity


def data_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: the explicit one, else $FS_ACCELERATOR_HOME, else ./data."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return PROJECT_ROOT / "data"


def data_paths(explicit: str | os.PathLike[str] | None = None) -> DataPaths:
    return DataPaths(data_home(explicit))
