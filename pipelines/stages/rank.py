"""Stage 8, rank & fill: per user (u2q) or per trigger (x2q), verified candidates ranked,
then filled from fallbacks."""
from __future__ import annotations

import dataclasses

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core.config import RankConfig, VerifyConfig, X2QConfig
from pipelines.core.ranking import (POOL_OVERALL_LISTS, POOL_PER_CATEGORY_LISTS, SOURCE_GENERATED,
                                    build_fallback_pool, rank_trigger, rank_user, related, x2q_source)
from pipelines.core.records import Discard, TriggerCandidates

DISCARDS = "discards"


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


def _user_queries(u):
    return [(u.user_id, q) for q in [c.query for c in u.candidates] + [q for q, _ in u.trigger_fills]]


class _RankUserFn(beam.DoFn):
    def __init__(self, cfg: RankConfig, verify_cfg: VerifyConfig, max_queries: int):
        self.cfg, self.verify_cfg, self.max_queries = cfg, verify_cfg, max_queries

    def process(self, element, pool):
        user_id, grouped = element
        (user,) = grouped["user"]
        verified = {v.query: v for v in grouped["verified"]}
        with stage_timer("rank_fill"):
            suggestions = rank_user(user, verified, pool, self.cfg, self.verify_cfg, self.max_queries)
        yield {
            "user_id": user_id,
            "queries": [s.to_row() for s in suggestions],
            "prompt_tokens": user.prompt_tokens,
            "n_generated": user.n_generated,
            "n_verified": sum(1 for c in user.candidates if c.query in verified and verified[c.query].passed),
        }


class RankAndFill(beam.PTransform):
    """(UserCandidates, VerifiedQuery, FallbackPool) → one u2q row dict per user."""

    def __init__(self, cfg: RankConfig, verify_cfg: VerifyConfig, max_queries: int):
        super().__init__()
        self.cfg, self.verify_cfg, self.max_queries = cfg, verify_cfg, max_queries

    def expand(self, inputs):
        users, verified, pool = inputs
        checks = (users, verified) | "ChecksPerUser" >> ChecksPerOwner(_user_queries)
        return (
            {"user": users | "KeyUser" >> beam.Map(lambda u: (u.user_id, u)), "verified": checks}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "Rank" >> beam.ParDo(_RankUserFn(self.cfg, self.verify_cfg, self.max_queries),
                                   beam.pvalue.AsSingleton(pool))
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
