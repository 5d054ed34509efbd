"""Candidate channels: the baselines, run per user inside the nightly job as recall channels
of the learned ranker (and by the evaluation as systems of their own).

One history (days D-N+1..D of validated events) gives every channel what it counts:
popularity (distinct users per day), session co-occurrence, and the vocabulary of past
queries EBR searches. A shop without typed queries (purchase logs) has item titles stand
in: an engaged item is the search of its own title. The channel lists themselves are
pipelines/core/baselines.py; this module builds their inputs, the same way for the night,
the ranker's training and the evaluation.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from pipelines.core import baselines as bl
from pipelines.core.config import HintQConfig
from pipelines.core.metrics import NextDay
from pipelines.core.normalize import QueryCleaner
from pipelines.core.profile import event_weight, split_sessions
from pipelines.core.records import EnrichedEvent, VerifiedQuery
from pipelines.core.validate import UNKNOWN_CATEGORY, partition_bounds_us

ENGAGED = ("click", "cart", "purchase")

# The recall channels a u2q candidate can come from, in the order a tie in rank is broken
# when naming the channel that placed an entry (its `source`).
CH_GENERATED = "generated"
CH_X2Q = "x2q"
CH_POOL_CATEGORY = "popular:category"  # the day's popular queries of the user's categories
CH_POOL_GLOBAL = "popular:global"  # the day's popular queries overall
CH_CATEGORY_POPULAR = "category_popular"  # the baselines, over the history
CH_COOCCURRENCE = "cooccurrence"
CH_EBR = "ebr"
CH_POPULAR = "popular"
CHANNELS = (CH_GENERATED, CH_X2Q, CH_POOL_CATEGORY, CH_POOL_GLOBAL, CH_CATEGORY_POPULAR, CH_COOCCURRENCE,
            CH_EBR, CH_POPULAR)
HISTORY_CHANNELS = (CH_CATEGORY_POPULAR, CH_COOCCURRENCE, CH_EBR, CH_POPULAR)


@dataclass
class History:
    """What the channels learn from: the days D-N+1..D that exist."""

    days: list[str]
    searches: list[tuple[str, str, str]]  # (day, user, normalized query)
    sessions: list[tuple[list[bl.Anchor], list[str]]]
    titles_as_queries: bool  # no typed query in the whole history: titles stand in


def touches(events: Sequence[EnrichedEvent], clean: QueryCleaner, titles_as_queries: bool):
    """A session's anchors and queries. With titles standing in for queries, an engaged
    item is the search of its own title, so it is anchored as that query."""
    anchors, queries = [], []
    for e in events:
        ev, q = e.event, None
        if ev.event_type == "search":
            q = clean(ev.query)
        elif titles_as_queries and ev.event_type in ENGAGED and e.item is not None and e.item.title:
            q = clean(e.item.title)
        if q:
            anchors.append(("query", q))
            queries.append(q)
        elif e.item is not None:  # a title that is no query (PII, too long) anchors as the item
            anchors.append(("item", e.item.item_id))
    return anchors, queries


def build_history(days: Sequence[tuple[str, Mapping[str, list[EnrichedEvent]]]], clean: QueryCleaner,
                  cfg: HintQConfig) -> History:
    """`days`: (day, user → that day's kept events), oldest first. The nightly job counts
    the same per user and day, in parallel (pipelines/stages/channels.py)."""
    has_search = any(has_typed_query(evs) for _, users in days for evs in users.values())
    searches, sessions = [], []
    for day, users in days:
        for user_id, events in sorted(users.items()):
            for anchors, queries in user_sessions(events, clean, cfg, not has_search):
                sessions.append((anchors, queries))
                searches.extend((day, user_id, q) for q in queries)
    return History(days=[d for d, _ in days], searches=searches, sessions=sessions,
                   titles_as_queries=not has_search)


def has_typed_query(events: Sequence[EnrichedEvent]) -> bool:
    """Whether a user's day holds a typed search (if no day of the history does, titles
    stand in for queries)."""
    return any(e.event.event_type == "search" for e in events)


def user_sessions(events: Sequence[EnrichedEvent], clean: QueryCleaner, cfg: HintQConfig,
                  titles_as_queries: bool) -> list[tuple[list[bl.Anchor], list[str]]]:
    """One user's day as the history counts it: per session, its anchors and queries."""
    return [touches(session, clean, titles_as_queries) for session in split_sessions(list(events), cfg.session.gap_s)]


@dataclass(frozen=True)
class UserDay:
    """One user's day D as the channels read it: anchors (items, queries) and the titles of
    the items touched, each with its profile weight; leaf categories strongest first; the
    queries typed (or, titles standing in, items engaged), most recent first."""

    anchors: dict
    titles: dict
    leaves: tuple[str, ...]
    touched_queries: tuple[str, ...] = ()


def user_day(events: Sequence[EnrichedEvent], day: str, clean: QueryCleaner, cfg: HintQConfig,
             titles_as_queries: bool) -> UserDay:
    end = partition_bounds_us(dt.date.fromisoformat(day))[1]
    anchors: dict[bl.Anchor, float] = defaultdict(float)
    titles: dict[str, float] = defaultdict(float)
    leaves: dict[str, float] = defaultdict(float)
    for e in events:
        w = event_weight(e.event, end, cfg.session)
        for a in touches([e], clean, titles_as_queries)[0]:
            anchors[a] += w
        if (item := e.engaged_item) is not None:
            if item.title:
                titles[item.title] += w
            if item.leaf != UNKNOWN_CATEGORY:
                leaves[item.leaf] += w
    ranked_leaves = tuple(leaf for leaf, _ in sorted(leaves.items(), key=lambda kv: (-kv[1], kv[0])))
    recent = sorted(((e.event.ts_us, q) for e in events for q in touches([e], clean, titles_as_queries)[1]),
                    reverse=True)
    return UserDay(anchors=dict(anchors), titles=dict(titles), leaves=ranked_leaves,
                   touched_queries=tuple(dict.fromkeys(q for _, q in recent)))


@dataclass
class ChannelModel:
    """Everything the history channels need, built once a night: popularity, the popular
    queries per category (a query's category is its catalog check's), co-occurrence, and
    the vocabulary of past queries with their embeddings (EBR), most popular first and at
    most `vocabulary` of them, so the model stays bounded however long the history."""

    counts: Counter
    popular: list[str]
    by_leaf: dict[str, list[str]]
    cooccurrence: dict
    vocabulary: list[str]
    vectors: np.ndarray | None = None  # rows of `vocabulary`, L2-normalized
    checks: dict[str, VerifiedQuery] = field(default_factory=dict)
    titles_as_queries: bool = False


def vocabulary_of(history: History, size: int) -> tuple[Counter, list[str]]:
    """Past queries by distinct (day, user) count, at most `size`, most popular first."""
    counts = bl.popular_counts(history.searches)
    vocabulary = bl.popular_list(counts, size)
    return Counter({q: counts[q] for q in vocabulary}), vocabulary


def channel_model(history: History, vocabulary: tuple[Counter, list[str]], checks: Mapping[str, VerifiedQuery],
                  vectors: np.ndarray | None, k: int) -> ChannelModel:
    """The history's channel model; `vocabulary` is `vocabulary_of(history, size)`,
    `checks` its catalog checks and `vectors` its embeddings (row per entry)."""
    known = set(vocabulary[1])
    pairs = ((a, q, n) for a, c in bl.cooccurrence_counts(history.sessions).items() for q, n in c.items()
             if q in known)
    return counted_channel_model(vocabulary, pairs, checks, vectors, k, history.titles_as_queries)


def counted_channel_model(vocabulary: tuple[Counter, list[str]], cooccurrence: Iterable[tuple[bl.Anchor, str, int]],
                          checks: Mapping[str, VerifiedQuery], vectors: np.ndarray | None, k: int,
                          titles_as_queries: bool) -> ChannelModel:
    """The channel model from what the history counted: the vocabulary with its counts,
    and (anchor, vocabulary query, sessions) co-occurrence counts. Built in sorted order,
    so the same counts give the same model however they were gathered."""
    counts, words = vocabulary
    cooc: dict[bl.Anchor, Counter] = {}
    for anchor, q, n in sorted(cooccurrence):
        cooc.setdefault(anchor, Counter())[q] = n
    return ChannelModel(counts=counts, popular=bl.popular_list(counts, k),
                        by_leaf=bl.popular_by_leaf(counts, {q: v.category for q, v in checks.items()}),
                        cooccurrence=cooc, vocabulary=words, vectors=vectors,
                        checks=dict(sorted(checks.items())), titles_as_queries=titles_as_queries)


def ebr_list(user_vector: np.ndarray | None, model: ChannelModel, k: int) -> list[str]:
    """The vocabulary queries nearest the user vector by cosine (exact), ties by text."""
    if user_vector is None or model.vectors is None or not len(model.vocabulary):
        return []
    scores = model.vectors @ user_vector
    return bl.nearest_queries([float(s) for s in scores], model.vocabulary, k)


def title_centroid(day: UserDay, vectors: Callable[[list[str]], np.ndarray]) -> np.ndarray | None:
    """The user vector: the weighted mean of the embeddings of the titles touched on D
    (EBR's query and the ranker's `profile_cosine`); `vectors` embeds texts."""
    titles = sorted(day.titles)
    return bl.user_vector(vectors(titles), [day.titles[t] for t in titles]) if titles else None


def channel_lists(day: UserDay, model: ChannelModel, user_vector: np.ndarray | None, k: int,
                  top_leaves: int) -> dict[str, list[str]]:
    """The four history channels' lists for one user (unfilled), best first."""
    return {
        CH_CATEGORY_POPULAR: bl.category_popular_list(list(day.leaves), model.by_leaf, k, top_leaves),
        CH_COOCCURRENCE: bl.cooccurrence_list(day.anchors, model.cooccurrence, k),
        CH_EBR: ebr_list(user_vector, model, k),
        CH_POPULAR: list(model.popular[:k]),
    }


def next_day_of(events: Sequence[EnrichedEvent], clean: QueryCleaner) -> NextDay:
    """What a user did on D+1: the evaluation's targets and the ranker's labels."""
    queries, cats, texts = [], set(), []
    for e in events:
        if e.event.event_type == "search":
            q = clean(e.event.query)
            if q:
                queries.append(q)
                texts.append(q)
        elif e.event.event_type in ENGAGED and e.item is not None:
            if e.item.leaf != UNKNOWN_CATEGORY:
                cats.add(e.item.leaf)
            if e.item.title:
                texts.append(e.item.title)
    return NextDay(queries=frozenset(queries), categories=frozenset(cats), texts=tuple(dict.fromkeys(texts)))
