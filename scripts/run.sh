#!/usr/bin/env bash
# The main command: set up, generate sample data, materialize the whole asset graph with
# all checks into the embedded DuckDB warehouse, print where to look.
#   bash scripts/run.sh            # 10,000 customers (CUSTOMERS=N to change), with about
#                                  # 0.3% faulty rows (ERROR_RATE=R to change, 0 for none)
#   bash scripts/run.sh --ui       # ... then start the Dagster UI on the same instance
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh runtime
# Real feeds carry faults; the sample data does too, so quarantine has work to show.
fs-accelerator generate --customers "${CUSTOMERS:-10000}" --seed "${SEED:-42}" \
  --error-rate "${ERROR_RATE:-0.003}" --sources
# The governed views hash PII with a secret key. Without one configured, the sample setup
# makes a local key file (0600, in the data folder) and says so; production sets
# FS_ACCELERATOR_MASKING_KEY (or ..._KEY_FILE) from its secret store instead.
if [ -z "${FS_ACCELERATOR_MASKING_KEY:-}" ] && [ -z "${FS_ACCELERATOR_MASKING_KEY_FILE:-}" ]; then
  fs-accelerator masking-key  # later commands (ui, export) find it in the data folder
fi
fs-accelerator build
if [ "${1:-}" = "--ui" ]; then
  exec fs-accelerator ui
fi
