#!/usr/bin/env bash
# The test command: set up, lint, then every test (fast and slow end-to-end ones).
#   bash scripts/test.sh             # everything, as CI runs it
#   bash scripts/test.sh -m "not slow"   # extra arguments go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh dev
# The browser test drives Debian's Chromium (Playwright does not download a browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo ">> installing chromium for the browser test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo ">> chromium not found and cannot be installed here: the browser test will fail" >&2
  fi
fi
ruff check .
ruff format --check .
python -m pytest "$@"
