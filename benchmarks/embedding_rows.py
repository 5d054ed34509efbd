"""The embedder's rows per forward pass (pipelines/engines/embedder.py, FORWARD_ROWS) and
texts per call (`verify.embed_batch_size`): a world's catalog titles embedded as
EmbedCatalog embeds them (EmbedderSpec.encode, one call per batch), for each row count and
call size, and with sentence-transformers' own mixed-length batches (the code before
FORWARD_ROWS). For each: seconds, and how many titles got the same bytes when embedded
again in another order, so in other calls among other titles, and alone. Measured, never
asserted.

    .venv/pipeline/bin/python benchmarks/embedding_rows.py --input /tmp/scale/users_1000/input --titles 3000
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from embedding_memory import catalog_titles  # noqa: E402


def embed_in_calls(encode, model, titles: list[str], call: int) -> dict[str, np.ndarray]:
    out = {}
    for i in range(0, len(titles), call):
        out.update(zip(titles[i:i + call], encode(model, titles[i:i + call])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="a sample world's input folder (its catalog)")
    parser.add_argument("--titles", type=int, default=3000)
    parser.add_argument("--rows", default="8,16,32")
    parser.add_argument("--calls", default="256,2048")
    parser.add_argument("--alone", type=int, default=50, help="titles also embedded one per call")
    args = parser.parse_args()

    from pipelines.core.config import HintQConfig
    from pipelines.engines import embedder

    titles = sorted(set(catalog_titles(args.input, args.titles)))
    shuffled = random.Random(7).sample(titles, len(titles))
    spec = embedder.EmbedderSpec.for_config(HintQConfig().verify)
    model = spec.acquire()

    def mixed(model, texts):  # the code before: each call padded to its longest text
        return np.asarray(model.encode(texts, batch_size=spec.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False), dtype="float32")

    spec.encode(model, titles[:64])  # warm
    variants = [(f"{r} rows of one length", int(r), int(c)) for r in args.rows.split(",")
                for c in args.calls.split(",")]
    variants += [("mixed lengths (before)", None, int(c)) for c in args.calls.split(",")]
    for name, rows, call in variants:
        encode = mixed if rows is None else spec.encode
        if rows is not None:
            embedder.FORWARD_ROWS = rows
        started = time.perf_counter()
        first = embed_in_calls(encode, model, titles, call)
        seconds = time.perf_counter() - started
        again = embed_in_calls(encode, model, shuffled, call)
        alone = embed_in_calls(encode, model, shuffled[:args.alone], 1)
        print(json.dumps({"variant": name, "titles_per_call": call, "titles": len(titles), "seconds": round(seconds, 2),
                          "same_bytes_in_other_calls": sum(bool((first[t] == again[t]).all()) for t in titles),
                          "same_bytes_alone": f"{sum(bool((first[t] == alone[t]).all()) for t in alone)}/{len(alone)}"}),
              flush=True)


if __name__ == "__main__":
    main()
