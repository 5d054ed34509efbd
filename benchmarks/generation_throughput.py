"""Generation throughput: HintQ's engine path against raw `vllm.LLM.generate` on the same
prompts (built from the sample world by the real core code). Prints one JSON line per
variant; measured, never asserted.

    .venv/pipeline/bin/python benchmarks/generation_throughput.py --input data/input --date 2026-11-01
    .venv/pipeline/bin/python benchmarks/generation_throughput.py --prompts 512 --batch-sizes 64,256,512
    .venv/pipeline/bin/python benchmarks/generation_throughput.py --task think
    .venv/pipeline/bin/python benchmarks/generation_throughput.py --prompts 256 --batch-sizes 256 --orders length \
        --no-one-batch --no-raw --max-num-seqs 64 --cpu-kv-cache-gib 4   # one engine setting a run

`--task think` measures Think (x2q) prompts: grouped by trigger type (as GenerateAnswers
sorts them, so prompts that share an opening sit together) against a shuffled order, and
against an engine with prefix caching switched off.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import time
from collections import defaultdict

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def read_day(input_root: str, day: str):
    """The day's valid items and each user's kept events, as the nightly job reads them
    (warehouse/inputs.py: validated, deduplicated and capped before the catalog join)."""
    from pipelines.core.config import HintQConfig
    from warehouse.inputs import read_input_day

    cfg = HintQConfig()
    read = read_input_day(input_root, day, cfg)
    return cfg, read.items, read.users


def build_think_prompts(input_root: str, day: str, limit: int):
    """The day's most touched triggers (the selection rule of SelectTriggers, in plain
    Python), described and turned into Think prompts."""
    from collections import Counter

    from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist, normalize_query
    from pipelines.core.prompts import build_think_prompt
    from pipelines.core.triggers import describe, user_signals
    from pipelines.engines.generator import VllmGeneratorSpec

    cfg, items, users = read_day(input_root, day)
    blocklist = load_blocklist(DEFAULT_BLOCKLIST)
    touched, pairs = Counter(), defaultdict(Counter)
    for events in users.values():
        keys, user_pairs = user_signals(events, cfg.session.gap_s,
                                        lambda q: normalize_query(q, cfg.normalize, blocklist)[0], cfg.x2q)
        touched.update(keys)
        for key, nb in user_pairs:
            pairs[key][nb] += 1
    top = sorted(touched.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    spec = VllmGeneratorSpec.for_config(cfg)
    codec = spec.load_codec()
    triggers = [describe(t, tid, items.get(tid) if t == "item" else None, n, "popular", pairs[(t, tid)].items(),
                         cfg.x2q) for (t, tid), n in top]
    return spec, [build_think_prompt(t, cfg.x2q, codec.render, codec.count_tokens) for t in triggers if t.text]


def build_prompts(input_root: str, day: str, limit: int):
    from pipelines.core.normalize import DEFAULT_BLOCKLIST, load_blocklist, normalize_query
    from pipelines.core.profile import build_profile
    from pipelines.core.prompts import build_prompt
    from pipelines.core.validate import partition_bounds_us
    from pipelines.engines.generator import VllmGeneratorSpec

    cfg, _, users = read_day(input_root, day)
    date = dt.date.fromisoformat(day)
    spec = VllmGeneratorSpec.for_config(cfg)
    codec = spec.load_codec()
    blocklist = load_blocklist(DEFAULT_BLOCKLIST)
    prompts = []
    for user, kept in list(users.items())[:limit]:
        profile = build_profile(user, kept, partition_bounds_us(date)[1], cfg.session,
                                clean_query=lambda q: normalize_query(q, cfg.normalize, blocklist)[0])
        prompts.append(build_prompt(profile, cfg.prompt, cfg.generate.max_queries, codec.render, codec.count_tokens))
    return spec, prompts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default="data/input")
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--task", choices=["direct", "think"], default="direct")
    parser.add_argument("--batch-sizes", default="64", help="generate.batch_size values to measure (direct)")
    parser.add_argument("--orders", default="key,length", help="orders inside a batch: key, length (the stage's)")
    parser.add_argument("--no-one-batch", dest="one_batch", action="store_false",
                        help="skip HintQ's engine on all prompts in one batch")
    parser.add_argument("--no-raw", dest="raw", action="store_false", help="skip raw vllm.LLM.generate")
    parser.add_argument("--max-num-seqs", type=int, help="generate.max_num_seqs of the engine (default: config's)")
    parser.add_argument("--cpu-kv-cache-gib", type=int, help="generate.cpu_kv_cache_gib (default: config's)")
    args = parser.parse_args()
    build = build_think_prompts if args.task == "think" else build_prompts
    spec, prompts = build(args.input, args.date, args.prompts)
    engine_settings = {k: v for k, v in {"max_num_seqs": args.max_num_seqs,
                                         "cpu_kv_cache_gib": args.cpu_kv_cache_gib}.items() if v is not None}
    spec.cfg = dataclasses.replace(spec.cfg, **engine_settings)
    prompts.sort(key=lambda p: p.key)  # the order GenerateAnswers gives a batch
    started = time.perf_counter()
    engine = spec.load_engine()
    load_s = time.perf_counter() - started
    llm, sampling = engine.llm, engine.sampling[args.task]
    common = {"task": args.task, "model": spec.name, "revision": spec.revision, "prompts": len(prompts),
              "mean_prompt_tokens": round(sum(p.n_tokens for p in prompts) / len(prompts), 1),
              "hardware": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "engine_load_s": round(load_s, 1), "max_num_seqs": spec.cfg.max_num_seqs,
              "cpu_kv_cache_gib": spec.cfg.cpu_kv_cache_gib,
              "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True).stdout.strip()}

    def measure(name, fn):
        llm.reset_prefix_cache()
        t = time.perf_counter()
        tokens = fn()
        s = time.perf_counter() - t
        print(json.dumps({"stage": "generate", "variant": name, "seconds": round(s, 2),
                          "output_tokens": tokens, "tokens_per_s": round(tokens / s, 1),
                          "prompts_per_s": round(len(prompts) / s, 2),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, **common}))

    texts = [p.text for p in prompts]
    if args.task == "think":
        measure_think(prompts, engine, llm, sampling, measure, spec)
        return
    if args.raw:
        measure("raw vllm.LLM.generate, one call",
                lambda: sum(len(o.outputs[0].token_ids) for o in llm.generate(texts, sampling, use_tqdm=False)))
    if args.one_batch:
        measure("hintq engine (reset cache, fallback wrapper), one batch",
                lambda: sum(g.output_tokens for g in engine.generate(prompts)))
    for size in (int(b) for b in args.batch_sizes.split(",")):
        for order in args.orders.split(","):
            batches = stable_batches(prompts, size, order)
            measure(f"hintq engine, stable batches of ~{size} ({len(batches)} batches), sorted by {order}",
                    lambda bs=batches: sum(g.output_tokens for b in bs for g in engine.generate(b)))


def stable_batches(prompts, size: int, order: str) -> list[list]:
    """The batches GenerateAnswers makes (StableBatches: a stable hash of the key into
    ceil(n / size) batches), each sorted by key or by (prompt tokens, key)."""
    import math

    from pipelines.core.text import stable_hash

    n = max(1, math.ceil(len(prompts) / size))
    batches = [[] for _ in range(n)]
    for p in prompts:
        batches[stable_hash(p.key) % n].append(p)
    from pipelines.stages.generate import prompt_order

    sort_key = (lambda p: p.key) if order == "key" else prompt_order
    return [sorted(b, key=sort_key) for b in batches if b]


def spec_batch_size() -> int:
    from pipelines.core.config import HintQConfig

    return HintQConfig().generate.batch_size


def measure_think(prompts, engine, llm, sampling, measure, spec) -> None:
    import random

    texts = [p.text for p in prompts]
    shuffled = list(texts)
    random.Random(0).shuffle(shuffled)
    measure("raw vllm, Think prompts grouped by trigger type, one call",
            lambda: sum(len(o.outputs[0].token_ids) for o in llm.generate(texts, sampling, use_tqdm=False)))
    measure("raw vllm, Think prompts shuffled, one call",
            lambda: sum(len(o.outputs[0].token_ids) for o in llm.generate(shuffled, sampling, use_tqdm=False)))
    size = spec_batch_size()
    measure(f"hintq engine, Think prompts, batches of {size} (the default batch_size)",
            lambda: sum(g.output_tokens for i in range(0, len(prompts), size)
                        for g in engine.generate(prompts[i:i + size])))
    del engine, llm
    from vllm import LLM

    plain = LLM(**{**spec.llm_args(), "enable_prefix_caching": False})
    plain.generate(["warm-up"], sampling, use_tqdm=False)
    t = time.perf_counter()
    tokens = sum(len(o.outputs[0].token_ids) for o in plain.generate(texts, sampling, use_tqdm=False))
    s = time.perf_counter() - t
    print(json.dumps({"stage": "generate", "variant": "raw vllm, Think prompts grouped, prefix caching OFF",
                      "seconds": round(s, 2), "output_tokens": tokens, "tokens_per_s": round(tokens / s, 1),
                      "prompts_per_s": round(len(prompts) / s, 2), "task": "think"}))


if __name__ == "__main__":
    main()
