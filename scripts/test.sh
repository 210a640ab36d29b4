#!/usr/bin/env bash
# The test command: set up, lint, then every test (fast and slow end-to-end ones).
#   bash scripts/test.sh             # everything, as CI runs it
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh
ruff check .
ruff format --check .
python -m pytest "$@"
