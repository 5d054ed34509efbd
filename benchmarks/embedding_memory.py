"""What embedding a catalog does to a process's RSS: the world's catalog titles embedded
in batches as EmbedCatalog embeds them (EmbedderSpec.encode), once with the freed memory
handed back after the batches (pipelines/engines/heap.py, within its time share, as the night does) and once
without. Each variant runs in a fresh process. Measured, never asserted.

    .venv/pipeline/bin/python benchmarks/embedding_memory.py --input /tmp/scale/users_10000/input --titles 30000
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def rss_mb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS:"))


def catalog_titles(input_root: str, limit: int) -> list[str]:
    import pyarrow.parquet as pq

    titles: list[str] = []
    for path in sorted(glob.glob(os.path.join(input_root, "catalog", "**", "*.parquet"), recursive=True)):
        titles += [t for t in pq.read_table(path, columns=["title"]).column("title").to_pylist() if t]
    return titles[:limit]


def one_variant(args) -> None:
    from pipelines.core.config import HintQConfig
    from pipelines.engines import embedder

    if args.variant == "kept":  # the allocator keeps what torch frees: the code before heap.py
        embedder.release_freed_memory = lambda: False
    titles = catalog_titles(args.input, args.titles)
    spec = embedder.EmbedderSpec.for_config(HintQConfig().verify)
    model = spec.acquire()
    loaded = rss_mb()
    started, rows = time.perf_counter(), []
    for i in range(0, len(titles), spec.batch_size):
        rows.append(spec.encode(model, titles[i:i + spec.batch_size]))
    after = rss_mb()
    print(json.dumps({"variant": args.variant, "titles": len(titles), "batch_size": spec.batch_size,
                      "rss_loaded_mb": loaded, "rss_after_mb": after, "growth_mb": after - loaded,
                      "rows_mb": round(sum(r.nbytes for r in rows) / 2**20, 1),
                      "seconds": round(time.perf_counter() - started, 1)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a sample world's input folder (its catalog)")
    parser.add_argument("--titles", type=int, default=30000)
    parser.add_argument("--variant", choices=["released", "kept"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        one_variant(args)
        return
    for variant in ("kept", "released"):
        done = subprocess.run([sys.executable, __file__, f"--input={args.input}", f"--titles={args.titles}",
                               f"--variant={variant}"], cwd=REPO, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
