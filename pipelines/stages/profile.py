"""Stage 3, profile: per user, with the profile memory of earlier days."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core.config import HintQConfig, MemoryConfig
from pipelines.core.memory import recall, remember
from pipelines.core.normalize import QueryCleaner
from pipelines.core.profile import build_profile
from pipelines.core.validate import partition_bounds_us


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


MEMORY = "memory"


class _RecallFn(beam.DoFn):
    def __init__(self, day: dt.date, cfg: MemoryConfig):
        self.day, self.cfg = day, cfg

    def process(self, element):
        user_id, grouped = element
        today = next(iter(grouped["today"]), None)
        carried = next(iter(grouped["carried"]), None)
        recalled = recall(today, carried, self.day, self.cfg) if today is not None else None
        if recalled is not None:
            yield recalled
        kept = remember(user_id, recalled, carried, self.day, self.cfg)
        if kept is not None:
            yield beam.pvalue.TaggedOutput(MEMORY, kept)


class RecallProfiles(beam.PTransform):
    """(today's Profiles, yesterday's CarriedProfiles) → `profiles`: today's active users
    with their memory folded in; `memory`: what this day passes on to the next."""

    def __init__(self, dt_str: str, cfg: MemoryConfig):
        super().__init__()
        self.day, self.cfg = dt.date.fromisoformat(dt_str), cfg

    def expand(self, inputs):
        profiles, carried = inputs
        return (
            {"today": profiles | "KeyToday" >> beam.Map(lambda pr: (pr.user_id, pr)),
             "carried": carried | "KeyCarried" >> beam.Map(lambda c: (c.user_id, c))}
            | "JoinByUser" >> beam.CoGroupByKey()
            | "Recall" >> beam.ParDo(_RecallFn(self.day, self.cfg)).with_outputs(MEMORY, main="profiles")
        )
