"""The catalog index at scale: HNSW (stage 7's index above `verify.exact_index_max_items`)
against the exact flat index on real MiniLM embeddings of sample-world catalog titles,
queried with sample-world shopper queries. Prints one JSON line per catalog size: build
seconds, search seconds per 1,000 queries, recall@top_k of HNSW against flat, and whether
the verdicts (passed/failed, stage 7's rule) agree. Measured, never asserted.

    .venv/pipeline/bin/python benchmarks/ann_recall.py --items 30000,300000 --queries 2000
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import random
import resource
import time


def main() -> None:
    import numpy as np

    from datasets.sample_world import _query_for, make_catalog, make_users
    from pipelines.core.config import VerifyConfig
    from pipelines.engines.embedder import EmbedderSpec, catalog_index, flat_index, judge_queries

    parser = argparse.ArgumentParser()
    parser.add_argument("--items", default="30000,300000", help="catalog sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--ef-search", default="64,128,256", help="HNSW efSearch values to measure")
    args = parser.parse_args()
    cfg = VerifyConfig()
    spec = EmbedderSpec.for_config(cfg)
    model = spec.load()
    rng = random.Random(7)
    shoppers = make_users(rng, 500)
    queries = sorted({_query_for(rng, *rng.choice([(leaf, s) for s in shoppers[:50] for leaf, _ in s.interests]))
                      for _ in range(args.queries * 3)})[: args.queries]
    started = time.perf_counter()
    q_vectors = spec.encode(model, queries)
    embed_q_s = time.perf_counter() - started
    for n in (int(x) for x in args.items.split(",")):
        catalog = make_catalog(random.Random(11), n, dt.date(2026, 11, 1), 3)
        started = time.perf_counter()
        vectors = spec.encode(model, [i.title for i in catalog])
        embed_s = time.perf_counter() - started
        ids, leaves = [i.item_id for i in catalog], [i.leaf.name for i in catalog]
        t = time.perf_counter()
        exact = flat_index(vectors)
        flat_build_s = time.perf_counter() - t
        t = time.perf_counter()
        truth_verdicts = judge_queries(queries, q_vectors, exact, ids, leaves, cfg)
        flat_search_s = time.perf_counter() - t
        _, truth = exact.search(q_vectors, cfg.top_k)
        hnsw_cfg = dataclasses.replace(cfg, exact_index_max_items=0)
        t = time.perf_counter()
        hnsw = catalog_index(vectors, hnsw_cfg)
        hnsw_build_s = time.perf_counter() - t
        for ef in (int(x) for x in args.ef_search.split(",")):
            hnsw.hnsw.efSearch = ef
            t = time.perf_counter()
            verdicts = judge_queries(queries, q_vectors, hnsw, ids, leaves, cfg)
            hnsw_search_s = time.perf_counter() - t
            _, found = hnsw.search(q_vectors, cfg.top_k)
            recall = float(np.mean([len(set(a) & set(b)) / cfg.top_k for a, b in zip(truth, found)]))
            same = sum(a.passed == b.passed and a.evidence == b.evidence for a, b in zip(truth_verdicts, verdicts))
            print(json.dumps({
                "items": n, "queries": len(queries), "top_k": cfg.top_k, "hnsw_m": cfg.hnsw_m,
                "ef_construction": cfg.hnsw_ef_construction, "ef_search": ef,
                "recall_at_k": round(recall, 4),
                "verdicts_equal": round(sum(a.passed == b.passed for a, b in zip(truth_verdicts, verdicts))
                                        / len(queries), 4),
                "verdict_and_evidence_equal": round(same / len(queries), 4),
                "embed_items_s": round(embed_s, 1), "embed_queries_s": round(embed_q_s, 1),
                "flat_build_s": round(flat_build_s, 2), "hnsw_build_s": round(hnsw_build_s, 1),
                "flat_search_s_per_1k": round(flat_search_s / len(queries) * 1000, 3),
                "hnsw_search_s_per_1k": round(hnsw_search_s / len(queries) * 1000, 3),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}), flush=True)


if __name__ == "__main__":
    main()
