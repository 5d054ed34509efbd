#!/usr/bin/env bash
# Think IL-SFT on real product classes (issue 16, "It must show" 2): WANDS classes split by a
# stable hash of the class name; Think learns from the `train` half and is measured, before
# and after, on the `heldout` half with `hintq benchmark-think --split heldout`.
#
#   benchmarks/finetune_think_wands.sh OUT [EPOCHS]
set -euo pipefail
OUT=${1:?output folder}; EPOCHS=${2:-3}
HQ=${HINTQ_BIN:-.venv/pipeline/bin/hintq}
PY=${HINTQ_PYTHON:-.venv/pipeline/bin/python}
SRC=${HINTQ_SHARED_DATA:-../shared/data}/real_queries_wands_esci
DAY=2026-01-01; HOLDOUT=2026-01-02   # the partition the class samples are filed under, and the day after
mkdir -p "$OUT"
t() { local s=$(date +%s); "$@"; echo "  [$(( $(date +%s) - s )) s] $*" >&2; }

t $HQ import wands-esci --src "$SRC" --out "$OUT/queries" > /dev/null
Q=$OUT/queries/real_queries.parquet
t $PY -m jobs.build_class_samples --real-queries "$Q" --warehouse "$OUT/wh" --day $DAY
t $HQ benchmark-think --real-queries "$Q" --out "$OUT/before" --split heldout > /dev/null
# No gate here: the held-out classes are the measurement, not a selection.
t $HQ train --task think --holdout $HOLDOUT --warehouse "$OUT/wh" --no-gate --set train.epochs="$EPOCHS" \
    > "$OUT/train_think.json"
t $HQ benchmark-think --real-queries "$Q" --out "$OUT/after" --split heldout --warehouse "$OUT/wh" \
    --set generate.model=registry:think@latest > /dev/null
$PY - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
for side in ("before", "after"):
    m = json.load(open(f"{out}/{side}/metrics.json"))
    rows = {(r["system"], r["metric"], r["k"]): r["value"] for r in m["rows"]}
    print(side, m["population"], m["model"]["generator"])
    for k in m["ks"]:
        print(f"  K={k}", {s: {x: rows.get((s, x, k)) for x in ("query_hr", "query_mrr", "semantic_similarity", "list_length")}
                          for s in m["systems"]})
    print("  realism", m["realism"])
PY
