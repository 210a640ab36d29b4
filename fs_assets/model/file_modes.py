"""Owner-only files: everything the project writes under the data folder holds or
derives from personal data (the warehouse, exports, the key file, rejected landing files
and their reports, the country/state Parquet layout), so other users get no access.

`owner_only_umask` is set once at startup (the CLI, and every resource before a step
runs), so files DuckDB, pyarrow or Dagster create are 0600 and folders 0700;
`make_owner_only` fixes files made before it, or by a process with a looser umask.
"""

import os
import stat
from pathlib import Path

OWNER_ONLY_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def owner_only_umask() -> None:
    """Remove group and other permission bits from everything this process creates."""
    current = os.umask(OWNER_ONLY_UMASK)
    os.umask(current | OWNER_ONLY_UMASK)  # keep any stricter bits already set


def make_owner_only(path: Path) -> None:
    """chmod an existing file to 0600 or folder to 0700; a file we do not own is left alone
    (chmod would fail; its owner decides)."""
    try:
        mode = path.stat().st_mode
        os.chmod(path, DIR_MODE if stat.S_ISDIR(mode) else FILE_MODE)
    except FileNotFoundError:
        return
    except PermissionError:
        return
