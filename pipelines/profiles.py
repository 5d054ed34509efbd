"""Stages 2–3, sessionize and profile, per user."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines.core.config import HintQConfig
from pipelines.core.normalize import normalize_query
from pipelines.core.profile import build_profile, dedupe_and_cap
from pipelines.core.validate import partition_bounds_us
from pipelines.progress import ProgressLine, stage_timer
from pipelines.routing import REJECTED

USED_EVENTS = "used_events"


class _ProfileUser(beam.DoFn):
    def __init__(self, day_end_us, validate_cfg, session_cfg, n_terms, normalize_cfg, blocklist):
        self.day_end_us, self.validate_cfg = day_end_us, validate_cfg
        self.session_cfg, self.n_terms = session_cfg, n_terms
        self.normalize_cfg, self.blocklist = normalize_cfg, blocklist

    def clean_query(self, text: str) -> str | None:
        return normalize_query(text, self.normalize_cfg, self.blocklist)[0]

    def setup(self):
        self.progress = ProgressLine("sessionize+profile", unit="users")

    def process(self, element):
        user_id, events = element
        self.progress.add(1)
        with stage_timer("sessionize_profile"):
            kept, rejected = dedupe_and_cap(list(events), self.validate_cfg)
            for r in rejected:
                yield beam.pvalue.TaggedOutput(REJECTED, r)
            yield beam.pvalue.TaggedOutput(USED_EVENTS, len(kept))
            yield build_profile(user_id, kept, self.day_end_us, self.session_cfg, self.n_terms,
                                self.clean_query)


class BuildProfiles(beam.PTransform):
    """EnrichedEvents → one Profile per active user; duplicates and over-cap events go to
    `rejected`, and `used_events` carries how many events each profile was built from."""

    def __init__(self, dt_str: str, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.day_end_us = partition_bounds_us(dt.date.fromisoformat(dt_str))[1]
        self.cfg, self.blocklist = cfg, blocklist

    def expand(self, events):
        return (
            events
            | "KeyByUser" >> beam.Map(lambda e: (e.event.user_id, e))
            | "GroupByUser" >> beam.GroupByKey()
            | "SessionizeAndProfile" >> beam.ParDo(_ProfileUser(
                self.day_end_us, self.cfg.validate, self.cfg.session, self.cfg.prompt.key_terms_per_item,
                self.cfg.normalize, self.blocklist)).with_outputs(REJECTED, USED_EVENTS, main="profiles")
        )
