"""Stage 8, rank & fill: per user, verified candidates ranked, then filled from fallbacks."""
from __future__ import annotations

import apache_beam as beam

from pipelines.core.config import RankConfig, VerifyConfig
from pipelines.core.ranking import build_fallback_pool, rank_and_fill
from pipelines.progress import stage_timer


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
            | "Pool" >> beam.Map(_pool_from, per_category=2 * self.k, overall=4 * self.k)
        )


def _fan_out(kv):
    _query, grouped = kv
    checks = list(grouped["verified"])
    if checks:
        for user_id in grouped["users"]:
            yield user_id, checks[0]


class _RankFn(beam.DoFn):
    def __init__(self, cfg: RankConfig, verify_cfg: VerifyConfig, max_queries: int):
        self.cfg, self.verify_cfg, self.max_queries = cfg, verify_cfg, max_queries

    def process(self, element, pool):
        user_id, grouped = element
        (user,) = grouped["user"]
        verified = {v.query: v for v in grouped["verified"]}
        with stage_timer("rank_fill"):
            suggestions = rank_and_fill(user, verified, pool, self.cfg, self.verify_cfg, self.max_queries)
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
        pairs = users | "UserQueries" >> beam.FlatMap(
            lambda u: [(c.query, u.user_id) for c in u.candidates])
        per_user_checks = (
            {"users": pairs, "verified": verified | "KeyCheck" >> beam.Map(lambda v: (v.query, v))}
            | "JoinByQuery" >> beam.CoGroupByKey()
            | "FanOut" >> beam.FlatMap(_fan_out)
        )
        return (
            {"user": users | "KeyUser" >> beam.Map(lambda u: (u.user_id, u)), "verified": per_user_checks}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "Rank" >> beam.ParDo(_RankFn(self.cfg, self.verify_cfg, self.max_queries),
                                   beam.pvalue.AsSingleton(pool))
        )
