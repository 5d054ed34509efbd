"""Stage 7, verify: a query is kept only if it retrieves real products.

After QueryAgent-R1 (2026): a generated query is good only when the catalog answers it.
The retrieval itself (embedder + faiss) lives in pipelines/; this module judges the hits.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from pipelines.core.config import VerifyConfig
from pipelines.core.records import VerifiedQuery


def judge_retrieval(query: str, scores: list[float], item_ids: list[str], leaves: list[str],
                    cfg: VerifyConfig) -> VerifiedQuery:
    """Decides from the top-k hits (best first) whether `query` passes.

    Passes with at least `min_hits` items at cosine similarity >= `similarity_floor`.
    Its category is the leaf most of those hits share (ties: higher summed similarity,
    then name), and its evidence the best hit item ids.
    """
    hits = [(s, i, leaf) for s, i, leaf in zip(scores, item_ids, leaves)
            if i is not None and s >= cfg.similarity_floor]
    if not hits:
        return VerifiedQuery(query=query, passed=False, reason="no_hits_above_floor", support=0.0,
                             category=None, hit_categories=(), evidence=())
    counts = Counter(leaf for _, _, leaf in hits)
    sums: dict[str, float] = defaultdict(float)
    for s, _, leaf in hits:
        sums[leaf] += s
    ranked = sorted(counts, key=lambda leaf: (-counts[leaf], -sums[leaf], leaf))
    shares = tuple((leaf, round(counts[leaf] / len(hits), 4)) for leaf in ranked)
    passed = len(hits) >= cfg.min_hits
    return VerifiedQuery(
        query=query, passed=passed, reason="ok" if passed else "too_few_hits",
        support=round(sum(s for s, _, _ in hits) / len(hits), 4), best=round(max(s for s, _, _ in hits), 4),
        category=ranked[0],
        hit_categories=shares, evidence=tuple(i for _, i, _ in hits[: cfg.evidence_items]),
        n_hits=len(hits))


def retrieves_beyond(v: VerifiedQuery, item_id: str, min_hits: int) -> bool:
    """Whether `v` retrieves at least `min_hits` items other than `item_id`: a query for an
    item trigger that finds only the trigger item itself is not a *related* query."""
    return v.n_hits - (item_id in v.evidence) >= min_hits
