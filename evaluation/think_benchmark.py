"""The Think category benchmark on real queries (stage 11, x2q side).

Every product class of an imported real-queries table (WANDS) becomes a category trigger;
Think writes its queries with the nightly job's prompt, engine and normalize code. The
class's real shopper queries are the targets: x2q Query HR@K (normalized exact match),
MRR and semantic similarity, with the metric code of the u2q evaluation (a class plays
the part of a user, its real queries the part of the next day's searches).

There is no catalog behind these queries, so nothing can be verified or categorized:
verified share and Category HR@K are undefined here, and the report says so.

Baselines:
- class_name: the class name itself as the one query (Think may not echo its trigger, so
  this is the query Think is not allowed to write).
- ebr_other_classes: the real queries of every *other* class and of ESCI nearest to the
  class name's embedding (leave-one-class-out, so no target is in the index).
"""
from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict

import pyarrow.parquet as pq

from pipelines.core.baselines import RANDOM, nearest_queries, random_list
from pipelines.core.config import HintQConfig
from pipelines.core.metrics import Bootstrap, ListEntry, NextDay, average_rows, evaluate_lists, realism
from pipelines.core.normalize import QueryCleaner, echo_texts, normalize_think_answer
from pipelines.core.prompts import ThinkPrompts
from pipelines.core.records import Trigger
from pipelines.core.text import stable_hash
from pipelines.core.triggers import describe
from pipelines.engines.embedder import TextVectors
from pipelines.engines.generator import shared_codec, shared_engine

log = logging.getLogger(__name__)
HINTQ_THINK = "hintq_think"
SELECTED_BENCHMARK = "benchmark"
# Classes split by a stable hash of their name: Think may learn from the `train` half
# (`hintq build-class-samples`), and is measured on the `heldout` half it never saw.
CLASS_SPLITS = ("all", "train", "heldout")


def class_split(name: str) -> str:
    return "train" if stable_hash(name) % 2 == 0 else "heldout"


def split_names(names, split: str) -> list[str]:
    return sorted(n for n in names if split == "all" or class_split(n) == split)


def class_queries(path: str, clean: QueryCleaner) -> tuple[dict[str, list[str]], list[str]]:
    """→ (class → its distinct normalized queries, every distinct normalized query)."""
    rows = pq.read_table(path).to_pylist()
    by_class: dict[str, set[str]] = defaultdict(set)
    every: set[str] = set()
    for r in rows:
        q = clean(r["query"]) if r["query"] else None
        if not q:
            continue
        every.add(q)
        if r["query_class"]:
            by_class[r["query_class"]].add(q)
    return {c: sorted(qs) for c, qs in sorted(by_class.items())}, sorted(every)


def think_lists(triggers: list[Trigger], generator, cfg: HintQConfig, blocklist: frozenset[str]
                ) -> tuple[dict[str, list[ListEntry]], dict[str, str | None], dict]:
    """Think's queries for each trigger, in the model's order, after normalize. Prompts go
    to the engine sorted by key, in batches of `generate.batch_size` (the nightly job
    batches by a stable hash instead; here the set of triggers is fixed, so key order is
    already stable)."""
    codec, engine = shared_codec(generator), shared_engine(generator)
    build = ThinkPrompts(cfg.x2q)
    prompts = sorted((build(t, codec) for t in triggers), key=lambda p: p.key)
    lists, reasoning, stats = {}, {}, defaultdict(int)
    started = time.perf_counter()
    for start in range(0, len(prompts), cfg.generate.batch_size):
        for g in engine.generate(prompts[start:start + cfg.generate.batch_size]):
            trigger = g.subject
            text, candidates, discards, n_generated = normalize_think_answer(
                g.text, g.finish_reason, cfg.normalize, cfg.x2q.max_reasoning_chars, blocklist,
                echo_texts(trigger.text, trigger.trigger_id))
            lists[trigger.trigger_id] = [ListEntry(c.query, "generated", verified=None) for c in candidates]
            reasoning[trigger.trigger_id] = text
            stats["prompts"] += 1
            stats["output_tokens"] += g.output_tokens
            stats["generated"] += n_generated
            stats["kept"] += len(candidates)
            for d in discards:
                stats[f"discard:{d.reason}"] += 1
    log.info("Think: %d prompts, %d output tokens in %.1fs", stats["prompts"], stats["output_tokens"],
             time.perf_counter() - started)
    return lists, reasoning, dict(sorted(stats.items()))


def class_triggers(names, cfg: HintQConfig) -> list[Trigger]:
    return [describe("category", name, None, 0, SELECTED_BENCHMARK, [], cfg.x2q) for name in names]


def class_samples(real_queries: str, codec, cfg: HintQConfig, blocklist: frozenset[str], split: str,
                  day: str) -> tuple[list, list]:
    """IL-SFT samples of the classes of `split`: the class's Think prompt (the benchmark's and
    the night's prompt of a category trigger), its real queries as the answer, shortest
    first (no counts are known; short queries are the head ones). → (samples, set aside)."""
    from pipelines.core.samples import SetAside, TargetRules, class_sample

    clean = QueryCleaner(cfg.normalize, blocklist)
    by_class, _ = class_queries(real_queries, clean)
    build, rules = ThinkPrompts(cfg.x2q), TargetRules.of(cfg, cfg.x2q.max_queries)
    samples, aside = [], []
    for trigger in class_triggers(split_names(by_class, split), cfg):
        prompt = build(trigger, codec)
        queries = sorted(by_class[trigger.trigger_id], key=lambda q: (len(q), q))
        out = class_sample(trigger, prompt.text, prompt.n_tokens, queries, rules, day, day)
        (aside if isinstance(out, SetAside) else samples).append(out)
    return samples, aside


def run_benchmark(real_queries: str, generator, embedder, cfg: HintQConfig, blocklist: frozenset[str],
                  classes: int | None = None, split: str = "all") -> tuple[dict, dict]:
    """→ (metrics, report context), the shapes the u2q evaluation writes."""
    started = time.perf_counter()
    clean = QueryCleaner(cfg.normalize, blocklist)
    by_class, every = class_queries(real_queries, clean)
    names = split_names(by_class, split)
    names = names[:classes] if classes else names
    triggers = class_triggers(names, cfg)
    think, reasoning, stats = think_lists(triggers, generator, cfg, blocklist)

    vectors = TextVectors(embedder, embedder.load())
    k = max(cfg.evaluate.ks)
    class_of = defaultdict(set)
    for c, qs in by_class.items():
        for q in qs:
            class_of[q].add(c)
    index = vectors(every)
    as_query = {n: clean(n) or n.lower() for n in names}  # the class name, normalized like a query
    ebr = {}
    for name, scores in zip(names, vectors([as_query[n] for n in names]) @ index.T):
        others = [(q, float(s)) for q, s in zip(every, scores) if name not in class_of[q]]
        ebr[name] = [ListEntry(q, "ebr_other_classes", verified=None)
                     for q in nearest_queries([s for _, s in others], [q for q, _ in others], k)]
    systems = {HINTQ_THINK: think,
               "class_name": {n: [ListEntry(as_query[n], "class_name", verified=None)] for n in names},
               "ebr_other_classes": ebr}
    targets = {n: NextDay(queries=frozenset(by_class[n]), texts=tuple(by_class[n])) for n in names}
    boot = Bootstrap(cfg.evaluate.bootstrap_samples, cfg.evaluate.bootstrap_seed)
    rows = []
    for system, lists in systems.items():
        rows.extend(evaluate_lists(system, lists, targets, names, cfg.evaluate.ks, vectors, boot))
    if cfg.evaluate.random_seeds:  # chance: K random real queries of any class
        runs = [{n: random_list(every, f"{seed}:{n}", k) for n in names} for seed in range(cfg.evaluate.random_seeds)]
        rows.extend(average_rows([evaluate_lists(RANDOM, lists, targets, names, cfg.evaluate.ks, vectors, boot)
                                  for lists in runs]))
        systems[RANDOM] = runs[0]
    generated = sorted({e.query for es in think.values() for e in es})
    best = (vectors(generated) @ index.T).max(axis=1) if generated else []
    metrics = {
        "benchmark": "think_category_triggers", "real_queries": real_queries, "systems": list(systems),
        "ks": list(cfg.evaluate.ks), "rows": rows,
        "population": {"split": split, "classes": len(names), "real_queries": len(every),
                       "class_queries": sum(len(by_class[n]) for n in names)},
        "generation": stats,
        "realism": realism(generated, every, [float(s) for s in best], cfg.evaluate.near_duplicate)
        if generated else None,
    }
    log.info("Think benchmark of %d classes in %.1fs", len(names), time.perf_counter() - started)
    samples = [{"user_id": f"category:{n}", "history": [f"reasoning: {reasoning.get(n) or ''}"],
                "next_day": by_class[n], "targets": by_class[n],
                "lists": {s: [(e.query, e.source, None) for e in lists[n][:10]] for s, lists in systems.items()}}
               for n in sorted(names, key=lambda n: (-len(by_class[n]), n))[: cfg.evaluate.sample_users]]
    lengths = {s: Counter(len(lists.get(n, [])) for n in names) for s, lists in systems.items()}
    return metrics, {"samples": samples, "list_lengths": lengths,
                     "sample_columns": ("Think's reasoning", "real queries of the class")}
