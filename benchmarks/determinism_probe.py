"""Does a batch give the same answers whatever the machine is doing? Measured, never asserted.

Generates the same batch of Direct prompts (the sample world's, built by the real core
code) once on a quiet engine, then `--repeats` more times while a busy thread competes
for the interpreter (as another stage, a neighbour process or a retry's start-up does),
and counts answers that differ from the quiet run. One JSON line per mode:

    .venv/pipeline/bin/python benchmarks/determinism_probe.py --input data/input --date 2026-11-01

`--mode async` first restores vLLM's own behaviour (JSON grammars compiled on a thread
pool; the scheduler admits a request only once its grammar is done, without waiting) to
show what HintQ's engine pins down (pipelines/engines/generator.py, compile_grammars_on_admission).
`--jitter-ms` adds a random delay to each grammar compilation, standing in for a loaded
machine where the compile thread runs late.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generation_throughput import build_prompts  # noqa: E402


def _manager(llm):
    return llm.llm_engine.engine_core.engine_core.structured_output_manager


def _busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(20_000):  # a few ms holding the interpreter, then a breath
            x = (x * 31 + 7) % 1_000_003
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default="data/input")
    parser.add_argument("--date", default="2026-11-01")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--mode", choices=["admission", "async", "both"], default="both")
    parser.add_argument("--jitter-ms", type=float, default=20.0)
    args = parser.parse_args()
    spec, prompts = build_prompts(args.input, args.date, args.prompts)
    prompts.sort(key=lambda p: p.key)
    engine = spec.load_engine()
    manager = _manager(engine.llm)
    create = manager._create_grammar
    rng = random.Random(0)

    def late_create(request):  # the compile thread running late, as on a loaded machine
        time.sleep(rng.uniform(0, args.jitter_ms) / 1000)
        return create(request)

    for mode in (["admission", "async"] if args.mode == "both" else [args.mode]):
        manager._use_async_grammar_compilation = mode == "async"
        manager._create_grammar = late_create if args.jitter_ms else create
        quiet = [g.text for g in engine.generate(prompts)]
        differing_runs, differing_answers = 0, []
        for _ in range(args.repeats):
            stop = threading.Event()
            hog = threading.Thread(target=_busy, args=(stop,), daemon=True)
            hog.start()
            try:
                loaded = [g.text for g in engine.generate(prompts)]
            finally:
                stop.set()
                hog.join()
            diff = sum(a != b for a, b in zip(quiet, loaded))
            differing_runs += int(diff > 0)
            differing_answers.append(diff)
        print(json.dumps({"probe": "determinism", "mode": mode, "prompts": len(prompts),
                          "jitter_ms": args.jitter_ms, "repeats": args.repeats,
                          "runs_differing_from_quiet": differing_runs,
                          "answers_differing_per_run": differing_answers}), flush=True)


if __name__ == "__main__":
    main()
