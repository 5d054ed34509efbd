"""Stage 8's learned order: every channel's candidates, one LightGBM LambdaRank model.

A candidate is a (user, query) some channel proposed and stage 7 verified; its features
are pipelines/core/features.py. The model learns from day D-1's candidates labelled by
day D's behaviour (graded, the evaluation's own targets):

    2  the user typed the query on D
    1  the query's category is the leaf of an item the user clicked, carted or bought on D
    0  otherwise

Training is deterministic: fixed seed, one thread, row-wise histograms, rows in a fixed
order (users by id, candidates by query), so the same partitions give the same model file.
After scoring, an MMR-style penalty per earlier pick of the same category keeps a list
from collapsing into one category.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple, Sequence

import numpy as np

from pipelines.core.channels import (CH_GENERATED, CH_POOL_CATEGORY, CH_POOL_GLOBAL, CH_X2Q, CHANNELS,
                                     HISTORY_CHANNELS)
from pipelines.core.config import RankerConfig
from pipelines.core.features import FEATURE_NAMES, FEATURES, NAN, UserContext, candidate_features, matrix, without_channel
from pipelines.core.metrics import NextDay
from pipelines.core.ranking import SOURCE_CHANNEL_PREFIX, SOURCE_X2Q_PREFIX, Fill, greedy_mmr
from pipelines.core.records import Suggestion, UserCandidates, VerifiedQuery
from pipelines.core.text import stable_hash

LABEL_QUERY, LABEL_CATEGORY = 2, 1
NDCG_AT = 10


class RankerUnusable(ValueError):
    """A ranker model that cannot be read or does not score this code's features."""


class FeaturesDiffer(RankerUnusable):
    """A ranker, or candidates, of another feature set than this code computes: written
    before a change of the features, not damaged."""


@dataclass(frozen=True)
class Proposal:
    channel: str  # one of CHANNELS
    query: str
    rank: int  # 1-based, in that channel's list
    source: str  # the entry's source if this channel places it (x2q: `x2q:<type>:<id>`)


@dataclass(frozen=True)
class RankCandidate:
    """One verified candidate of one user: its channels (channel → rank), the source of
    the channel that placed it (its best rank; ties in CHANNELS order), its check and
    its features."""

    query: str
    channels: Mapping[str, int]
    source: str
    check: VerifiedQuery
    features: Mapping[str, float]


_CHANNEL_ORDER = {ch: i for i, ch in enumerate(CHANNELS)}


def placing_channel(channels: Mapping[str, int]) -> str:
    """The channel that ranks an entry best (ties in CHANNELS order): it names the source."""
    return min(channels, key=lambda ch: (channels[ch], _CHANNEL_ORDER[ch]))


def merge_proposals(proposals: Iterable[Proposal]) -> dict[str, tuple[dict[str, int], str]]:
    """query → (channel → best rank there, the placing channel's source), queries sorted."""
    best: dict[str, dict[str, Proposal]] = {}
    for p in proposals:
        per = best.setdefault(p.query, {})
        if p.channel not in per or p.rank < per[p.channel].rank:
            per[p.channel] = p
    out = {}
    for query in sorted(best):
        per = best[query]
        channels = {ch: per[ch].rank for ch in sorted(per, key=_CHANNEL_ORDER.__getitem__)}
        out[query] = (channels, per[placing_channel(channels)].source)
    return out


def proposals_of(user: UserCandidates, pool_fills: Sequence[Fill], history_lists: Mapping[str, Sequence[str]],
                 per_channel: int, listed: frozenset[str] = frozenset()) -> list[Proposal]:
    """Every channel's proposals for one user: the model's answer, the x2q lists of recent
    triggers (in fill order), the day's popular queries of the user's categories and
    overall (the hand-weighted fills: the first `per_channel` of each, and any deeper one
    the hand-weighted list holds, `listed`, so that list is rebuilt from the candidates),
    and the history channels' lists."""
    out = [Proposal(CH_GENERATED, c.query, c.rank, CH_GENERATED) for c in user.candidates]
    out += [Proposal(CH_X2Q, q, i + 1, src) for i, (q, src) in enumerate(user.trigger_fills)]
    for channel in (CH_POOL_CATEGORY, CH_POOL_GLOBAL):
        out += [Proposal(channel, q, i + 1, channel)
                for i, (q, _, _) in enumerate(f for f in pool_fills if f[1] == channel)
                if i < per_channel or q in listed]
    for channel in HISTORY_CHANNELS:
        out += [Proposal(channel, q, i + 1, SOURCE_CHANNEL_PREFIX + channel)
                for i, q in enumerate(history_lists.get(channel, ()))]
    return out


def rank_candidates(proposals: Iterable[Proposal], checks: Mapping[str, VerifiedQuery], user: UserContext,
                    popularity: Mapping[str, int], query_vectors: Mapping[str, np.ndarray]) -> list[RankCandidate]:
    """The user's verified candidates with their features, by query text. A query without
    a check, or whose check failed, is no candidate."""
    out = []
    for query, (channels, source) in merge_proposals(proposals).items():
        check = checks.get(query)
        if check is None or not check.passed:
            continue
        out.append(RankCandidate(query, channels, source, check, candidate_features(
            query, channels, check, user, popularity.get(query, 0), query_vectors.get(query))))
    return out


class CandidateRecord(NamedTuple):
    """A `candidates` part row as it travels from ranking to the write: its features as
    values in FEATURE_NAMES order, named once, by `to_row`. As a dict, every row carried
    the twenty feature names; a shopper has ~46 candidates, and the runner holds them
    all between ranking and the write (739 → 338 bytes a row encoded)."""
    user_id: str
    query: str
    category: str | None
    source: str
    channels: tuple[tuple[str, int], ...]
    feature_values: tuple[float, ...]
    hand_rank: int | None
    hand_source: str | None
    rank: int | None
    score: float | None

    def to_row(self) -> dict:
        """The row schemas/candidates.py declares."""
        return {"user_id": self.user_id, "query": self.query, "category": self.category, "source": self.source,
                "channels": list(self.channels), "features": list(zip(FEATURE_NAMES, self.feature_values)),
                "hand_rank": self.hand_rank, "hand_source": self.hand_source, "rank": self.rank, "score": self.score}


def candidate_record(user_id: str, c: RankCandidate, hand: Suggestion | None, rank: int | None,
                     score: float | None) -> CandidateRecord:
    """A `candidates` part row of one user's candidate; `hand` is its entry in the
    hand-weighted list, if it is in it."""
    return CandidateRecord(user_id, c.query, c.check.category, c.source, tuple(c.channels.items()),
                           tuple(c.features[name] for name in FEATURE_NAMES),
                           None if hand is None else hand.rank, None if hand is None else hand.source,
                           rank, None if score is None else round(score, 6))


def candidate_from_row(row: Mapping) -> RankCandidate:
    """A `candidates` row read back (features and channels as (name, value) pairs); the
    check holds what a list entry needs (category, evidence is not kept)."""
    check = VerifiedQuery(query=row["query"], passed=True, reason="ok", support=0.0, category=row["category"],
                          hit_categories=(), evidence=())
    features = {name: (NAN if v is None else v) for name, v in row["features"]}
    if tuple(features) != FEATURE_NAMES:
        raise FeaturesDiffer(f"candidates of {row['user_id']} carry features {list(features)}; "
                             f"this code computes {list(FEATURE_NAMES)}")
    return RankCandidate(row["query"], dict(row["channels"]), row["source"], check, features)


def _per_user(rows: Iterable[Mapping]) -> dict[str, list[Mapping]]:
    per_user: dict[str, list[Mapping]] = {}
    for r in rows:
        per_user.setdefault(r["user_id"], []).append(r)
    return {u: sorted(rs, key=lambda r: r["query"]) for u, rs in sorted(per_user.items())}


def hand_weighted_lists(rows: Iterable[Mapping]) -> dict[str, list[Suggestion]]:
    """Each user's hand-weighted list, read back from the `candidates` rows' `hand_rank`
    and `hand_source` (the list the night publishes without a ranker)."""
    return {u: [Suggestion(query=r["query"], score=0.0, rank=r["hand_rank"], category=r["category"],
                           source=r.get("hand_source") or r["source"])
                for r in sorted((r for r in rs if r["hand_rank"] is not None), key=lambda r: r["hand_rank"])]
            for u, rs in _per_user(rows).items()}


def placing_source(channels: Mapping[str, int], x2q_source: str | None = None) -> str | None:
    """The source an entry gets from the channel that ranks it best (ties in CHANNELS
    order); an x2q entry's is `x2q_source` when known."""
    if not channels:
        return None
    best = placing_channel(channels)
    if best == CH_X2Q:
        return x2q_source or SOURCE_X2Q_PREFIX
    return SOURCE_CHANNEL_PREFIX + best if best in HISTORY_CHANNELS else best


def reranked_lists(rows: Iterable[Mapping], ranker: Ranker, k: int, diversity: float,
                   without: str | None = None) -> dict[str, list[Suggestion]]:
    """Each user's list re-scored from the `candidates` rows; `without` a channel, its
    candidates no other channel proposed are gone and its features missing: the list the
    night would have published had that channel not run."""
    out = {}
    for user_id, rs in _per_user(rows).items():
        cands = [candidate_from_row(r) for r in rs]
        if without is not None:
            kept = []
            for c in cands:
                channels = {ch: n for ch, n in c.channels.items() if ch != without}
                if channels:
                    x2q = c.source if c.source.startswith(SOURCE_X2Q_PREFIX) else None
                    kept.append(RankCandidate(c.query, channels, placing_source(channels, x2q), c.check,
                                              without_channel(c.features, without)))
            cands = kept
        out[user_id] = diversified(cands, ranker.score([c.features for c in cands]), k, diversity)
    return out


def label(category: str | None, query: str, next_day: NextDay) -> int:
    if query in next_day.queries:
        return LABEL_QUERY
    return LABEL_CATEGORY if category is not None and category in next_day.categories else 0


def _scaled(scores: Sequence[float]) -> list[float]:
    """Scores scaled to [0, 1] over one user's candidates (all 1.0 when they are equal)."""
    raw = [float(s) for s in scores]
    low, high = (min(raw), max(raw)) if raw else (0.0, 0.0)
    span = high - low
    return [(s - low) / span if span > 0 else 1.0 for s in raw]


def diversified(candidates: Sequence[RankCandidate], scores: Sequence[float], k: int,
                diversity: float) -> list[Suggestion]:
    """The K best by score, each earlier pick of the same category costing `diversity`
    (greedy MMR); ties by query text. Scores are first scaled to [0, 1] over the user's
    candidates (a ranker's raw scale means nothing across days), so `diversity` is a
    share of the user's score range. Reported scores are the penalized ones, made
    non-increasing down the list."""
    out: list[Suggestion] = []
    for i, adjusted in greedy_mmr(_scaled(scores), [c.check.category for c in candidates], [c.query for c in candidates],
                                  k, diversity):
        c = candidates[i]
        score = min(adjusted, out[-1].score) if out else adjusted
        out.append(Suggestion(query=c.query, score=score, rank=len(out) + 1, category=c.check.category,
                              source=c.source, evidence=c.check.evidence))
    return [dataclasses.replace(s, score=round(s.score, 4)) for s in out]


class Ranker:
    """A trained model, read from its LightGBM text; scores feature rows."""

    def __init__(self, model_text: str, feature_names: Sequence[str]):
        if tuple(feature_names) != FEATURE_NAMES:
            raise FeaturesDiffer(f"the ranker was trained on features {list(feature_names)}; "
                                 f"this code computes {list(FEATURE_NAMES)}")
        import lightgbm as lgb

        try:
            self.booster = lgb.Booster(model_str=model_text)
        except Exception as exc:  # LightGBM raises its own error type for a bad model text
            raise RankerUnusable(f"the ranker model cannot be read: {exc}") from None
        if self.booster.num_feature() != len(FEATURE_NAMES):
            raise RankerUnusable(f"the ranker model has {self.booster.num_feature()} features, "
                                 f"expected {len(FEATURE_NAMES)}")

    def score(self, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        return self.booster.predict(matrix(rows), num_threads=1)


@dataclass(frozen=True)
class Group:
    """One user's candidates of day D-1 with their labels from day D (and their
    categories, for choosing the diversity weight)."""

    user_id: str
    features: list[Mapping[str, float]]
    labels: list[int]
    categories: list[str | None] = field(default_factory=list)


def training_groups(rows: Iterable[Mapping], next_day: Mapping[str, NextDay]) -> list[Group]:
    """`candidates` rows of D-1 and each user's day D → one labelled group per user (users
    by id, candidates by query). A user not active on D labels every candidate 0."""
    groups = []
    for user_id, cands in _per_user(rows).items():
        target = next_day.get(user_id, NextDay())
        groups.append(Group(user_id, [candidate_from_row(r).features for r in cands],
                            [label(r["category"], r["query"], target) for r in cands],
                            [r["category"] for r in cands]))
    return groups


def ndcg(labels: Sequence[int], scores: Sequence[float], at: int = NDCG_AT) -> float:
    """NDCG@at of one list ordered by descending score (ties by position)."""
    order = sorted(range(len(labels)), key=lambda i: (-scores[i], i))[:at]
    dcg = sum((2 ** labels[i] - 1) / math.log2(r + 2) for r, i in enumerate(order))
    ideal = sorted(labels, reverse=True)[:at]
    idcg = sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def params(cfg: RankerConfig) -> dict:
    return {"objective": "lambdarank", "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
            "min_data_in_leaf": cfg.min_data_in_leaf, "seed": cfg.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": cfg.threads, "verbose": -1,
            "lambdarank_truncation_level": 30, "label_gain": [0.0, 1.0, 3.0],
            "monotone_constraints": [f.direction for f in FEATURES]}


def split(groups: Sequence[Group], validation_share: float) -> tuple[list[Group], list[Group]]:
    """Users by a stable hash of their id: the same users validate on every run."""
    held = {g.user_id for g in groups if (stable_hash("ranker-validation:" + g.user_id) % 1000) / 1000
            < validation_share}
    return [g for g in groups if g.user_id not in held], [g for g in groups if g.user_id in held]


@dataclass(frozen=True)
class TrainedRanker:
    model_text: str
    report: dict  # rows, groups, label counts, validation NDCG (model and references), importances


def _dataset_arrays(groups: Sequence[Group]):
    rows = [f for g in groups for f in g.features]
    return matrix(rows), np.array([y for g in groups for y in g.labels], dtype="float64"), [len(g.labels) for g in groups]


def _mean_ndcg(groups: Sequence[Group], scorer) -> float | None:
    values = [ndcg(g.labels, scorer(g)) for g in groups]
    return round(sum(values) / len(values), 6) if values else None


def _best_channel_rank(g: Group) -> list[float]:
    """The reference order without learning: the best rank any channel gave (then more channels)."""
    out = []
    for f in g.features:
        ranks = [f[n] for n in FEATURE_NAMES if n.startswith("rank_") and f[n] == f[n]]
        out.append(-(min(ranks) if ranks else 1e9) + 0.001 * f["n_channels"])
    return out


# The diversity weights training tries on the validation users (the config's is added).
DIVERSITY_GRID = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def list_utility(labels: Sequence[int], order: Sequence[int], k: int = NDCG_AT) -> float:
    """What the evaluation's headline metrics reward of one list: a hit of the user's next
    day in the top K (any label) plus the reciprocal rank of the first typed query."""
    top = [labels[i] for i in order[:k]]
    first_query = next((r for r, y in enumerate(top) if y == LABEL_QUERY), None)
    return float(any(top)) + (1.0 / (first_query + 1) if first_query is not None else 0.0)


def choose_diversity(groups: Sequence[Group], ranker: "Ranker", default: float) -> tuple[float, dict]:
    """The diversity weight with the best mean `list_utility` on `groups` (ties: the
    smaller weight); without groups, `default`. → (weight, utility per weight tried)."""
    if not groups:
        return default, {}
    scored = [(g, ranker.score(g.features)) for g in groups]
    utility = {}
    for weight in sorted(set(DIVERSITY_GRID) | {default}):
        total = 0.0
        for g, scores in scored:
            n = len(g.categories)  # a group built without categories has nothing to order
            order = [i for i, _ in greedy_mmr(_scaled(scores)[:n], g.categories, [str(i) for i in range(n)],
                                              NDCG_AT, weight)]
            total += list_utility(g.labels, order)
        utility[weight] = round(total / len(scored), 6)
    best = max(utility, key=lambda w: (utility[w], -w))
    return best, {str(w): u for w, u in utility.items()}


def train(groups: Sequence[Group], cfg: RankerConfig) -> TrainedRanker:
    """LambdaRank over the groups that hold at least one positive label. Raises
    ValueError when none do (nothing to learn from)."""
    import lightgbm as lgb

    useful = sorted((g for g in groups if any(g.labels)), key=lambda g: g.user_id)
    if not useful:
        raise ValueError("no user has a candidate labelled by the next day's behaviour: nothing to learn")
    train_groups, valid_groups = split(useful, cfg.validation_share)
    if not train_groups:
        train_groups, valid_groups = valid_groups, []
    x, y, sizes = _dataset_arrays(train_groups)
    data = lgb.Dataset(x, label=y, group=sizes, feature_name=list(FEATURE_NAMES), free_raw_data=False)
    booster = lgb.train(params(cfg), data, num_boost_round=cfg.rounds)
    model_text = booster.model_to_string()
    ranker = Ranker(model_text, FEATURE_NAMES)
    gains = booster.feature_importance(importance_type="gain")
    splits = booster.feature_importance(importance_type="split")
    labels = [y_ for g in useful for y_ in g.labels]
    diversity, tried = choose_diversity(valid_groups, ranker, cfg.diversity) if cfg.tune_diversity else \
        (cfg.diversity, {})
    report = {
        "diversity": {"chosen": diversity, "validation_utility": tried,
                      "how": "validation users' mean of hit@10 + MRR of the first typed query"
                      if cfg.tune_diversity else "ranker.diversity (ranker.tune_diversity is false)"},
        "groups": {"with_candidates": len(groups), "with_positive_label": len(useful),
                   "train": len(train_groups), "validation": len(valid_groups)},
        "rows": {"train": int(len(y)), "validation": sum(len(g.labels) for g in valid_groups)},
        "labels": {str(v): labels.count(v) for v in sorted(set(labels))},
        "validation_ndcg_at_10": {
            "ranker": _mean_ndcg(valid_groups, lambda g: list(ranker.score(g.features))),
            "best_channel_rank": _mean_ndcg(valid_groups, _best_channel_rank),
        },
        "train_ndcg_at_10": _mean_ndcg(train_groups, lambda g: list(ranker.score(g.features))),
        "importance": {name: {"gain": round(float(gn), 4), "splits": int(sp)}
                       for name, gn, sp in sorted(zip(FEATURE_NAMES, gains, splits), key=lambda t: (-t[1], t[0]))},
    }
    return TrainedRanker(model_text=model_text, report=report)
