#!/usr/bin/env bash
# IL-SFT before and after on the sample world (issue 16, "It must show" 1 and 4):
# a 5-day world; nights 1..3 with the packaged model; the ranker of day 3; night 4 served by
# the packaged model (warehouse "before"); samples of days 1..3; Direct and Think trained on
# prompt days 1..2 and gated on day 3; night 4 again served by the trained versions
# (warehouse "after", a copy of "before" up to night 3); both nights 4 evaluated on day 5,
# which nothing learned has seen. Every step is a hintq command; the log keeps all output.
#
#   benchmarks/finetune_sample_world.sh OUT [USERS] [EPOCHS]
set -euo pipefail
OUT=${1:?output folder}; USERS=${2:-100}; EPOCHS=${3:-2}
HQ=${HINTQ_BIN:-.venv/pipeline/bin/hintq}
CONFIG=${HINTQ_BENCH_CONFIG:-infra/demo_config.json}
D1=2026-11-01; D2=2026-11-02; D3=2026-11-03; D4=2026-11-04
IN=$OUT/input; BEFORE=$OUT/before; AFTER=$OUT/after
mkdir -p "$OUT"
t() { local s=$(date +%s); "$@"; echo "  [$(( $(date +%s) - s )) s] $*" >&2; }

t $HQ sample-world --out "$IN" --start $D1 --days 5 --users "$USERS" --seed 7 > /dev/null
t $HQ backfill --start $D1 --end $D3 --input "$IN" --warehouse "$BEFORE" --config "$CONFIG" > "$OUT/backfill.json"
t $HQ train-ranker --date $D3 --input "$IN" --warehouse "$BEFORE" > "$OUT/ranker.txt"
cp -a "$BEFORE" "$AFTER"
t $HQ backfill --start $D4 --end $D4 --input "$IN" --warehouse "$BEFORE" --config "$CONFIG" > /dev/null
for d in $D1 $D2 $D3; do
  t $HQ build-samples --date $d --input "$IN" --warehouse "$AFTER" --config "$CONFIG"
done
for task in direct think; do
  t $HQ train --task $task --holdout $D3 --warehouse "$AFTER" --config "$CONFIG" --set train.epochs="$EPOCHS" \
      > "$OUT/train_$task.json" || test $? -eq 99
done
$HQ models list --warehouse "$AFTER" | tee "$OUT/models.txt"
# Night 4 served by the newest trained versions, promoted or not (the gate's verdict is in
# models.txt): the point here is to measure them.
t $HQ backfill --start $D4 --end $D4 --input "$IN" --warehouse "$AFTER" --config "$CONFIG" \
    --set generate.model=registry:latest > /dev/null
t $HQ eval --date $D4 --input "$IN" --warehouse "$AFTER" --compare before="$BEFORE" > "$OUT/eval.txt" 2>&1
t $HQ eval --date $D4 --input "$IN" --warehouse "$BEFORE" > "$OUT/eval_before.txt" 2>&1
echo "done: $OUT/eval.txt (after, with the 'before' warehouse's u2q as system 'before'), $OUT/eval_before.txt"
