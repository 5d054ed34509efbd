#!/usr/bin/env bash
# The user promise "a re-run gives the same tables", checked N times in a row (default 10):
# each round runs the real-model night twice in fresh processes, the second with its u2q
# worker SIGKILLed mid-generation and retried, and compares every published sha256.
# Stops at the first failure. Usage: scripts/rerun_loop.sh [N]  (after `make test` installed)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
test_id="tests/e2e/test_nightly_real.py::test_real_model_night_publishes_both_tables_and_reruns_byte_identical"
for i in $(seq 1 "$n"); do
  start=$(date +%s)
  if ! .venv/pipeline/bin/python -m pytest -q "$test_id" > "/tmp/rerun_loop.$i.log" 2>&1; then
    echo "round $i/$n FAILED after $(( $(date +%s) - start )) s: see /tmp/rerun_loop.$i.log"
    tail -30 "/tmp/rerun_loop.$i.log"
    exit 1
  fi
  echo "round $i/$n passed in $(( $(date +%s) - start )) s: $(tail -1 "/tmp/rerun_loop.$i.log")"
done
echo "$n of $n rounds byte-identical"
