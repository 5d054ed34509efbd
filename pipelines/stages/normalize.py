"""Stage 6, normalize: model answers and the day's typed queries become clean candidates."""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core.config import NormalizeConfig
from pipelines.core.normalize import echo_texts, normalize_answer, normalize_query, normalize_think_answer
from pipelines.core.prompts import TASK_THINK
from pipelines.core.records import TriggerCandidates, UserCandidates
from pipelines.core.text import text_desc_key

DISCARDS = "discards"


class _NormalizeFn(beam.DoFn):
    def __init__(self, cfg: NormalizeConfig, blocklist: frozenset[str], max_reasoning_chars: int):
        self.cfg, self.blocklist, self.max_reasoning_chars = cfg, blocklist, max_reasoning_chars

    def process(self, g):
        with stage_timer("normalize"):
            if g.task == TASK_THINK:
                trigger = g.subject
                reasoning, candidates, discards, n_generated = normalize_think_answer(
                    g.text, g.finish_reason, self.cfg, self.max_reasoning_chars, self.blocklist,
                    echo_texts(trigger.text, trigger.trigger_id))
                out = TriggerCandidates(trigger=trigger, reasoning=reasoning, prompt_tokens=g.prompt_tokens,
                                        n_generated=n_generated, candidates=tuple(candidates))
            else:
                candidates, discards, n_generated = normalize_answer(
                    g.text, g.finish_reason, self.cfg, self.blocklist)
                out = UserCandidates(user_id=g.key, profile=g.subject, prompt_tokens=g.prompt_tokens,
                                     n_generated=n_generated, candidates=tuple(candidates))
        for d in discards:
            yield beam.pvalue.TaggedOutput(DISCARDS, d)
        yield out


class NormalizeAnswers(beam.PTransform):
    """Generation → UserCandidates (Direct) or TriggerCandidates (Think), by the same
    query rules; every discarded query goes to `discards` with a reason."""

    def __init__(self, cfg: NormalizeConfig, blocklist: frozenset[str], max_reasoning_chars: int):
        super().__init__()
        self.cfg, self.blocklist, self.max_reasoning_chars = cfg, blocklist, max_reasoning_chars

    def expand(self, generations):
        return generations | "ParseAndClean" >> beam.ParDo(
            _NormalizeFn(self.cfg, self.blocklist, self.max_reasoning_chars)).with_outputs(
            DISCARDS, main="candidates")


class _TypedQueryFn(beam.DoFn):
    def __init__(self, cfg, blocklist):
        self.cfg, self.blocklist = cfg, blocklist

    def process(self, e):
        query, reason = normalize_query(e.event.query, self.cfg, self.blocklist)
        if query is None:
            yield beam.pvalue.TaggedOutput(DISCARDS, reason)
        else:
            yield (query, e.event.user_id)


class PopularQueries(beam.PTransform):
    """The day's typed queries, normalized like generated ones (so typed PII or blocked
    terms never become a fallback), counted by distinct users; the top `pool` of them as
    one list of (query, users), most users first, ties by text."""

    def __init__(self, cfg: NormalizeConfig, blocklist: frozenset[str], pool: int):
        super().__init__()
        self.cfg, self.blocklist, self.pool = cfg, blocklist, pool

    def expand(self, events):
        typed = (events
                 | "Searches" >> beam.Filter(lambda e: e.event.event_type == "search")
                 | "Normalize" >> beam.ParDo(_TypedQueryFn(self.cfg, self.blocklist))
                 .with_output_types(tuple[str, str]).with_outputs(DISCARDS, main="queries"))
        top = (typed.queries
               | "DistinctUsers" >> beam.Distinct()
               | "CountUsers" >> beam.combiners.Count.PerKey()
               | "Top" >> beam.combiners.Top.Of(self.pool, key=lambda qc: (qc[1], text_desc_key(qc[0]))))
        return {"popular": top, "discards": typed[DISCARDS]}
