"""The baselines HintQ's lists are measured against (stage 11), as plain functions.

All four read the same validated, de-duplicated history HintQ reads, with queries
normalized the way generated ones are. Each returns the query texts of one list, best
first; short lists are filled from the popular list (source `popular:global`), the way
HintQ fills its own. Every tie is broken by query text, so a list never depends on
input order.

- popular: the queries searched by the most users over the last N days (a user counts
  once per day).
- category_popular: the most popular queries whose category is one of the user's top
  categories (strongest interest first, round-robin), then popular.
- cooccurrence: queries searched in the same sessions as the user's items and queries of
  day D, scored by the sum over the user's anchors of anchor weight × sessions shared.
- ebr: embedding-based retrieval, the user vector being the weighted mean of the title
  embeddings of the items the user touched on D (weights: event type × recency, as
  profiles weigh evidence, so a view counts least),
  matched by cosine against an index of the past N days' queries (the search itself is in
  pipelines/, on faiss).
"""
from __future__ import annotations

import heapq
import math
import random
from collections import Counter, defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from pipelines.core.metrics import ListEntry
from pipelines.core.ranking import SOURCE_POPULAR_GLOBAL
from pipelines.core.text import stable_hash

BASELINES = ("popular", "category_popular", "cooccurrence", "ebr")
# The chance reference: K random catalog titles per user (not a baseline to beat, a floor).
RANDOM = "random"
Anchor = tuple[str, str]  # ("item", item_id) | ("query", normalized query)


def _ranked(counts: Mapping[str, float]) -> list[str]:
    return [q for q, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def popular_counts(searches: Iterable[tuple[str, str, str]]) -> Counter:
    """(day, user, normalized query) → query: distinct (day, user) pairs that searched it."""
    return Counter(q for _, _, q in set(searches))


def popular_list(counts: Mapping[str, int], k: int) -> list[str]:
    return _ranked(counts)[:k]


def fill(own: Sequence[str], source: str, popular: Sequence[str], k: int) -> list[ListEntry]:
    """`own` queries (source `source`), then popular ones not yet listed, up to K."""
    entries = [ListEntry(q, source) for q in dict.fromkeys(own)][:k]
    listed = {e.query for e in entries}
    for q in popular:
        if len(entries) >= k:
            break
        if q not in listed:
            entries.append(ListEntry(q, SOURCE_POPULAR_GLOBAL))
            listed.add(q)
    return entries


def category_popular_list(user_leaves: Sequence[str], popular_by_leaf: Mapping[str, Sequence[str]],
                          k: int, top_leaves: int = 3) -> list[str]:
    """Round-robin over the user's `top_leaves` strongest leaves, each leaf's queries most
    popular first."""
    queues = [list(popular_by_leaf.get(leaf, ())) for leaf in user_leaves[:top_leaves]]
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < k and any(queues):
        for queue in queues:
            while queue:
                q = queue.pop(0)
                if q not in seen:
                    seen.add(q)
                    out.append(q)
                    break
            if len(out) == k:
                break
    return out


def popular_by_leaf(counts: Mapping[str, int], category_of: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Popular queries grouped by their category (retrieval's dominant leaf), most popular first."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for q in _ranked(counts):
        cat = category_of.get(q)
        if cat:
            grouped[cat].append(q)
    return dict(grouped)


def cooccurrence_counts(sessions: Iterable[tuple[Sequence[Anchor], Sequence[str]]]) -> dict[Anchor, Counter]:
    """Per session (its anchors: items and queries; its normalized queries), every anchor
    counts each *other* query of the session once. → anchor → Counter(query → sessions)."""
    counts: dict[Anchor, Counter] = defaultdict(Counter)
    for anchors, queries in sessions:
        for anchor, q in session_pairs(anchors, queries):
            counts[anchor][q] += 1
    return counts


def session_pairs(anchors: Sequence[Anchor], queries: Sequence[str]):
    """One session's co-occurrences: each distinct anchor with each *other* distinct query."""
    distinct = set(queries)
    for anchor in set(anchors):
        for q in distinct:
            if anchor != ("query", q):
                yield anchor, q


def cooccurrence_list(anchor_weights: Mapping[Anchor, float], counts: Mapping[Anchor, Counter], k: int) -> list[str]:
    scores: dict[str, float] = defaultdict(float)
    for anchor, w in anchor_weights.items():
        for q, n in counts.get(anchor, {}).items():
            scores[q] += w * n
    return _ranked(scores)[:k]


def user_vector(vectors: np.ndarray, weights: Sequence[float]) -> np.ndarray | None:
    """Weighted mean of L2-normalized rows, normalized again; None without positive weight."""
    w = np.asarray(weights, dtype="float32")
    if len(vectors) == 0 or float(w.sum()) <= 0:
        return None
    mean = (vectors * w[:, None]).sum(axis=0) / w.sum()
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype("float32") if norm > 0 else None


def nearest_queries(scores: Sequence[float], queries: Sequence[str], k: int) -> list[str]:
    """Queries by descending similarity, ties by text (faiss order is not tie-stable).
    Only the queries scoring at least the k-th best score are sorted (every tie of it
    among them, so the order is the full sort's): the EBR channel asks this of the whole
    vocabulary for every shopper."""
    if k <= 0:
        return []
    least = heapq.nlargest(k, scores)[-1] if len(scores) > k else -math.inf
    best = [(q, s) for q, s in zip(queries, scores) if s >= least]
    return [q for q, _ in sorted(best, key=lambda qs: (-qs[1], qs[0]))][:k]


def random_list(vocabulary: Sequence[str], key: str, k: int) -> list[ListEntry]:
    """K entries drawn without replacement from `vocabulary` by a generator seeded from
    `key` (the seed and the user): the same list on every run."""
    picks = random.Random(stable_hash(key)).sample(list(vocabulary), min(k, len(vocabulary)))
    return [ListEntry(q, RANDOM) for q in picks]
