"""Stage 8, rank & fill: per trigger (x2q), verified candidates ranked, then filled from
fallbacks; per user (u2q), every channel's verified candidates with their features, in the
learned ranker's order where the night has one (else the hand-weighted list)."""
from __future__ import annotations

import dataclasses

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig, RankConfig, VerifyConfig, X2QConfig
from pipelines.core.features import FEATURE_NAMES, UserContext
from pipelines.core.normalize import QueryCleaner
from pipelines.core.ranker import Ranker, candidate_record, diversified, proposals_of, rank_candidates
from pipelines.core.ranking import (POOL_OVERALL_LISTS, POOL_PER_CATEGORY_LISTS, SOURCE_GENERATED,
                                    build_fallback_pool, popular_fills, rank_trigger, rank_user, related, x2q_source)
from pipelines.core.records import Discard, TriggerCandidates
from pipelines.engines.embedder import EmbedderSpec, TextVectors
from pipelines.stages.verify import IndexRows

DISCARDS = "discards"
CANDIDATES = "candidates"


def _pool_from(joined, per_category, overall):
    popular, verified = [], {}
    for query, grouped in joined:
        users = list(grouped["users"])
        checks = list(grouped["verified"])
        if users and checks:
            popular.append((query, users[0]))
            verified[query] = checks[0]
    return build_fallback_pool(popular, verified, per_category=per_category, overall=overall)


class BuildFallbackPool(beam.PTransform):
    """The day's popular queries (one list) ⋈ their verification → one FallbackPool."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def expand(self, inputs):
        popular, verified = inputs
        keyed = popular | "Explode" >> beam.FlatMap(lambda top: top)
        checks = verified | "KeyCheck" >> beam.Map(lambda v: (v.query, v))
        return (
            {"users": keyed, "verified": checks}
            | "JoinChecks" >> beam.CoGroupByKey()
            | "Collect" >> beam.combiners.ToList()
            | "Pool" >> beam.Map(_pool_from, per_category=POOL_PER_CATEGORY_LISTS * self.k,
                                 overall=POOL_OVERALL_LISTS * self.k)
        )


def _fan_out(kv):
    _query, grouped = kv
    checks = list(grouped["verified"])
    if checks:
        for key in grouped["owners"]:
            yield key, checks[0]


class ChecksPerOwner(beam.PTransform):
    """(owners, verified) → (owner key, VerifiedQuery) for every query an owner lists:
    each distinct query was verified once; this joins its check back to every owner."""

    def __init__(self, owned_queries):
        super().__init__()
        self.owned_queries = owned_queries  # owner → [(owner key, query)]

    def expand(self, inputs):
        owners, verified = inputs
        pairs = owners | "OwnedQueries" >> beam.FlatMap(
            lambda owner, f=self.owned_queries: [(query, key) for key, query in f(owner)])
        return (
            {"owners": pairs, "verified": verified | "KeyCheck" >> beam.Map(lambda v: (v.query, v))}
            | "JoinByQuery" >> beam.CoGroupByKey()
            | "FanOut" >> beam.FlatMap(_fan_out)
        )


class _ChainedChecks:
    """A query's check from the first of `maps` that holds one: ChainMap's lookup, ~3x
    faster (a user's proposals are looked up ~700 times; ChainMap builds a generator for
    every `in`). The checks are never None."""

    __slots__ = ("maps",)

    def __init__(self, *maps):
        self.maps = maps

    def get(self, query, default=None):
        for m in self.maps:
            check = m.get(query)
            if check is not None:
                return check
        return default

    def __contains__(self, query):
        return self.get(query) is not None

    def __getitem__(self, query):
        check = self.get(query)
        if check is None:
            raise KeyError(query)
        return check


def _user_queries(u):
    return [(u.user_id, q) for q in [c.query for c in u.candidates] + [q for q, _ in u.trigger_fills]]


class _RankUserFn(beam.DoFn):
    """One user: the hand-weighted list (always: the `hand_rank` of the candidates, and
    the list itself without a ranker), every channel's verified candidates with their
    features, and, with a ranker, the list in its order, diversified by category."""

    def __init__(self, cfg: HintQConfig, dt: str, blocklist: frozenset[str], embedder: EmbedderSpec,
                 ranker_text: str | None):
        self.cfg, self.dt, self.blocklist, self.embedder, self.ranker_text = cfg, dt, blocklist, embedder, ranker_text

    def setup(self):
        self.vectors = TextVectors(self.embedder, self.embedder.acquire(), remember=False)
        self.ranker = Ranker(self.ranker_text, FEATURE_NAMES) if self.ranker_text else None
        self.clean = QueryCleaner(self.cfg.normalize, self.blocklist)

    def process(self, element, pool, model):
        cfg = self.cfg
        user_id, grouped = element
        (user,) = grouped["user"]
        events = next(iter(grouped["events"]), [])
        verified = {v.query: v for v in grouped["verified"]}
        # The titles' rows as the catalog index embedded them (one item's, where titles repeat).
        title_vectors = {}
        for title, _item_id, vector in sorted(grouped["titles"], key=lambda t: t[:2]):
            title_vectors.setdefault(title, vector)
        if getattr(self, "_seeded", None) is not model:  # the vocabulary's vectors, once per model
            self.vectors.seed(model.vocabulary, model.vectors)
            self._seeded = model
        with stage_timer("rank_fill"):
            hand = rank_user(user, verified, pool, cfg.rank, cfg.verify, cfg.generate.max_queries)
        with stage_timer("rank_learned"):
            day = ch.user_day(events, self.dt, self.clean, cfg, model.titles_as_queries)
            centroid = ch.title_centroid(day, lambda titles: self.vectors(titles, known=title_vectors))
            lists = ch.channel_lists(day, model, centroid, cfg.ranker.per_channel, cfg.evaluate.top_leaves)
            pool_fills = popular_fills([leaf for leaf, _ in user.profile.categories], pool)
            # The night's own checks first; no per-user copy of the vocabulary's.
            checks = _ChainedChecks(verified, {q: v for q, _, v in pool_fills}, model.checks)
            proposals = proposals_of(user, pool_fills, lists, cfg.ranker.per_channel,
                                     frozenset(s.query for s in hand))
            queries = sorted({p.query for p in proposals
                              if (check := checks.get(p.query)) is not None and check.passed})
            # Each check carries the row verification embedded: nothing is embedded again.
            query_vectors = {q: checks[q].embedding() for q in queries if checks[q].vector}
            context = UserContext(user.profile.category_weights(), day.touched_queries, user.profile.recent_queries,
                                  centroid)
            candidates = rank_candidates(proposals, checks, context, model.counts,
                                         dict(zip(queries, self.vectors(queries, known=query_vectors))))
            scores = self.ranker.score([c.features for c in candidates]) if self.ranker else None
            listed = diversified(candidates, scores, cfg.rank.k, cfg.ranker.diversity) if self.ranker else hand
        yield {
            "user_id": user_id,
            "queries": [s.to_row() for s in listed],
            "prompt_tokens": user.prompt_tokens,
            "n_generated": user.n_generated,
            "n_verified": sum(1 for c in user.candidates if c.query in verified and verified[c.query].passed),
        }
        hand_entry, listed_rank = {s.query: s for s in hand}, {s.query: s.rank for s in listed}
        if candidates:  # the user's rows as one element (not one each: ~59 a user, 59k a 1k night)
            yield beam.pvalue.TaggedOutput(CANDIDATES, [candidate_record(
                user_id, c, hand_entry.get(c.query), listed_rank.get(c.query),
                None if scores is None else float(scores[i])) for i, c in enumerate(candidates)])


def _touched_items(kv):
    """(item_id, user_id) for each item with a title the user engaged with (not searched):
    the titles of the user's centroid (channels.user_day)."""
    user_id, events = kv
    return [(item_id, user_id) for item_id in sorted({e.engaged_item.item_id for e in events
                                                      if e.engaged_item is not None and e.engaged_item.title})]


def _title_to_users(element):
    item_id, grouped = element
    rows = list(grouped["vector"])
    if rows:
        title, vector = rows[0]
        for user_id in sorted(set(grouped["users"])):
            yield user_id, (title, item_id, vector)


class TitleVectorsPerUser(beam.PTransform):
    """(today's (user_id, events), the catalog index's path) → (user_id, (title, item_id,
    vector)) for the items each user touched: the index's rows of those items, looked up
    instead of embedded again (and instead of carrying the whole catalog's rows)."""

    def expand(self, inputs):
        todays_users, index_path = inputs
        touched = todays_users | "TouchedItems" >> beam.FlatMap(_touched_items)
        rows = (touched
                | "ItemIds" >> beam.Keys()
                | "DistinctItems" >> beam.Distinct()
                | "IndexRows" >> IndexRows(index_path))
        return ({"users": touched,
                 "vector": rows | "KeyItem" >> beam.Map(lambda cv: (cv.item_id, (cv.title, cv.vector)))}
                | "JoinItems" >> beam.CoGroupByKey()
                | "ToUsers" >> beam.FlatMap(_title_to_users))


class RankUsers(beam.PTransform):
    """(UserCandidates, today's (user_id, events), VerifiedQuery, FallbackPool, ChannelModel,
    the catalog index's path) → {"rows": one u2q row dict per user, "candidates": a list of each user's candidate records}.

    `ranker_text` is the learned ranker (LightGBM text) the night ranks with, or None for
    the hand-weighted list."""

    def __init__(self, cfg: HintQConfig, dt: str, blocklist: frozenset[str], embedder: EmbedderSpec,
                 ranker_text: str | None):
        super().__init__()
        self.fn = _RankUserFn(cfg, dt, blocklist, embedder, ranker_text)

    def expand(self, inputs):
        users, todays_users, verified, pool, model, index_path = inputs
        checks = (users, verified) | "ChecksPerUser" >> ChecksPerOwner(_user_queries)
        titles = (todays_users, index_path) | "TitleVectorsPerUser" >> TitleVectorsPerUser()
        return (
            {"user": users | "KeyUser" >> beam.Map(lambda u: (u.user_id, u)), "events": todays_users,
             "verified": checks, "titles": titles}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "OnlyListed" >> beam.Filter(lambda kv: bool(list(kv[1]["user"])))
            | "Rank" >> beam.ParDo(self.fn, beam.pvalue.AsSingleton(pool),
                                   beam.pvalue.AsSingleton(model)).with_outputs(CANDIDATES, main="rows")
        )


def _fills_for_users(element, per_trigger: int):
    (trigger_type, trigger_id), grouped = element
    lists = list(grouped["list"])
    if not lists:
        return
    source = x2q_source(trigger_type, trigger_id)
    queries = lists[0][:per_trigger]
    for user_id, recency in grouped["users"]:
        yield user_id, (recency, source, queries)


def _attach(element):
    _user_id, grouped = element
    (user,) = grouped["user"]
    fills = [(q, source) for _, source, queries in sorted(grouped["fills"]) for q in queries]
    return dataclasses.replace(user, trigger_fills=tuple(fills)) if fills else user


class AttachTriggerFills(beam.PTransform):
    """(UserCandidates, x2q rows) → UserCandidates whose `trigger_fills` hold the verified
    generated queries of the x2q lists of their most recent triggers, most recent first."""

    def __init__(self, cfg: RankConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, inputs):
        users, x2q_rows = inputs
        lists = x2q_rows | "GeneratedPerTrigger" >> beam.Map(lambda r: (
            (r["trigger_type"], r["trigger_id"]),
            [q["query"] for q in r["queries"] if q["source"] == SOURCE_GENERATED]))
        wanted = users | "RecentTriggers" >> beam.FlatMap(lambda u, n=self.cfg.fill_triggers: [
            (key, (u.user_id, i)) for i, key in enumerate(u.profile.recent_triggers[:n])])
        fills = ({"list": lists, "users": wanted}
                 | "JoinTriggers" >> beam.CoGroupByKey()
                 | "FillsPerUser" >> beam.FlatMap(_fills_for_users, self.cfg.fill_per_trigger))
        return ({"user": users | "KeyUser" >> beam.Map(lambda u: (u.user_id, u)), "fills": fills}
                | "JoinByUser" >> beam.CoGroupByKey()
                | "Attach" >> beam.Map(_attach))


def _trigger_queries(tc):
    return [(tc.trigger.key, c.query) for c in tc.candidates]


class _RankTriggerFn(beam.DoFn):
    def __init__(self, cfg: RankConfig, verify_cfg: VerifyConfig, x2q: X2QConfig):
        self.cfg, self.verify_cfg, self.x2q = cfg, verify_cfg, x2q

    def process(self, element, pool):
        _key, grouped = element
        (trigger,) = grouped["trigger"]
        answers = list(grouped["answer"])
        tc = answers[0] if answers else TriggerCandidates(trigger, None, 0, 0, ())
        verified = {v.query: v for v in grouped["verified"]}
        kept = {q: v for q, v in verified.items() if v.passed and related(trigger, v, self.verify_cfg.min_hits)}
        for query, v in verified.items():
            if v.passed and query not in kept:
                yield beam.pvalue.TaggedOutput(DISCARDS, Discard("only_retrieves_trigger_item", query))
        with stage_timer("rank_fill"):
            suggestions = rank_trigger(tc, verified, pool, self.cfg, self.verify_cfg, self.x2q.k,
                                       self.x2q.max_queries)
        yield {
            "trigger_type": trigger.trigger_type,
            "trigger_id": trigger.trigger_id,
            "trigger_text": trigger.text,
            "reasoning": tc.reasoning,
            "selected_as": trigger.selected_as,
            "users": trigger.users,
            "queries": [s.to_row() for s in suggestions],
            "prompt_tokens": tc.prompt_tokens,
            "n_generated": tc.n_generated,
            "n_verified": sum(1 for c in tc.candidates if c.query in kept),
        }


class RankTriggers(beam.PTransform):
    """(Trigger, TriggerCandidates, VerifiedQuery, FallbackPool) → one x2q row per trigger.

    A trigger without an answer (its text was empty) still gets a row, from fallbacks. For
    an item trigger, a query whose verified hits are only the item itself is set aside
    (`only_retrieves_trigger_item`) in `discards`.
    """

    def __init__(self, cfg: RankConfig, verify_cfg: VerifyConfig, x2q: X2QConfig):
        super().__init__()
        self.cfg, self.verify_cfg, self.x2q = cfg, verify_cfg, x2q

    def expand(self, inputs):
        triggers, answers, verified, pool = inputs
        checks = (answers, verified) | "ChecksPerTrigger" >> ChecksPerOwner(_trigger_queries)
        return (
            {"trigger": triggers | "KeyTrigger" >> beam.Map(lambda t: (t.key, t)),
             "answer": answers | "KeyAnswer" >> beam.Map(lambda tc: (tc.trigger.key, tc)),
             "verified": checks}
            | "JoinByTrigger" >> beam.CoGroupByKey()
            | "Rank" >> beam.ParDo(_RankTriggerFn(self.cfg, self.verify_cfg, self.x2q),
                                   beam.pvalue.AsSingleton(pool)).with_outputs(DISCARDS, main="rows")
        )
