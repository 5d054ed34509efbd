"""The promotion gate: a trained generator replaces the served one only if it is better on
a held-out day it never saw.

Both models answer the held-out day's sample prompts (the prompts that night sends), in
the same order and batches; their answers are normalized by the nightly code; each list is
scored against what the shop's behaviour of the next day says (the sample's queries that
shoppers typed, or for a shop without queries the items' proxies; never the top-ups taken
from HintQ's own published list). Headline metrics: Query HR@K and MRR@K (K = train.gate_k,
and 30). The candidate is promoted only if its HR@K is higher and its MRR@K not lower.

Each model generates in its own spawned process, so two vLLM engines never share one.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import time
from typing import Sequence

from pipelines.core.config import HintQConfig
from pipelines.core.metrics import ListEntry, query_hit_rank
from pipelines.core.normalize import echo_texts, normalize_answer, normalize_think_answer
from pipelines.core.prompts import TASK_THINK
from pipelines.core.records import Prompt
from pipelines.core.samples import FROM_TOP_UP, Sample
from pipelines.core.text import stable_hash
from pipelines.engines.generator import GeneratorSpec

GATE_KS = (10, 30)


def gate_samples(samples: Sequence[Sample], n: int) -> list[Sample]:
    """The held-out samples the gate scores: those with a target shoppers produced (not only
    top-ups), at most `n`, picked by a stable hash of the key; in key order."""
    usable = [s for s in samples if any(o != FROM_TOP_UP for o in s.origins)]
    return sorted(sorted(usable, key=lambda s: (stable_hash(s.key), s.key))[:n], key=lambda s: s.key)


def targets(sample: Sample) -> list[str]:
    return [q for q, o in zip(sample.queries, sample.origins) if o != FROM_TOP_UP]


def _answers(spec: GeneratorSpec, samples: list[Sample], cfg: HintQConfig, blocklist: frozenset[str]
             ) -> tuple[dict[str, list[str]], dict]:
    """Runs in a child process: the normalized queries of each sample's answer, in order."""
    import os

    from pipelines.engines.generator import shared_engine

    os.dup2(2, 1)  # the engine's logs go to stderr: the job's stdout is its JSON report

    engine = shared_engine(spec)
    prompts = [Prompt(key=s.key, task=s.task, text=s.prompt, n_tokens=s.prompt_tokens, n_evidence=0, subject=None)
               for s in samples]
    lists, output_tokens, started = {}, 0, time.perf_counter()
    for start in range(0, len(prompts), cfg.generate.batch_size):
        for g in engine.generate(prompts[start:start + cfg.generate.batch_size]):
            output_tokens += g.output_tokens
            if g.task == TASK_THINK:
                trigger_id = g.key.split(":", 1)[1]
                _, candidates, _, _ = normalize_think_answer(g.text, g.finish_reason, cfg.normalize,
                                                             cfg.x2q.max_reasoning_chars, blocklist,
                                                             echo_texts(trigger_id, trigger_id))
            else:
                candidates, _, _ = normalize_answer(g.text, g.finish_reason, cfg.normalize, blocklist)
            lists[g.key] = [c.query for c in candidates]
    return lists, {"output_tokens": output_tokens, "generate_s": round(time.perf_counter() - started, 1)}


def answers_in_child(spec: GeneratorSpec, samples: list[Sample], cfg: HintQConfig, blocklist: frozenset[str]):
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_answers, spec, samples, cfg, blocklist).result()


def score(lists: dict[str, list[str]], samples: Sequence[Sample], ks: Sequence[int] = GATE_KS) -> dict:
    """Query HR@K and MRR@K of each sample's list against its targets, and query length."""
    out = {"samples": len(samples)}
    for k in ks:
        ranks = [query_hit_rank([ListEntry(q, "generated") for q in lists.get(s.key, [])], targets(s), k)
                 for s in samples]
        out[f"query_hr@{k}"] = round(sum(r is not None for r in ranks) / max(1, len(samples)), 4)
        out[f"mrr@{k}"] = round(sum(1 / r for r in ranks if r) / max(1, len(samples)), 4)
    queries = [q for s in samples for q in lists.get(s.key, [])]
    out["queries_per_sample"] = round(len(queries) / max(1, len(samples)), 2)
    out["words_per_query"] = round(sum(len(q.split()) for q in queries) / max(1, len(queries)), 2)
    return out


def decide(served: dict, candidate: dict, k: int) -> tuple[bool, str]:
    """Promote only if the candidate's HR@K is higher and its MRR@K not lower."""
    hr, mrr = f"query_hr@{k}", f"mrr@{k}"
    better = candidate[hr] > served[hr] and candidate[mrr] >= served[mrr]
    verdict = "promoted" if better else "kept, not served"
    return better, (f"{verdict}: {hr} {candidate[hr]} vs served {served[hr]}, "
                    f"{mrr} {candidate[mrr]} vs served {served[mrr]}")
