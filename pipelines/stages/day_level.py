"""What every pass of a u2q night run in user passes reads (pipelines/core/passes.py): its
shoppers and the day-level counts, both written by the night's day-level pipeline beside
the run's stats, and the checks of the queries the earlier passes verified.

The day-level counts are bounded by configuration, not by shoppers: the fallback pool
(`rank.popular_pool` queries), the channel model (`ranker.vocabulary` queries and their
co-occurrence) and the checks of those queries. A pass verifies only the queries no
pipeline of the night has checked, so each distinct query of the night is verified once,
as in one pass.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.beam.batching import GroupEveryIndex
from pipelines.core.channels import ChannelModel
from pipelines.core.passes import pass_index
from pipelines.core.ranking import FallbackPool
from pipelines.core.records import VerifiedQuery


@dataclass(frozen=True)
class DayLevel:
    pool: FallbackPool
    model: ChannelModel
    checks: tuple[VerifiedQuery, ...]  # the popular and vocabulary queries, each verified once


def _sorted_checks(checks) -> tuple[VerifiedQuery, ...]:
    # Sorted: the files, like every file of a run, are the same bytes on a re-run.
    return tuple(sorted(checks, key=lambda v: v.query))


def dump_pickle(value, path: str) -> str:
    with FileSystems.create(path) as f:
        f.write(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def load_pickle(path: str):
    # A file this run wrote, with this code version: not input from elsewhere.
    with FileSystems.open(path) as f:
        return pickle.loads(f.read())


def _write(pool, model, checks, path: str) -> str:
    return dump_pickle(DayLevel(pool, model, _sorted_checks(checks)), path)


class WriteDayLevel(beam.PTransform):
    """(FallbackPool, ChannelModel, VerifiedQuery) → one DayLevel file at `path`; returns
    its path."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, inputs):
        pool, model, checks = inputs
        return pool | "Write" >> beam.Map(_write, beam.pvalue.AsSingleton(model), beam.pvalue.AsList(checks),
                                          self.path)


def _write_shoppers(shoppers, path: str) -> str:
    # One pickle per shopper, in user_id order: the file is the same bytes on a re-run, and
    # neither writing nor reading it builds the whole pass in one object.
    with FileSystems.create(path) as f:
        for shopper in sorted(shoppers, key=lambda kv: kv[0]):
            f.write(pickle.dumps(shopper, protocol=pickle.HIGHEST_PROTOCOL))
    return path


def read_shoppers(path: str):
    with FileSystems.open(path) as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return


class WritePassShoppers(beam.PTransform):
    """(user_id, kept events) → one file per pass (`paths[i]`: pass i of len(paths)) of the
    shoppers who fall in it (pipelines/core/passes.py), every pass's file written, empty or
    not; returns their paths."""

    def __init__(self, paths: list[str]):
        super().__init__()
        self.paths = paths

    def expand(self, shoppers):
        count = len(self.paths)
        return (shoppers
                | "KeyByPass" >> beam.Map(lambda kv: (pass_index(kv[0], count), kv))
                | "GroupByPass" >> GroupEveryIndex(count)
                | "Write" >> beam.MapTuple(lambda i, group, paths=self.paths: _write_shoppers(group, paths[i])))


class ReadPassShoppers(beam.PTransform):
    """PBegin → (user_id, kept events) of one pass, as WritePassShoppers wrote them."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        return pbegin | "Path" >> beam.Create([self.path]) | "Read" >> beam.FlatMap(read_shoppers)


class WritePassChecks(beam.PTransform):
    """VerifiedQuery a pass verified → one file at `path` that the later passes read."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, checks):
        return (checks
                | "Collect" >> beam.combiners.ToList()
                | "Write" >> beam.Map(lambda cs, path=self.path: dump_pickle(_sorted_checks(cs), path)))


class ReadDayLevel(beam.PTransform):
    """PBegin → {"pool": the FallbackPool, "model": the ChannelModel, "checks": VerifiedQuery
    of the day-level queries and of the earlier passes' (`earlier_checks` files)} of the
    DayLevel file at `path`."""

    def __init__(self, path: str, earlier_checks: list[str]):
        super().__init__()
        self.path, self.earlier_checks = path, earlier_checks

    def expand(self, pbegin):
        day = pbegin | "Path" >> beam.Create([self.path]) | "Read" >> beam.Map(load_pickle)
        earlier = (pbegin | "EarlierPasses" >> beam.Create(self.earlier_checks)
                   | "ReadEarlier" >> beam.FlatMap(load_pickle))
        return {"pool": day | "Pool" >> beam.Map(lambda d: d.pool),
                "model": day | "Model" >> beam.Map(lambda d: d.model),
                "checks": (day | "Checks" >> beam.FlatMap(lambda d: d.checks), earlier) | "AllChecks" >> beam.Flatten()}
