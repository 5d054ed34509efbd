"""Time and memory of stage 8's candidate generation and learned ranking, per 1,000 users.
Measured, never asserted.

Runs the nightly job's own core code, in one process, on a sample world (or any input
root): the history channels' model (history read and counted, vocabulary checked against
the catalog and embedded), then per user what `RankUsers` does (channel lists, proposals,
features with the real embedder, scoring by a LightGBM ranker, diversity), and the
ranker's training on the same candidates labelled by the next day. Generation is not in
it (benchmarks/generation_throughput.py measures that); a user's generated candidates
here are none, so the measured candidates are every other channel's.

    .venv/pipeline/bin/python benchmarks/ranking_cost.py --users 1000
    .venv/pipeline/bin/python benchmarks/ranking_cost.py --input data/input --date 2026-11-01

One JSON line: seconds and peak traced Python memory (MiB) per phase, candidates per user,
and the process's peak RSS.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from datasets.sample_world import write_world  # noqa: E402
from evaluation.evaluate import Retrieval  # noqa: E402
from pipelines.core import channels as ch  # noqa: E402
from pipelines.core.config import HintQConfig  # noqa: E402
from pipelines.core.features import FEATURE_NAMES, UserContext  # noqa: E402
from pipelines.core.metrics import NextDay  # noqa: E402
from pipelines.core.normalize import DEFAULT_BLOCKLIST, QueryCleaner, load_blocklist  # noqa: E402
from pipelines.core.profile import build_profile  # noqa: E402
from pipelines.core.ranker import (Group, Ranker, diversified, label, proposals_of, rank_candidates,  # noqa: E402
                                   train)
from pipelines.core.ranking import build_fallback_pool, popular_fills  # noqa: E402
from pipelines.core.records import UserCandidates  # noqa: E402
from pipelines.core.validate import partition_bounds_us  # noqa: E402
from pipelines.engines.embedder import EmbedderSpec  # noqa: E402
from warehouse.inputs import history_days, read_input_day  # noqa: E402


class Phase:
    def __init__(self, name: str, out: dict):
        self.name, self.out = name, out

    def __enter__(self):
        tracemalloc.start()
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        seconds = time.perf_counter() - self.started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        self.out[self.name] = {"s": round(seconds, 2), "peak_mib": round(peak / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default=None, help="an input root (default: a fresh sample world)")
    parser.add_argument("--date", default="2026-11-01", help="the night's day (its next day labels)")
    parser.add_argument("--users", type=int, default=1000, help="sample world users")
    args = parser.parse_args()
    cfg = HintQConfig()
    root = args.input
    if root is None:
        root = tempfile.mkdtemp(prefix="hintq_rank_bench_")
        write_world(Path(root), dt.date.fromisoformat(args.date), days=2, n_users=args.users, seed=7)
    clean = QueryCleaner(cfg.normalize, load_blocklist(DEFAULT_BLOCKLIST))
    phases: dict[str, dict] = {}
    embedder = EmbedderSpec.for_config(cfg.verify)

    with Phase("history_read_and_count", phases):
        days = [d for d in (read_input_day(root, day, cfg) for day in history_days(args.date, cfg.evaluate.history_days))
                if d is not None]
        today = days[-1]
        history = ch.build_history([(d.day, d.users) for d in days], clean, cfg)
    retrieval = Retrieval(embedder, today.items, cfg)  # the catalog index: stage 7's, not measured here
    with Phase("channel_model", phases):
        counts, vocabulary = ch.vocabulary_of(history, cfg.ranker.vocabulary)
        checks = retrieval.judge(vocabulary)
        model = ch.channel_model(history, (counts, vocabulary), checks, retrieval.vectors(vocabulary),
                                 cfg.ranker.per_channel)
        popular = [(q, n) for q, n in model.counts.most_common(cfg.rank.popular_pool)]
        pool = build_fallback_pool(popular, checks)
    end = partition_bounds_us(dt.date.fromisoformat(args.date))[1]
    users = sorted(today.users)
    per_user = []
    with Phase("candidates_and_features", phases):
        for user_id in users:
            events = today.users[user_id]
            profile = build_profile(user_id, events, end, cfg.session, clean_query=clean)
            user = UserCandidates(user_id, profile, 0, 0, ())
            day = ch.user_day(events, args.date, clean, cfg, model.titles_as_queries)
            centroid = ch.title_centroid(day, retrieval.vectors)
            lists = ch.channel_lists(day, model, centroid, cfg.ranker.per_channel, cfg.evaluate.top_leaves)
            fills = popular_fills([leaf for leaf, _ in profile.categories], pool)
            proposals = proposals_of(user, fills, lists, cfg.ranker.per_channel)
            queries = sorted({p.query for p in proposals if p.query in checks and checks[p.query].passed})
            context = UserContext(profile.category_weights(), day.touched_queries, profile.recent_queries, centroid)
            per_user.append((user_id, rank_candidates(proposals, checks, context, model.counts,
                                                      dict(zip(queries, retrieval.vectors(queries))))))
    next_date = (dt.date.fromisoformat(args.date) + dt.timedelta(days=1)).isoformat()
    tomorrow = read_input_day(root, next_date, cfg)
    next_day = {u: ch.next_day_of(evs, clean) for u, evs in (tomorrow.users.items() if tomorrow else [])}
    groups = [Group(u, [c.features for c in cands],
                    [label(c.check.category, c.query, next_day.get(u, NextDay())) for c in cands])
              for u, cands in per_user]
    with Phase("train", phases):
        trained = train(groups, cfg.ranker)
    ranker = Ranker(trained.model_text, FEATURE_NAMES)
    with Phase("score_and_diversify", phases):
        for _, cands in per_user:
            diversified(cands, ranker.score([c.features for c in cands]), cfg.rank.k, cfg.ranker.diversity)
    n = len(users)
    per_1000 = {name: round(p["s"] * 1000 / max(1, n), 2) for name, p in phases.items()
                if name in ("candidates_and_features", "score_and_diversify")}
    print(json.dumps({
        "users": n, "candidates_per_user": round(sum(len(c) for _, c in per_user) / max(1, n), 1),
        "vocabulary": len(vocabulary), "phases": phases, "seconds_per_1000_users": per_1000,
        "validation_ndcg_at_10": trained.report["validation_ndcg_at_10"],
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
