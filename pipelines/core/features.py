"""The learned ranker's features of one (user, query) candidate, declared once.

The nightly job computes them (stage 8) and publishes them with every candidate in the
`candidates` part of u2q; the ranker trains on those rows and the evaluation re-scores
them, so training and serving read one set of numbers computed by one function.
A missing value (a channel that did not propose the query, a query never typed) is NaN,
which LightGBM treats as missing rather than as a number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from pipelines.core.channels import CHANNELS
from pipelines.core.ranking import consistency
from pipelines.core.records import VerifiedQuery

NAN = float("nan")


@dataclass(frozen=True)
class Feature:
    name: str
    meaning: str
    # The ranker's score may only rise (+1) or only fall (-1) with this feature, or either
    # (0): a prior that keeps a model trained on one small day from learning, say, that a
    # worse channel rank is better. A missing value (NaN) is free either way.
    direction: int = 0


FEATURES = (
    *(Feature(f"rank_{ch.replace(':', '_')}", f"1-based rank in the `{ch}` channel's list (missing: not proposed)",
              -1) for ch in CHANNELS),
    Feature("n_channels", "how many channels proposed the query", +1),
    Feature("n_hits", "catalog items retrieved at or above the similarity floor (stage 7)"),
    Feature("best_similarity", "cosine of the best retrieved item"),
    Feature("mean_similarity", "mean cosine of the items above the floor (stage 7's support)"),
    Feature("consistency", "share of the retrieved items in the user's categories, weighted by interest", +1),
    Feature("category_weight", "the user's interest in the query's category (strongest 1.0; 0: none)", +1),
    Feature("profile_cosine", "cosine between the query and the centroid of the titles the user touched on D", +1),
    Feature("popularity", "log(1 + distinct user-days that searched it over the history)"),
    Feature("popularity_in_categories", "popularity × category_weight: popular in the user's own categories", +1),
    Feature("touched_recency", "1-based recency among the queries the user typed (or items engaged) on D", -1),
    Feature("remembered_recency", "1-based recency among the profile memory's recent queries", -1),
    Feature("query_tokens", "words in the query"),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)
CHANNEL_FEATURE = {ch: f"rank_{ch.replace(':', '_')}" for ch in CHANNELS}


@dataclass(frozen=True)
class UserContext:
    """What the features read of the user: interest per leaf (strongest 1.0), the queries
    touched on D and remembered, most recent first, and the title centroid (or None)."""

    category_weights: Mapping[str, float]
    touched_queries: Sequence[str]
    remembered_queries: Sequence[str]
    centroid: np.ndarray | None


def _recency(query: str, ordered: Sequence[str]) -> float:
    try:
        return float(list(ordered).index(query) + 1)
    except ValueError:
        return NAN


def candidate_features(query: str, channels: Mapping[str, int], check: VerifiedQuery, user: UserContext,
                       popularity: int, query_vector: np.ndarray | None) -> dict[str, float]:
    """One candidate's features by name (FEATURE_NAMES order). `channels`: channel → rank."""
    weight = float(user.category_weights.get(check.category, 0.0)) if check.category else 0.0
    pop = math.log1p(popularity)
    cosine = (float(np.dot(user.centroid, query_vector))
              if user.centroid is not None and query_vector is not None else NAN)
    out = {CHANNEL_FEATURE[ch]: float(channels[ch]) if ch in channels else NAN for ch in CHANNELS}
    out.update({
        "n_channels": float(len(channels)),
        "n_hits": float(check.n_hits),
        "best_similarity": float(check.best),
        "mean_similarity": float(check.support),
        "consistency": consistency(check, user.category_weights),
        "category_weight": weight,
        "profile_cosine": round(cosine, 6) if cosine == cosine else NAN,
        "popularity": pop,
        "popularity_in_categories": pop * weight,
        "touched_recency": _recency(query, user.touched_queries),
        "remembered_recency": _recency(query, user.remembered_queries),
        "query_tokens": float(len(query.split())),
    })
    return {name: out[name] for name in FEATURE_NAMES}


def without_channel(features: Mapping[str, float], channel: str) -> dict[str, float]:
    """The features as if `channel` had not run (the ablation of a channel)."""
    out = dict(features)
    if out[CHANNEL_FEATURE[channel]] == out[CHANNEL_FEATURE[channel]]:
        out[CHANNEL_FEATURE[channel]] = NAN
        out["n_channels"] -= 1
    return out


def matrix(rows: Sequence[Mapping[str, float]]) -> np.ndarray:
    """Feature rows → a float64 matrix in FEATURE_NAMES order (None → NaN)."""
    return np.array([[NAN if r[n] is None else r[n] for n in FEATURE_NAMES] for r in rows],
                    dtype="float64").reshape(len(rows), len(FEATURE_NAMES))
