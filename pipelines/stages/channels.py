"""Stage 8's recall channels over the history: read days D-N+1..D, count what the baselines
count, and build one channel model of the night (pipelines/core/channels.py)."""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.engines.embedder import EmbedderSpec
from warehouse.inputs import history_days, read_input_day


def _history(day: str, input_root: str, cfg: HintQConfig, blocklist: frozenset[str], today: dict) -> ch.History:
    """Days before D read from the input root (the ones that exist), D from the pipeline."""
    with stage_timer("channels"):
        past = [d for d in (read_input_day(input_root, past, cfg)
                            for past in history_days(day, cfg.evaluate.history_days)[:-1]) if d is not None]
        days = [(d.day, d.users) for d in past] + [(day, dict(sorted(today.items())))]
        return ch.build_history(days, QueryCleaner(cfg.normalize, blocklist), cfg)


class ReadHistory(beam.PTransform):
    """Today's (user_id, kept events) → one History of days D-N+1..D."""

    def __init__(self, input_root: str, dt: str, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.input_root, self.dt, self.cfg, self.blocklist = input_root, dt, cfg, blocklist

    def expand(self, todays_users):
        return (todays_users.pipeline
                | "Day" >> beam.Create([self.dt])
                | "Read" >> beam.Map(_history, self.input_root, self.cfg, self.blocklist,
                                     beam.pvalue.AsDict(todays_users)))


class _ModelFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec, cfg: HintQConfig):
        self.spec, self.cfg = spec, cfg

    def setup(self):
        self.model = self.spec.acquire()

    def process(self, history, checks):
        with stage_timer("channels"):
            counts, vocabulary = ch.vocabulary_of(history, self.cfg.ranker.vocabulary)
            vectors = self.spec.encode(self.model, vocabulary) if vocabulary else None
            yield ch.channel_model(history, (counts, vocabulary), {v.query: v for v in checks}, vectors,
                                   self.cfg.ranker.per_channel)


class VocabularyQueries(beam.PTransform):
    """History → its vocabulary, one query text each: the past queries the channels may
    propose, verified with the night's own candidates."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def expand(self, history):
        return history | "Explode" >> beam.FlatMap(lambda h, n: ch.vocabulary_of(h, n)[1], self.size)


class BuildChannelModel(beam.PTransform):
    """(History, VerifiedQuery of the night) → one ChannelModel: the vocabulary's checks
    (its categories feed category-popular) and embeddings (EBR)."""

    def __init__(self, cfg: HintQConfig, embedder: EmbedderSpec):
        super().__init__()
        self.cfg, self.embedder = cfg, embedder

    def expand(self, inputs):
        history, verified = inputs
        words = (history | "VocabularySet" >> beam.Map(
            lambda h, n: frozenset(ch.vocabulary_of(h, n)[1]), self.cfg.ranker.vocabulary))
        checks = (verified
                  | "OfVocabulary" >> beam.Filter(lambda v, vocab: v.query in vocab, beam.pvalue.AsSingleton(words))
                  | "Collect" >> beam.combiners.ToList())
        return history | "Model" >> beam.ParDo(_ModelFn(self.embedder, self.cfg), beam.pvalue.AsSingleton(checks))
