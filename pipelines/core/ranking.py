"""Stage 8, rank & fill: verified candidates ordered by score, then filled to K.

score = generated_bonus + w_rank * rank_term + w_support * support_term
        + w_consistency * consistency, minus an MMR-style penalty per earlier pick of the
same category. The bonus keeps every verified generated query above every fallback.
Fallbacks for a u2q list, in order: the x2q lists of the user's most recent triggers
(source `x2q:<type>:<id>`), popular queries of the user's own categories (strongest
interest first), then the day's popular queries overall. An x2q list falls back only to
popular queries of the trigger's own categories. Each entry names its source.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from pipelines.core.config import RankConfig, VerifyConfig
from pipelines.core.normalize import echo_texts
from pipelines.core.records import (Candidate, Suggestion, Trigger, TriggerCandidates, UserCandidates,
                                    VerifiedQuery, trigger_key)
from pipelines.core.text import text_desc_key
from pipelines.core.verify import retrieves_beyond

# The fallback pool holds enough verified popular queries to fill this many K-long lists
# per category, and overall, so a short list never runs out before reaching K.
POOL_PER_CATEGORY_LISTS = 2
POOL_OVERALL_LISTS = 4

SOURCE_GENERATED = "generated"
SOURCE_POPULAR_PREFIX = "popular:"
SOURCE_POPULAR_CATEGORY = SOURCE_POPULAR_PREFIX + "category"
SOURCE_POPULAR_GLOBAL = SOURCE_POPULAR_PREFIX + "global"
SOURCES = (SOURCE_GENERATED, SOURCE_POPULAR_CATEGORY, SOURCE_POPULAR_GLOBAL)
SOURCE_X2Q_PREFIX = "x2q:"


@dataclass(frozen=True)
class PopularQuery:
    query: str
    users: int
    verified: VerifiedQuery


@dataclass(frozen=True)
class FallbackPool:
    """The day's popular queries that passed verification, overall and per leaf category."""

    overall: tuple[PopularQuery, ...] = ()
    by_category: dict[str, tuple[PopularQuery, ...]] = field(default_factory=dict)


def build_fallback_pool(popular: list[tuple[str, int]], verified: dict[str, VerifiedQuery],
                        per_category: int = 50, overall: int = 200) -> FallbackPool:
    """Keeps popular queries that passed verification, most users first (ties by text)."""
    kept = sorted((PopularQuery(q, n, verified[q]) for q, n in popular
                   if q in verified and verified[q].passed), key=lambda p: (-p.users, p.query))
    by_cat: dict[str, list[PopularQuery]] = {}
    for p in kept:
        bucket = by_cat.setdefault(p.verified.category, [])
        if len(bucket) < per_category:
            bucket.append(p)
    return FallbackPool(overall=tuple(kept[:overall]),
                        by_category={k: tuple(v) for k, v in sorted(by_cat.items())})


def consistency(v: VerifiedQuery, category_weights: dict[str, float]) -> float:
    """Agreement of a query's retrieved products with the shopper's interests, in [0, 1]."""
    return sum(share * category_weights.get(leaf, 0.0) for leaf, share in v.hit_categories)


def _support_term(v: VerifiedQuery, floor: float) -> float:
    return min(1.0, max(0.0, (v.support - floor) / max(1e-6, 1.0 - floor)))


Fill = tuple[str, str, VerifiedQuery]  # query, source, its verification


def popular_fills(leaves: Iterable[str], pool: FallbackPool, include_global: bool = True) -> list[Fill]:
    """Popular queries of these leaf categories in order, then (optionally) overall."""
    fills = [(p.query, SOURCE_POPULAR_CATEGORY, p.verified) for leaf in leaves
             for p in pool.by_category.get(leaf, ())]
    if include_global:
        fills += [(p.query, SOURCE_POPULAR_GLOBAL, p.verified) for p in pool.overall]
    return fills


def greedy_mmr(scores: Sequence[float], categories: Sequence[str | None], texts: Sequence[str], k: int,
               penalty: float) -> list[tuple[int, float]]:
    """MMR-style picks: at most `k` times, the highest score less `penalty` per earlier pick
    of the same category (ties: `text_desc_key` of the text). → (index, penalized score)
    in pick order. The hand-weighted and the learned order both diversify with it."""
    remaining = list(range(len(scores)))
    per_category: dict[str | None, int] = {}
    picks: list[tuple[int, float]] = []
    while remaining and len(picks) < k:
        best = max(remaining, key=lambda j: (scores[j] - penalty * per_category.get(categories[j], 0),
                                             text_desc_key(texts[j])))
        remaining.remove(best)
        picks.append((best, scores[best] - penalty * per_category.get(categories[best], 0)))
        per_category[categories[best]] = per_category.get(categories[best], 0) + 1
    return picks


def rank_and_fill(candidates: Sequence[Candidate], weights: dict[str, float], verified: dict[str, VerifiedQuery],
                  fills: Iterable[Fill], k: int, cfg: RankConfig, verify_cfg: VerifyConfig,
                  max_queries: int) -> list[Suggestion]:
    """One list: at most `k` entries, ranks 1..n, scores non-increasing.

    Verified candidates first (scored, MMR over categories), then `fills` in their order,
    skipping queries already listed; a fill's score never exceeds the one above it.
    """
    scored = []
    for c in candidates:
        v = verified.get(c.query)
        if v is None or not v.passed:
            continue
        rank_term = 1.0 - (c.rank - 1) / max(1, max_queries)
        base = (cfg.generated_bonus + cfg.w_rank * rank_term
                + cfg.w_support * _support_term(v, verify_cfg.similarity_floor)
                + cfg.w_consistency * consistency(v, weights))
        scored.append((base, c.query, v))

    picks = greedy_mmr([t[0] for t in scored], [t[2].category for t in scored], [t[1] for t in scored], k,
                       cfg.category_repeat_penalty)
    chosen = [(adjusted, scored[i][1], SOURCE_GENERATED, scored[i][2]) for i, adjusted in picks]
    # MMR can re-order slightly; keep the list sorted by the score it reports.
    chosen.sort(key=lambda t: (-t[0], t[1]))

    seen = {t[1] for t in chosen}
    ceiling = chosen[-1][0] if chosen else 1.0
    for query, source, v in fills:
        if len(chosen) >= k:
            break
        if query in seen or not v.passed:
            continue
        seen.add(query)
        score = (cfg.w_support * _support_term(v, verify_cfg.similarity_floor)
                 + cfg.w_consistency * consistency(v, weights))
        ceiling = min(ceiling, score)
        chosen.append((ceiling, query, source, v))

    return [Suggestion(query=q, score=round(s, 4), rank=i + 1, category=v.category, source=src,
                       evidence=v.evidence) for i, (s, q, src, v) in enumerate(chosen)]


def rank_user(user: UserCandidates, verified: dict[str, VerifiedQuery], pool: FallbackPool, cfg: RankConfig,
              verify_cfg: VerifyConfig, max_queries: int) -> list[Suggestion]:
    """A u2q list: generated queries, then the x2q lists of the user's recent triggers,
    then popular queries of the user's categories, then popular overall."""
    fills: list[Fill] = [(q, src, verified[q]) for q, src in user.trigger_fills if q in verified]
    fills += popular_fills([leaf for leaf, _ in user.profile.categories], pool)
    return rank_and_fill(user.candidates, user.profile.category_weights(), verified, fills, cfg.k, cfg,
                         verify_cfg, max_queries)


def related(trigger: Trigger, v: VerifiedQuery, min_hits: int) -> bool:
    """Whether a verified query is related to the trigger: for an item trigger it must
    retrieve enough items besides the item itself (`only_retrieves_trigger_item`)."""
    return trigger.trigger_type != "item" or retrieves_beyond(v, trigger.trigger_id, min_hits)


def rank_trigger(trigger: TriggerCandidates, verified: dict[str, VerifiedQuery], pool: FallbackPool,
                 cfg: RankConfig, verify_cfg: VerifyConfig, k: int, max_queries: int) -> list[Suggestion]:
    """An x2q list: verified related queries, then popular queries of the trigger's own
    categories only (popular-overall queries are not related to a trigger), never the
    trigger's own text. Candidates and fills alike must be `related` to the trigger."""
    t = trigger.trigger
    weights = dict(t.categories)
    echo = echo_texts(t.text, t.trigger_id)
    checks = {q: v for q, v in verified.items() if related(t, v, verify_cfg.min_hits)}
    fills = [f for f in popular_fills([leaf for leaf, _ in t.categories], pool, include_global=False)
             if f[0] not in echo and related(t, f[2], verify_cfg.min_hits)]
    return rank_and_fill(trigger.candidates, weights, checks, fills, k, cfg, verify_cfg, max_queries)


# A u2q entry a history channel placed (the learned ranker's lists): `channel:<baseline>`.
SOURCE_CHANNEL_PREFIX = "channel:"
HISTORY_CHANNEL_SOURCES = tuple(SOURCE_CHANNEL_PREFIX + ch for ch in ("category_popular", "cooccurrence", "ebr",
                                                                      "popular"))


def is_known_source(source: str) -> bool:
    """generated, popular:*, x2q:<type>:<id> (a u2q entry filled from an x2q list), or a
    history channel's `channel:<baseline>`."""
    return (source in SOURCES or source in HISTORY_CHANNEL_SOURCES
            or (source.startswith(SOURCE_X2Q_PREFIX) and source.count(":") >= 2))


def x2q_source(trigger_type: str, trigger_id: str) -> str:
    return SOURCE_X2Q_PREFIX + trigger_key(trigger_type, trigger_id)
