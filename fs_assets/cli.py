"""The console entry point `fs-accelerator` (a stable path for installed scripts); the
command line itself is `fs_assets/app/cli.py`."""

from fs_assets.app.cli import main

__all__ = ["main"]
