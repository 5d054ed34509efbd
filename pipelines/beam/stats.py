"""Counts computed from the data itself (not from runner metrics), so the manifest's
numbers are exact on every runner and a retried bundle is never counted twice."""
from __future__ import annotations

import apache_beam as beam

from pipelines.core import counters as c


class CountBy(beam.PTransform):
    """(name, 1) per element, `name_fn(element)` naming the counter."""

    def __init__(self, name_fn):
        super().__init__()
        self.name_fn = name_fn

    def expand(self, pcoll):
        return pcoll | "Name" >> beam.Map(lambda x, f=self.name_fn: (f(x), 1))


class SumBy(beam.PTransform):
    """(name, value) per element: `fn(element)` returns the pair."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def expand(self, pcoll):
        return pcoll | "Pair" >> beam.Map(self.fn)


def generation_counts(prompts, generations, normalized, popular_discards, verified) -> list:
    """The counters of stages 4–7 that both nightly tables report the same way."""
    return [
        prompts | "CountPromptTokens" >> SumBy(lambda pr: (c.PROMPT_TOKENS(), pr.n_tokens)),
        generations | "CountFinish" >> CountBy(lambda g: c.GENERATE_FINISH(g.finish_reason)),
        generations | "CountOutputTokens" >> SumBy(lambda g: (c.OUTPUT_TOKENS(), g.output_tokens)),
        normalized.candidates | "CountGenerated" >> SumBy(lambda u: (c.RAW_QUERIES(), u.n_generated)),
        normalized.candidates | "CountKept" >> SumBy(lambda u: (c.KEPT_QUERIES(), len(u.candidates))),
        normalized.discards | "CountDiscards" >> CountBy(lambda d: c.NORMALIZE_DISCARDED(d.reason)),
        popular_discards | "CountPopularDiscards" >> CountBy(lambda r: c.POPULAR_DISCARDED(r)),
        verified | "CountVerified" >> CountBy(lambda v: c.VERIFY_PASSED() if v.passed else c.VERIFY_FAILED(v.reason)),
    ]
