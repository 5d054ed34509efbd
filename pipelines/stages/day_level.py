"""What every pass of a u2q night run in user passes reads (pipelines/core/passes.py): the
day-level counts, computed once from the whole day and written beside the run's stats.

They are bounded by configuration, not by shoppers: the fallback pool (`rank.popular_pool`
queries), the channel model (`ranker.vocabulary` queries and their co-occurrence), the
checks of those queries, and the reasons the day's popular queries were set aside.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.core.channels import ChannelModel
from pipelines.core.ranking import FallbackPool
from pipelines.core.records import VerifiedQuery


@dataclass(frozen=True)
class DayLevel:
    pool: FallbackPool
    model: ChannelModel
    checks: tuple[VerifiedQuery, ...]  # the popular and vocabulary queries, each verified once
    popular_discards: tuple[str, ...]  # a reason per popular query set aside


def _write(pool, model, checks, discards, path: str) -> str:
    # Sorted: the file, like every file of a run, is the same bytes on a re-run.
    day = DayLevel(pool, model, tuple(sorted(checks, key=lambda v: v.query)), tuple(sorted(discards)))
    with FileSystems.create(path) as f:
        f.write(pickle.dumps(day, protocol=pickle.HIGHEST_PROTOCOL))
    return path


class WriteDayLevel(beam.PTransform):
    """(FallbackPool, ChannelModel, VerifiedQuery, popular discards) → one DayLevel file at
    `path`; returns its path."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, inputs):
        pool, model, checks, discards = inputs
        return pool | "Write" >> beam.Map(_write, beam.pvalue.AsSingleton(model), beam.pvalue.AsList(checks),
                                          beam.pvalue.AsList(discards), self.path)


def read_day_level(path: str) -> DayLevel:
    # A file this run wrote, with this code version: not input from elsewhere.
    with FileSystems.open(path) as f:
        return pickle.loads(f.read())


class ReadDayLevel(beam.PTransform):
    """PBegin → {"pool": the FallbackPool, "model": the ChannelModel, "checks": VerifiedQuery,
    "popular_discards": reasons} of the DayLevel file at `path`."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        day = pbegin | "Path" >> beam.Create([self.path]) | "Read" >> beam.Map(read_day_level)
        return {"pool": day | "Pool" >> beam.Map(lambda d: d.pool),
                "model": day | "Model" >> beam.Map(lambda d: d.model),
                "checks": day | "Checks" >> beam.FlatMap(lambda d: d.checks),
                "popular_discards": day | "PopularDiscards" >> beam.FlatMap(lambda d: d.popular_discards)}
