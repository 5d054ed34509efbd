#!/usr/bin/env bash
# One night (x2q, then u2q) with one worker and with N worker processes of Beam's
# multi-process DirectRunner (one vLLM engine per process, each on its own cores through
# HINTQ_ENGINE_CORES), into two warehouses; prints each run's wall time, the speed-up and
# whether every published file has the same sha256. Measured, never asserted.
#   benchmarks/multi_worker.sh INPUT DAY OUT [N] [CORES] [extra job flags...]
#   benchmarks/multi_worker.sh data/input 2026-11-01 /tmp/mw 2 "0|1" --config=infra/demo_config.json
set -euo pipefail
IN=$1; DAY=$2; OUT=$3; N=${4:-2}; CORES=${5:-0|1}; shift $(( $# < 5 ? $# : 5 ))
PY=${PY:-.venv/pipeline/bin/python}
export HINTQ_MODEL_CACHE=${HINTQ_MODEL_CACHE:-$PWD/.cache/models}
rm -rf "$OUT"; mkdir -p "$OUT"
night() {  # warehouse, then Beam flags
  local wh=$1; shift
  local s=$(date +%s.%N)
  for table in x2q u2q; do
    $PY -m jobs.nightly --table=$table --dt="$DAY" --input="$IN" --warehouse="$wh" "$@" > "$wh.$table.log" 2>&1 \
      || { tail -30 "$wh.$table.log"; exit 1; }
  done
  echo "$(date +%s.%N) - $s" | bc
}
one=$(night "$OUT/one" "$@")
many=$(HINTQ_ENGINE_CORES="$CORES" night "$OUT/many" --direct_num_workers="$N" --direct_running_mode=multi_processing "$@")
same=$($PY - "$OUT/one" "$OUT/many" "$DAY" <<'PY'
import sys
from warehouse.files import read_published
a, b, day = sys.argv[1:]
out = {}
for table in ("x2q", "u2q", "rejected", "profiles", "candidates"):
    fa, fb = read_published(a, table, day)[0]["files"], read_published(b, table, day)[0]["files"]
    out[table] = [f["sha256"] for f in fa] == [f["sha256"] for f in fb]
print(out)
PY
)
printf '{"workers": %s, "cores": "%s", "one_worker_s": %.1f, "many_workers_s": %.1f, "speed_up": %.2f, "same_sha256": "%s"}\n' \
  "$N" "$CORES" "$one" "$many" "$(echo "$one / $many" | bc -l)" "$same"
