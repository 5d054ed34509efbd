"""Stages 1–2 shared by both nightly tables: read the day's inputs, validate, join the
catalog, fold duplicates and cap each user. u2q and x2q start from the same clean day, so
both manifests account for every input row the same way."""
from __future__ import annotations

import apache_beam as beam

from pipelines.core.config import HintQConfig
from pipelines.io import ReadInputPartition
from pipelines.profiles import USED_EVENTS, UserDays
from pipelines.stats import CountBy, SumBy
from pipelines.validate import JoinCatalog, ValidateCatalog, ValidateEvents


class ReadDay(beam.PTransform):
    """PBegin → {"users": (user_id, kept events), "events": kept EnrichedEvents,
    "items": Items, "rejected": Rejections, "counts": (name, n), "notes": schema notes}."""

    def __init__(self, input_root: str, dt: str, cfg: HintQConfig):
        super().__init__()
        self.input_root, self.dt, self.cfg = input_root, dt, cfg

    def expand(self, pbegin):
        raw_events = pbegin | "ReadEvents" >> ReadInputPartition(self.input_root, "events", self.dt)
        raw_catalog = pbegin | "ReadCatalog" >> ReadInputPartition(self.input_root, "catalog", self.dt)

        events, events_rejected = raw_events.rows | "ValidateEvents" >> ValidateEvents(self.dt, self.cfg.validate)
        items, catalog_rejected = raw_catalog.rows | "ValidateCatalog" >> ValidateCatalog(self.cfg.validate)
        joined = (events, items) | "JoinCatalog" >> JoinCatalog()
        users = joined["events"] | "UserDays" >> UserDays(self.cfg.validate)

        rejected = (events_rejected, catalog_rejected, joined["rejected"], users.rejected) \
            | "AllRejected" >> beam.Flatten()
        counts = (
            raw_events.rows | "CountEventsRead" >> CountBy(lambda _: "events.read"),
            raw_catalog.rows | "CountCatalogRead" >> CountBy(lambda _: "catalog.read"),
            rejected | "CountRejected" >> CountBy(lambda r: f"rejected.{r.table}.{r.stage}.{r.reason}"),
            users[USED_EVENTS] | "CountEventsUsed" >> SumBy(lambda n: ("events.used", n)),
            joined["items"] | "CountCatalogUsed" >> CountBy(lambda _: "catalog.used"),
            joined["item_fixes"] | "CountItemFixes" >> CountBy(lambda f: f"catalog.fixed.{f}"),
        ) | "DayCounts" >> beam.Flatten()
        notes = (raw_events.schema_notes, raw_catalog.schema_notes) | "AllNotes" >> beam.Flatten()
        kept = users.users | "KeptEvents" >> beam.FlatMap(lambda kv: kv[1])
        return {"users": users.users, "events": kept, "items": joined["items"], "rejected": rejected,
                "counts": counts, "notes": notes}
