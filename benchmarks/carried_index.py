"""What carrying an earlier night's catalog rows saves (warehouse/catalog_index.py): a
two-day sample world of N shoppers (3N items), x2q of day 1, then x2q of day 2 in the same
warehouse (its index carries day 1's rows), then x2q of day 2 in a warehouse with nothing
to carry. For each: wall and index seconds, the manifest's catalog_index words, and the
sha256 of the day's index and x2q files (the two day-2 nights must match). Generation is
replayed from a recording of `scale.py --record` (its answers, cycled by prompt hash), so
the model's time is not measured. Measured, never asserted.

    .venv/pipeline/bin/python benchmarks/carried_index.py --users 10000 --replay /tmp/scale/answers.jsonl --out /tmp/carry
"""
from __future__ import annotations

import argparse
import datetime as dt
import glob
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import ReplaySpec  # noqa: E402

DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def sha256_of(paths: list[str]) -> str:
    return hashlib.sha256("".join(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths).encode()).hexdigest()


def x2q_night(world: Path, warehouse: Path, day: dt.date, spec) -> dict:
    from jobs import nightly

    started = time.perf_counter()
    _, m = nightly.run(["--table=x2q", f"--dt={day}", f"--input={world}", f"--warehouse={warehouse}"],
                       generator=spec)
    files = sorted(glob.glob(str(warehouse / "x2q" / "data" / f"dt={day}" / f"run={m['run_id']}" / "*.parquet")))
    return {"warehouse": str(warehouse), "dt": str(day), "wall_s": round(time.perf_counter() - started, 1),
            "index_s": m["timings"]["stage_s"].get("index"),
            "catalog_index": {k: v for k, v in m["catalog_index"].items() if k != "kept"},
            "index_sha256": sha256_of([m["catalog_index"]["kept"]])[:16], "x2q_sha256": sha256_of(files)[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--replay", required=True, help="answers recorded by scale.py --record")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    from datasets.sample_world import write_world
    from pipelines.core.config import HintQConfig
    from pipelines.engines.generator import VllmGeneratorSpec

    out = Path(args.out)
    world = out / "input"
    if not (world / "events").exists():
        write_world(world, DAY1, days=2, n_users=args.users, seed=7, n_items=3 * args.users)
    spec = ReplaySpec(VllmGeneratorSpec.for_config(HintQConfig()), args.replay)
    for warehouse, day in ((out / "wh", DAY1), (out / "wh", DAY2), (out / "wh_nothing_to_carry", DAY2)):
        print(json.dumps(x2q_night(world, warehouse, day, spec)), flush=True)


if __name__ == "__main__":
    main()
