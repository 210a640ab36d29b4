"""The landing zone: one folder per entity on the local file system.

Source systems (or `fs-accelerator generate` / `update-customer`) drop files here; files
are immutable once landed. Paths resolve when used, from the project's data folder.
"""

import datetime as dt
import json
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from fs_assets.model.file_modes import DIR_MODE, make_owner_only, owner_only_umask
from fs_assets.model.paths import data_paths
from fs_assets.transforms.landing_files import LandingListing, list_landing, move_file


class LandingZoneResource(dg.ConfigurableResource):
    """Where landing files for each entity arrive."""

    home: str | None = Field(
        default=None,
        description="Data folder; empty means $FS_ACCELERATOR_HOME, else ./data of the checkout.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        owner_only_umask()  # rejected files and their reports are owner-only

    @property
    def root(self) -> Path:
        return data_paths(self.home).landing

    @property
    def rejected_dir(self) -> Path:
        return data_paths(self.home).rejected

    def entity_dir(self, entity: str) -> Path:
        path = self.root / entity
        path.mkdir(parents=True, exist_ok=True)
        return path

    def move_aside(self, entity: str, path: Path, report: dict) -> Path:
        """Move an unreadable file to _rejected/<entity>/ with a JSON report beside it.

        `_rejected` may be on another mount: the move then copies and deletes.
        """
        folder = self.rejected_dir / entity
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        make_owner_only(self.rejected_dir)
        make_owner_only(folder)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{stamp}_{path.name}"
        move_file(path, target)
        make_owner_only(target)  # it keeps the mode it was landed with otherwise
        report_path = target.with_name(target.name + ".report.json")
        tmp = report_path.with_name("." + report_path.name + ".tmp")
        tmp.write_text(json.dumps({**report, "moved_to": str(target)}, indent=2) + "\n")
        make_owner_only(tmp)
        os.replace(tmp, report_path)
        return target

    def list_files(self, entity: str) -> list[Path]:
        """Data files of one entity, oldest name first (names sort in landing order)."""
        return self.listing(entity).files

    def listing(self, entity: str) -> LandingListing:
        """Data files, refused symlinks and sub-folders of one entity's folder."""
        return list_landing(self.entity_dir(entity))
