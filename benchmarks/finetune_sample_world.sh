#!/usr/bin/env bash
# IL-SFT before and after on the sample world (issue 16, "It must show" 1 and 4):
# a 5-day world; nights 1..3 with the packaged model; the ranker of day 3; night 4 served by
# the packaged model (warehouse "before"); samples of days 1..3; Direct and Think trained on
# prompt days 1..2 and gated on day 3; night 4 again, each table served by its newest trained
# version where one exists (warehouse "after", a copy of "before" up to night 3); both nights
# 4 evaluated on day 5, which nothing learned has seen, with query realism against the
# shop's own typed queries of days 1..4. Every step is a hintq command.
#
#   benchmarks/finetune_sample_world.sh OUT [USERS] [EPOCHS]
#   benchmarks/finetune_sample_world.sh OUT [USERS] [EPOCHS] --from-night4   # after a crash: the rest
set -euo pipefail
OUT=${1:?output folder}; USERS=${2:-100}; EPOCHS=${3:-2}; FROM=${4:-}
HQ=${HINTQ_BIN:-.venv/pipeline/bin/hintq}
PY=${HINTQ_PYTHON:-.venv/pipeline/bin/python}
CONFIG=${HINTQ_BENCH_CONFIG:-infra/demo_config.json}
D1=2026-11-01; D2=2026-11-02; D3=2026-11-03; D4=2026-11-04
IN=$OUT/input; BEFORE=$OUT/before; AFTER=$OUT/after
mkdir -p "$OUT"
t() { local s=$(date +%s); "$@"; echo "  [$(( $(date +%s) - s )) s] $*" >&2; }

if [ "$FROM" != "--from-night4" ]; then
  t $HQ sample-world --out "$IN" --start $D1 --days 5 --users "$USERS" --seed 7 > /dev/null
  t $HQ backfill --start $D1 --end $D3 --input "$IN" --warehouse "$BEFORE" --config "$CONFIG" > "$OUT/backfill.json"
  t $HQ train-ranker --date $D3 --input "$IN" --warehouse "$BEFORE" > "$OUT/ranker.txt"
  t $HQ copy-warehouse --src "$BEFORE" --dst "$AFTER" > /dev/null   # its own Iceberg catalog
  t $HQ backfill --start $D4 --end $D4 --input "$IN" --warehouse "$BEFORE" --config "$CONFIG" > /dev/null
  for d in $D1 $D2 $D3; do
    t $HQ build-samples --date $d --input "$IN" --warehouse "$AFTER" --config "$CONFIG"
  done
  for task in direct think; do  # exit 99: no samples of the task (the sample world's Think has none)
    t $HQ train --task $task --holdout $D3 --warehouse "$AFTER" --config "$CONFIG" --set train.epochs="$EPOCHS" \
        > "$OUT/train_$task.json" || test $? -eq 99
  done
fi
$HQ models list --warehouse "$AFTER" | tee "$OUT/models.txt"
# Night 4 served by the newest trained versions, promoted or not (the gate's verdict is in
# models.txt): the point here is to measure them. A table without a version: the base.
for table in x2q u2q; do
  task=$([ $table = u2q ] && echo direct || echo think)
  model=$([ -n "$(ls -d "$AFTER"/models/generator/$task/v=* 2>/dev/null)" ] && echo "registry:$task@latest" \
          || echo smollm2-135m-instruct)
  t $HQ run --date $D4 --table $table --input "$IN" --warehouse "$AFTER" --config "$CONFIG" \
      --set generate.model="$model" > /dev/null
done
# The shop's own typed queries of days 1..4 stand in for "real queries" (query realism).
$PY - "$IN" "$OUT/shop_queries.parquet" $D1 $D2 $D3 $D4 <<'PY'
import sys
import pyarrow as pa, pyarrow.parquet as pq
from pipelines.core.config import HintQConfig
from schemas import REAL_QUERIES_SCHEMA
from warehouse.inputs import read_input_day
root, out, days = sys.argv[1], sys.argv[2], sys.argv[3:]
queries = sorted({e.event.query for d in days for evs in read_input_day(root, d, HintQConfig()).users.values()
                  for e in evs if e.event.event_type == "search" and e.event.query})
pq.write_table(pa.Table.from_pylist([{"query": q, "query_class": None, "source": "sample_world", "n_exact": None}
                                     for q in queries], schema=REAL_QUERIES_SCHEMA), out)
print(f"{len(queries)} distinct typed queries of days {days[0]}..{days[-1]}")
PY
t $HQ eval --date $D4 --input "$IN" --warehouse "$AFTER" --real-queries "$OUT/shop_queries.parquet" \
    --compare before="$BEFORE" > "$OUT/eval_after.txt" 2>&1
t $HQ eval --date $D4 --input "$IN" --warehouse "$BEFORE" --real-queries "$OUT/shop_queries.parquet" \
    > "$OUT/eval_before.txt" 2>&1
echo "done: $OUT/eval_after.txt (with the 'before' warehouse's u2q as system 'before'), $OUT/eval_before.txt"
