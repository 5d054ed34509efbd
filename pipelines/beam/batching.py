"""Batching that does not depend on bundle boundaries."""
from __future__ import annotations

import math
from typing import Any, Callable

import apache_beam as beam

from pipelines.core.text import stable_hash


class StableBatches(beam.PTransform):
    """Groups elements into about ceil(n / batch_size) batches by a stable hash of
    `key(element)`, each batch sorted by `order` (the key by default): the same batches in
    the same order on every run and runner."""

    def __init__(self, key: Callable[[Any], str], batch_size: int, order: Callable[[Any], Any] | None = None):
        super().__init__()
        self.key, self.batch_size, self.order = key, batch_size, order or key

    def expand(self, pcoll):
        n_batches = (pcoll | "Count" >> beam.combiners.Count.Globally()
                     | "NumBatches" >> beam.Map(lambda n, b=self.batch_size: max(1, math.ceil(n / b))))
        return (
            pcoll
            | "KeyByBatch" >> beam.Map(lambda x, n, key=self.key: (stable_hash(key(x)) % n, x),
                                       beam.pvalue.AsSingleton(n_batches))
            | "GroupByBatch" >> beam.GroupByKey()
            | "SortBatch" >> beam.MapTuple(lambda b, xs, order=self.order: (b, sorted(xs, key=order)))
        )


class GroupEveryIndex(beam.PTransform):
    """(i, value) → (i, [values]) for every i in range(count), with no values where no
    element names i: what is written from the groups, one file each, then depends on the
    count alone, not on which indexes the elements happened to fill. `count`: an int, or a
    PCollection of one int."""

    def __init__(self, count):
        super().__init__()
        self.count = count

    def expand(self, keyed):
        count = (self.count if isinstance(self.count, beam.PCollection)
                 else keyed.pipeline | "Count" >> beam.Create([self.count]))
        every_index = count | "EveryIndex" >> beam.FlatMap(lambda n: [(i, None) for i in range(n)])
        return ((keyed, every_index)
                | "Flatten" >> beam.Flatten()
                | "GroupByIndex" >> beam.GroupByKey()
                | "DropMarkers" >> beam.MapTuple(lambda i, values: (i, [v for v in values if v is not None])))
