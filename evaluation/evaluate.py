"""Stage 11, evaluate: day D's published u2q and the four baselines against day D+1.

Runs in one process (polars/pyarrow and numpy, no Beam): one day's lists and two days of
events fit in memory at the scale it is run offline; at production scale the same core
functions would run per user in a Beam job. Every input goes through the core code the
nightly job uses (validate, catalog join, de-duplication and cap, query normalization,
retrieval judgement), so a baseline sees exactly what HintQ saw.

The metric definitions are in pipelines/core/metrics.py, the baselines in
pipelines/core/baselines.py.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from pipelines.core import baselines as bl
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig
from pipelines.core.metrics import (Bootstrap, ListEntry, average_rows, evaluate_lists, realism,
                                    source_class)
from pipelines.core.normalize import QueryCleaner
from pipelines.core.channels import CH_GENERATED
from pipelines.core.ranker import Ranker, hand_weighted_lists, reranked_lists
from pipelines.core.records import EnrichedEvent, Item, VerifiedQuery
from pipelines.core.text import stable_hash
from pipelines.engines.embedder import TextVectors, catalog_index, judge_queries
from warehouse.files import read_published, read_rows, swap_into_place
from warehouse.inputs import InputDay, history_days, read_input_day
from warehouse.models import RankerCorrupt, read_ranker

log = logging.getLogger(__name__)

HINTQ_U2Q = "hintq_u2q"
HINTQ_GENERATED = "hintq_generated"
# With a learned ranker: the same night's hand-weighted lists (the order before learning),
# and its ranked lists had the generated channel not run (what the LLM adds).
HINTQ_HAND_WEIGHTED = "hintq_hand_weighted"
HINTQ_RANKED_NO_GENERATED = "hintq_ranked_no_generated"


class EvaluationInputMissing(RuntimeError):
    """The published u2q of D, or the events of D+1, are not there (yet)."""


class Retrieval:
    """D's catalog index and stage 7's judgement, in process. Each distinct query is
    judged once, however many systems list it."""

    def __init__(self, embedder, items: dict[str, Item], cfg: HintQConfig):
        self.cfg = cfg
        self.vectors = TextVectors(embedder, embedder.load())
        indexed = sorted((i for i in items.values() if i.title), key=lambda i: i.item_id)
        self.item_ids = [i.item_id for i in indexed]
        self.leaves = [i.leaf for i in indexed]
        self.index = catalog_index(self.vectors([i.title for i in indexed]), cfg.verify)  # as the night built it
        self._verdicts: dict[str, VerifiedQuery] = {}

    def judge(self, queries) -> dict[str, VerifiedQuery]:
        """Stage 7's verdict on each distinct query against this catalog."""
        distinct = sorted(set(queries))
        new = [q for q in distinct if q not in self._verdicts]
        if new:
            self._verdicts.update(zip(new, judge_queries(new, self.vectors(new), self.index, self.item_ids,
                                                         self.leaves, self.cfg.verify)))
        return {q: self._verdicts[q] for q in distinct}


def baseline_lists(names: list[str], users: list[str], today: InputDay, history: ch.History, retrieval: Retrieval,
                   clean: QueryCleaner, cfg: HintQConfig) -> dict[str, dict[str, list[ListEntry]]]:
    """The lists of every named baseline for every user, K = the largest evaluated K: the
    nightly job's history channels (pipelines/core/channels.py), filled from popular."""
    k = max(cfg.evaluate.ks)
    counts, vocabulary = ch.vocabulary_of(history, cfg.ranker.vocabulary)
    model = ch.channel_model(history, (counts, vocabulary), retrieval.judge(vocabulary),
                             retrieval.vectors(vocabulary) if vocabulary else None, k)
    out: dict[str, dict[str, list[ListEntry]]] = {n: {} for n in names}
    for user_id in users:
        day = ch.user_day(today.users.get(user_id, []), today.day, clean, cfg, history.titles_as_queries)
        lists = ch.channel_lists(day, model, ch.title_centroid(day, retrieval.vectors), k, cfg.evaluate.top_leaves)
        for name in names:
            out[name][user_id] = bl.fill(lists[name], name, model.popular, k)
    return out


def random_lists(users: list[str], today: InputDay, clean: QueryCleaner, cfg: HintQConfig
                 ) -> list[dict[str, list[ListEntry]]]:
    """The chance reference, once per seed: K random titles of D's catalog (normalized as
    queries) for every user."""
    vocabulary = sorted({q for q in (clean(i.title) for i in today.items.values() if i.title) if q})
    k = max(cfg.evaluate.ks)
    return [{u: bl.random_list(vocabulary, f"{seed}:{u}", k) for u in users}
            for seed in range(cfg.evaluate.random_seeds)]


def _u2q_lists(rows: list[dict]) -> dict[str, list[ListEntry]]:
    return {r["user_id"]: [ListEntry(q["query"], q["source"], q["category"]) for q in r["queries"]] for r in rows}


def ranking_systems(warehouse: str, day: str, manifest: dict, users: list[str], cfg: HintQConfig, choice=None
                    ) -> dict[str, dict[str, list[ListEntry]]]:
    """A night ranked by a learned ranker: its hand-weighted lists and its lists without the
    generated channel, both rebuilt from its `candidates` part (the second re-scored by the
    same ranker). Nothing for a hand-weighted night."""
    ranking = manifest.get("ranking") or {}
    found = read_published(warehouse, "candidates", day, choice)
    if ranking.get("method") != "learned" or found is None:
        return {}
    rows = _read_all(found[1])
    published = read_ranker(warehouse, ranking["ranker"]["dt"])
    if published.manifest["model_sha256"] != ranking["ranker"]["model_sha256"]:
        raise RankerCorrupt(f"ranker dt={published.dt} is not the model the night of {day} ranked with "
                            f"(sha256 {published.manifest['model_sha256'][:12]} != "
                            f"{ranking['ranker']['model_sha256'][:12]}): retrained since")
    ranker = Ranker(published.model_text, published.manifest["features"])
    hand = hand_weighted_lists(rows)
    ablated = reranked_lists(rows, ranker, cfg.rank.k, cfg.ranker.diversity, without=CH_GENERATED)
    return {
        HINTQ_HAND_WEIGHTED: {u: [ListEntry(s.query, s.source, s.category) for s in hand.get(u, [])]
                              for u in users},
        HINTQ_RANKED_NO_GENERATED: {u: [ListEntry(s.query, s.source, s.category) for s in ablated.get(u, [])]
                                    for u in users},
    }


def _read_all(files) -> list[dict]:
    return [row for f in files for row in read_rows(f)]


def _judged(lists: dict[str, list[ListEntry]], verdicts: dict[str, VerifiedQuery]) -> dict[str, list[ListEntry]]:
    """Every list's entries with category and verification from one uniform judgement."""
    return {u: [ListEntry(e.query, e.source, verdicts[e.query].category, verdicts[e.query].passed) for e in entries]
            for u, entries in lists.items()}


def _sample(users: list[str], n: int) -> list[str]:
    return sorted(users, key=lambda u: (stable_hash(u), u))[:n]


def _history_lines(events: list[EnrichedEvent], limit: int = 12) -> list[str]:
    lines = []
    for e in events[-limit:]:
        ts = dt.datetime.fromtimestamp(e.event.ts_us / 1e6, dt.timezone.utc).strftime("%H:%M")
        what = e.event.query if e.event.event_type == "search" else (e.item.title if e.item else e.event.item_id)
        lines.append(f"{ts} {e.event.event_type} {what}")
    return lines


def real_query_texts(path: str | None, clean: QueryCleaner) -> list[str]:
    """Normalized real shopper queries from an imported real-queries table, or []."""
    if not path:
        return []
    table = pq.read_table(path, columns=["query"])
    return sorted({q for q in (clean(t) for t in table.column("query").to_pylist() if t) if q})


def realism_of(generated: list[str], real: list[str], retrieval: Retrieval, threshold: float) -> dict | None:
    if not generated or not real:
        return None
    best = (retrieval.vectors(generated) @ retrieval.vectors(real).T).max(axis=1)
    return realism(generated, real, [float(s) for s in best], threshold)


def evaluate_day(input_root: str, warehouse: str, day: str, embedder, baselines: list[str],
                 real_queries: str | None = None, cfg: HintQConfig | None = None,
                 compare: dict[str, str] | None = None, choice=None) -> tuple[dict, dict]:
    """→ (metrics, report context). Raises EvaluationInputMissing if D's u2q is not
    published or D+1's events are not there. `choice` (an iceberg.SnapshotChoice) reads the
    night as of an earlier time; the current snapshot by default.

    `compare` names other warehouses whose u2q of D is scored beside this one (another
    config, model, or a run without x2q fills), on this warehouse's population."""
    started = time.perf_counter()
    published = read_published(warehouse, "u2q", day, choice)
    if published is None:
        raise EvaluationInputMissing(f"u2q/dt={day} is not published in {warehouse}" + (f" {choice}" if choice else ""))
    manifest, files = published
    cfg = cfg or HintQConfig.from_dict(manifest.get("config", {}))
    next_date = (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()
    clean = QueryCleaner.of_night(cfg.normalize, manifest)
    tomorrow = read_input_day(input_root, next_date, cfg)
    if tomorrow is None:
        raise EvaluationInputMissing(f"events/dt={next_date} (the held-out day) is not in {input_root}")
    days = [d for d in (read_input_day(input_root, past, cfg) for past in history_days(day, cfg.evaluate.history_days))
            if d is not None]
    today = days[-1] if days and days[-1].day == day else None
    if today is None:
        raise EvaluationInputMissing(f"events/dt={day} is not in {input_root}")

    u2q_rows = _read_all(files)
    hintq = _u2q_lists(u2q_rows)
    systems = {HINTQ_U2Q: hintq,
               HINTQ_GENERATED: {u: [e for e in es if e.source == "generated"] for u, es in hintq.items()}}
    systems.update(ranking_systems(warehouse, day, manifest, sorted(hintq), cfg, choice))
    compared_runs = {}
    for name, other in sorted((compare or {}).items()):
        found = read_published(other, "u2q", day)
        if found is None:
            raise EvaluationInputMissing(f"u2q/dt={day} is not published in {other} (compared as {name})")
        systems[name] = _u2q_lists(_read_all(found[1]))
        compared_runs[name] = {"warehouse": str(other), "run_id": found[0].get("run_id"),
                               "x2q_fill": found[0].get("x2q_fill")}
    next_day = {u: ch.next_day_of(evs, clean) for u, evs in tomorrow.users.items()}
    population = sorted(u for u in hintq if u in next_day and next_day[u].active)
    history = ch.build_history([(d.day, d.users) for d in days], clean, cfg)
    retrieval = Retrieval(embedder, today.items, cfg)
    systems.update(baseline_lists(baselines, population, today, history, retrieval, clean, cfg))
    verdicts = retrieval.judge({e.query for lists in systems.values() for es in lists.values() for e in es})
    systems = {name: _judged(lists, verdicts) for name, lists in systems.items()}

    boot = Bootstrap(cfg.evaluate.bootstrap_samples, cfg.evaluate.bootstrap_seed)
    rows = []
    for name, lists in systems.items():
        rows.extend(evaluate_lists(name, lists, next_day, population, cfg.evaluate.ks, retrieval.vectors, boot))
    if cfg.evaluate.random_seeds:
        runs = random_lists(population, today, clean, cfg)
        verdicts = retrieval.judge({e.query for lists in runs for es in lists.values() for e in es})
        rows.extend(average_rows([evaluate_lists(bl.RANDOM, _judged(lists, verdicts), next_day, population,
                                                 cfg.evaluate.ks, retrieval.vectors, boot) for lists in runs]))
        systems[bl.RANDOM] = _judged(runs[0], verdicts)

    real = real_query_texts(real_queries, clean)
    generated = sorted({q["query"] for r in u2q_rows for q in r["queries"] if q["source"] == "generated"})
    x2q = read_published(warehouse, "x2q", day, choice)
    if x2q is not None:
        generated = sorted(set(generated) | {q["query"] for r in _read_all(x2q[1]) for q in r["queries"]
                                             if q["source"] == "generated"})
    metrics = {
        "dt": day, "held_out_day": next_date, "systems": list(systems), "ks": list(cfg.evaluate.ks),
        "rows": rows,
        "population": {"users_with_list": len(hintq), "active_next_day": len(next_day),
                       "evaluated": len(population),
                       "with_next_day_query": sum(1 for u in population if next_day[u].queries),
                       "with_next_day_category": sum(1 for u in population if next_day[u].categories)},
        "inputs": {"u2q_run": manifest.get("run_id"), "x2q_fill": manifest.get("x2q_fill"),
                   "ranking": manifest.get("ranking"), "compared": compared_runs,
                   "history_days": history.days, "titles_as_queries": history.titles_as_queries,
                   "past_queries": len(set(q for _, _, q in history.searches)),
                   "rejected_next_day": dict(sorted(tomorrow.rejected.items()))},
        "realism": realism_of(generated, real, retrieval, cfg.evaluate.near_duplicate) if real else None,
    }
    log.info("evaluated u2q/dt=%s in %.1fs", day, time.perf_counter() - started)
    samples = []
    for user_id in _sample(population, cfg.evaluate.sample_users):
        nd = next_day[user_id]
        samples.append({
            "user_id": user_id,
            "history": _history_lines(today.users.get(user_id, [])),
            "next_day": _history_lines(tomorrow.users.get(user_id, [])),
            "targets": sorted(nd.queries) + sorted(nd.categories),
            "lists": {name: [(e.query, source_class(e.source), e.category) for e in lists.get(user_id, [])[:10]]
                      for name, lists in systems.items() if name != HINTQ_GENERATED},
        })
    context = {
        "samples": samples,
        "list_lengths": {name: Counter(len(lists.get(u, [])) for u in population) for name, lists in systems.items()},
    }
    return metrics, context


def write_evaluation(out_dir: str | Path, metrics: dict, html: str) -> Path:
    """Writes `metrics.json` and `report.html` into `out_dir` all at once: both files are
    staged beside it and swapped in, so a reader never sees one day's metrics with another
    run's report, and a failed run leaves the previous evaluation in place."""
    target = Path(out_dir)
    staged = target.parent / f"_staging-{target.name}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    (staged / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True, default=_jsonable) + "\n")
    (staged / "report.html").write_text(html, encoding="utf-8")
    swap_into_place(staged, target, target.parent / "_trash")
    return target


def _jsonable(value):
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
