"""Stages 2–3, sessionize and profile, per user."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines.core.config import HintQConfig, ValidateConfig
from pipelines.core.normalize import normalize_query
from pipelines.core.profile import build_profile, dedupe_and_cap
from pipelines.core.validate import partition_bounds_us
from pipelines.progress import ProgressLine, stage_timer
from pipelines.routing import REJECTED

USED_EVENTS = "used_events"


class QueryCleaner:
    """Normalizes a typed query the way generated ones are, or None for one that must not
    reach a prompt or become a trigger (PII, blocked terms)."""

    def __init__(self, normalize_cfg, blocklist: frozenset[str]):
        self.normalize_cfg, self.blocklist = normalize_cfg, blocklist

    def __call__(self, text: str) -> str | None:
        return normalize_query(text, self.normalize_cfg, self.blocklist)[0]


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


class _ProfileUser(beam.DoFn):
    def __init__(self, day_end_us, session_cfg, n_terms, clean_query):
        self.day_end_us, self.session_cfg = day_end_us, session_cfg
        self.n_terms, self.clean_query = n_terms, clean_query

    def process(self, element):
        user_id, kept = element
        with stage_timer("sessionize_profile"):
            yield build_profile(user_id, kept, self.day_end_us, self.session_cfg, self.n_terms,
                                self.clean_query)


class BuildProfiles(beam.PTransform):
    """(user_id, kept events) → one Profile per active user."""

    def __init__(self, dt_str: str, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.day_end_us = partition_bounds_us(dt.date.fromisoformat(dt_str))[1]
        self.cfg, self.blocklist = cfg, blocklist

    def expand(self, user_days):
        return user_days | "SessionizeAndProfile" >> beam.ParDo(_ProfileUser(
            self.day_end_us, self.cfg.session, self.cfg.prompt.key_terms_per_item,
            QueryCleaner(self.cfg.normalize, self.blocklist)))
