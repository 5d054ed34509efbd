"""Stage 8's recall channels over the history: read days D-N+1..D, count what the baselines
count, and build one channel model of the night (pipelines/core/channels.py).

The history is counted per user and day and combined (popularity, the vocabulary, the
co-occurrence of vocabulary queries), so no step holds the history's users: what is
collected into one element is bounded by configuration (`ranker.vocabulary`) and the
catalog (co-occurrence anchors), not by the number of shoppers.
"""
from __future__ import annotations

from collections import Counter

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core import baselines as bl
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.core.text import text_desc_key
from pipelines.engines.embedder import EmbedderSpec
from pipelines.stages.read_day import ReadDay, partition_row_counts
from warehouse.inputs import history_days


def past_days_present(input_root: str, dt: str, n: int) -> list[str]:
    """The days before D within the history window whose events and catalog both exist."""
    return [d for d in history_days(dt, n)[:-1]
            if partition_row_counts(input_root, "events", d) and partition_row_counts(input_root, "catalog", d)]


class ReadHistory(beam.PTransform):
    """Today's (user_id, kept events) → (day, (user_id, kept events)) for days D-N+1..D:
    the days before D that exist, read and validated the way D is (ReadDay)."""

    def __init__(self, input_root: str, dt: str, cfg: HintQConfig):
        super().__init__()
        self.input_root, self.dt, self.cfg = input_root, dt, cfg

    def expand(self, todays_users):
        days = [todays_users | "Today" >> beam.Map(lambda kv, d=self.dt: (d, kv))]
        for past in past_days_present(self.input_root, self.dt, self.cfg.evaluate.history_days):
            users = (todays_users.pipeline | f"ReadDay[{past}]" >> ReadDay(self.input_root, past, self.cfg))["users"]
            days.append(users | f"Tag[{past}]" >> beam.Map(lambda kv, d=past: (d, kv)))
        return days | "AllDays" >> beam.Flatten()


def _sessions(element, clean: QueryCleaner, cfg: HintQConfig, titles_as_queries: bool):
    day, (user_id, events) = element
    with stage_timer("channels"):
        return day, user_id, ch.user_sessions(events, clean, cfg, titles_as_queries)


def _searched(user_day):
    """(query, 1) for each distinct query of a user's day: popularity counts (day, user) pairs."""
    return [(q, 1) for q in sorted({q for _, queries in user_day[2] for q in queries})]


def _vocabulary_pairs(user_day, vocabulary: frozenset[str]):
    for anchors, queries in user_day[2]:
        for anchor, q in bl.session_pairs(anchors, queries):
            if q in vocabulary:
                yield (anchor, q), 1


class CountHistory(beam.PTransform):
    """(day, (user_id, kept events)) of the history → {"vocabulary": one (Counter, list):
    the `ranker.vocabulary` most searched past queries by distinct (day, user), most first;
    "cooccurrence": (anchor, vocabulary query, sessions); "titles_as_queries": one bool}.
    The same counts as `build_history` + `vocabulary_of` in one process (tested)."""

    def __init__(self, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.cfg, self.blocklist = cfg, blocklist

    def expand(self, history):
        cfg = self.cfg
        titles_as_queries = (history
                             | "HasTypedQuery" >> beam.Map(lambda kv: ch.has_typed_query(kv[1][1]))
                             | "AnyTyped" >> beam.CombineGlobally(any)
                             | "TitlesAsQueries" >> beam.Map(lambda has_search: not has_search))
        sessions = history | "Sessions" >> beam.Map(_sessions, QueryCleaner(cfg.normalize, self.blocklist), cfg,
                                                     beam.pvalue.AsSingleton(titles_as_queries))
        vocabulary = (sessions
                      | "Searched" >> beam.FlatMap(_searched)
                      | "CountSearchers" >> beam.CombinePerKey(sum)
                      | "TopQueries" >> beam.combiners.Top.Of(cfg.ranker.vocabulary,
                                                              key=lambda qc: (qc[1], text_desc_key(qc[0])))
                      | "WithCounts" >> beam.Map(lambda top: (Counter(dict(top)), [q for q, _ in top])))
        words = vocabulary | "VocabularySet" >> beam.Map(lambda v: frozenset(v[1]))
        cooccurrence = (sessions
                        | "VocabularyPairs" >> beam.FlatMap(_vocabulary_pairs, beam.pvalue.AsSingleton(words))
                        | "CountPairs" >> beam.CombinePerKey(sum)
                        | "Flat" >> beam.MapTuple(lambda pair, n: (*pair, n)))
        return {"vocabulary": vocabulary, "cooccurrence": cooccurrence, "titles_as_queries": titles_as_queries}


class _ModelFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec, cfg: HintQConfig):
        self.spec, self.cfg = spec, cfg

    def setup(self):
        self.model = self.spec.acquire()

    def process(self, vocabulary, cooccurrence, checks, titles_as_queries):
        with stage_timer("channels"):
            words = vocabulary[1]
            vectors = self.spec.encode(self.model, words) if words else None
            yield ch.counted_channel_model(vocabulary, cooccurrence, {v.query: v for v in checks}, vectors,
                                           self.cfg.ranker.per_channel, titles_as_queries)


class BuildChannelModel(beam.PTransform):
    """(CountHistory's counts, VerifiedQuery of the night) → one ChannelModel: the
    vocabulary's checks (its categories feed category-popular) and embeddings (EBR)."""

    def __init__(self, cfg: HintQConfig, embedder: EmbedderSpec):
        super().__init__()
        self.cfg, self.embedder = cfg, embedder

    def expand(self, inputs):
        counted, verified = inputs
        words = counted["vocabulary"] | "VocabularySet" >> beam.Map(lambda v: frozenset(v[1]))
        checks = (verified
                  | "OfVocabulary" >> beam.Filter(lambda v, vocab: v.query in vocab, beam.pvalue.AsSingleton(words))
                  | "Collect" >> beam.combiners.ToList())
        return counted["vocabulary"] | "Model" >> beam.ParDo(
            _ModelFn(self.embedder, self.cfg), beam.pvalue.AsList(counted["cooccurrence"]),
            beam.pvalue.AsSingleton(checks), beam.pvalue.AsSingleton(counted["titles_as_queries"]))
