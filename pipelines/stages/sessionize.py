"""Stage 2, sessionize: each user's kept events of the day, duplicates folded, capped."""
from __future__ import annotations

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core.progress import ProgressLine
from pipelines.beam.routing import REJECTED
from pipelines.core.config import ValidateConfig
from pipelines.core.profile import dedupe_and_cap

USED_EVENTS = "used_events"


class _DedupeUser(beam.DoFn):
    def __init__(self, cfg: ValidateConfig):
        self.cfg = cfg

    def setup(self):
        self.progress = ProgressLine("sessionize", unit="users")

    def process(self, element):
        user_id, events = element
        self.progress.add(1)
        with stage_timer("sessionize_profile"):
            kept, rejected = dedupe_and_cap(list(events), self.cfg)
        for r in rejected:
            yield beam.pvalue.TaggedOutput(REJECTED, r)
        yield beam.pvalue.TaggedOutput(USED_EVENTS, len(kept))
        yield user_id, kept


class UserDays(beam.PTransform):
    """EnrichedEvents → (user_id, the user's kept events in time order); duplicates and
    over-cap events go to `rejected`, and `used_events` carries how many each user kept."""

    def __init__(self, cfg: ValidateConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, events):
        return (
            events
            | "KeyByUser" >> beam.Map(lambda e: (e.event.user_id, e))
            | "GroupByUser" >> beam.GroupByKey()
            | "DedupeAndCap" >> beam.ParDo(_DedupeUser(self.cfg)).with_outputs(REJECTED, USED_EVENTS,
                                                                               main="users")
        )
