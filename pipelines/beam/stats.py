"""Counts computed from the data itself (not from runner metrics), so the manifest's
numbers are exact on every runner and a retried bundle is never counted twice."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindows

from pipelines.core import counters as c


class _SumInBundle(beam.DoFn):
    def __init__(self, pairs_fn):
        self.pairs_fn = pairs_fn

    def start_bundle(self):
        self.sums = {}

    def process(self, element):
        for name, n in self.pairs_fn(element):
            self.sums[name] = self.sums.get(name, 0) + n

    def finish_bundle(self):
        for name, n in self.sums.items():
            yield GlobalWindows.windowed_value((name, n))


class Tally(beam.PTransform):
    """`pairs_fn(element)` → any number of (name, n) counter pairs, added up inside each
    bundle: a bundle passes on one pair per name, which WriteStats sums over bundles.

    Why in the bundle: the counts of every stage meet in one Flatten, and a runner moves
    what crosses it between stages element by element (encoded, then decoded): one pair
    per element was 262,633 pairs on a 1k-shopper u2q night, growing with shoppers. A
    retried bundle's sums are dropped with the bundle, so nothing is counted twice. The
    sums leave in the global window: a night is one batch, never windowed."""

    def __init__(self, pairs_fn):
        super().__init__()
        self.pairs_fn = pairs_fn

    def expand(self, pcoll):
        return pcoll | "SumInBundle" >> beam.ParDo(_SumInBundle(self.pairs_fn))


class CountBy(Tally):
    """One per element, `name_fn(element)` naming the counter."""

    def __init__(self, name_fn):
        super().__init__(lambda x, f=name_fn: ((f(x), 1),))


class SumBy(Tally):
    """`fn(element)` → the element's (name, value) pair."""

    def __init__(self, fn):
        super().__init__(lambda x, f=fn: (f(x),))


def generation_counts(prompts, generations, normalized, popular_discards, verified) -> list:
    """The counters of stages 4–7 that both nightly tables report the same way."""
    return [
        prompts | "CountPromptTokens" >> SumBy(lambda pr: (c.PROMPT_TOKENS(), pr.n_tokens)),
        generations | "CountFinish" >> CountBy(lambda g: c.GENERATE_FINISH(g.finish_reason)),
        generations | "CountOutputTokens" >> SumBy(lambda g: (c.OUTPUT_TOKENS(), g.output_tokens)),
        normalized.candidates | "CountGenerated" >> SumBy(lambda u: (c.RAW_QUERIES(), u.n_generated)),
        normalized.candidates | "CountKept" >> SumBy(lambda u: (c.KEPT_QUERIES(), len(u.candidates))),
        normalized.discards | "CountDiscards" >> CountBy(lambda d: c.NORMALIZE_DISCARDED(d.reason)),
        *verification_counts(popular_discards, verified),
    ]


def verification_counts(popular_discards, verified) -> list:
    """The counters of stage 7: the day's popular queries set aside, the checks' verdicts."""
    return [
        popular_discards | "CountPopularDiscards" >> CountBy(lambda r: c.POPULAR_DISCARDED(r)),
        verified | "CountVerified" >> CountBy(lambda v: c.VERIFY_PASSED() if v.passed else c.VERIFY_FAILED(v.reason)),
    ]
