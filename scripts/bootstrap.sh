#!/usr/bin/env bash
# Create .venv (if missing) and install the project into it with the extras asked for.
# Sourced by run.sh, test.sh and the Makefile, always with the extras spelled out:
#   source scripts/bootstrap.sh runtime     # the project and its runtime dependencies only
#   source scripts/bootstrap.sh dev         # ... plus an extra of pyproject.toml (dev, spark)
# One stamp per installed set (.venv/.fs-accelerator-installed.<set>) holds the hash of
# pyproject.toml it was installed from: a set is installed again only when its stamp is
# missing or stale. Every extra also installs the runtime, so run.sh after test.sh installs
# nothing, and test.sh after run.sh adds the dev extra to the same venv.
set -euo pipefail
if [ "$#" -ne 1 ] || ! [[ "$1" =~ ^[a-z][a-z0-9_-]*$ ]]; then
  echo "usage: source scripts/bootstrap.sh runtime|<extra>   (got: $*)" >&2
  return 2 2>/dev/null || exit 2
fi
FS_SET="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo ">> creating $ROOT/.venv with $PY"
  "$PY" -m venv "$ROOT/.venv"
fi
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
fs_stamp_ok() { [ -f "$ROOT/.venv/.fs-accelerator-installed.$1" ] \
  && [ "$(cat "$ROOT/.venv/.fs-accelerator-installed.$1")" = "$WANT" ]; }
if ! fs_stamp_ok "$FS_SET"; then
  TARGET="$ROOT"
  [ "$FS_SET" = runtime ] || TARGET="$ROOT[$FS_SET]"
  echo ">> installing fs-accelerator ($FS_SET) into .venv"
  "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
  "$ROOT/.venv/bin/python" -m pip install --quiet -e "$TARGET"
  echo "$WANT" > "$ROOT/.venv/.fs-accelerator-installed.$FS_SET"
  echo "$WANT" > "$ROOT/.venv/.fs-accelerator-installed.runtime"
fi
unset -f fs_stamp_ok
unset FS_SET TARGET
export PATH="$ROOT/.venv/bin:$PATH"
