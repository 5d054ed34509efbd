"""Stage 1, validate: schema and value checks, catalog dedupe, and the events ⋈ catalog join."""
from __future__ import annotations

import dataclasses
import datetime as dt

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.beam.routing import CheckRows, REJECTED
from pipelines.core.config import ValidateConfig
from pipelines.core.records import EnrichedEvent, Rejection
from pipelines.core.text import row_to_json
from pipelines.core.validate import pick_catalog_winner, validate_event, validate_item

ITEMS = "items"
ITEM_FIXES = "item_fixes"


def _timed_validate_event(row, day, cfg):
    with stage_timer("validate"):
        return validate_event(row, day, cfg)


def _timed_validate_item(row, cfg):
    with stage_timer("validate"):
        return validate_item(row, cfg)


class ValidateEvents(beam.PTransform):
    """Raw event rows → (Event, Rejection)."""

    def __init__(self, dt_str: str, cfg: ValidateConfig):
        super().__init__()
        self.day = dt.date.fromisoformat(dt_str)
        self.cfg = cfg

    def expand(self, rows):
        return rows | "CheckEvents" >> CheckRows(_timed_validate_event, self.day, self.cfg,
                                                  table="events", stage="validate")


class ValidateCatalog(beam.PTransform):
    """Raw catalog rows → ((Item, fixes), Rejection)."""

    def __init__(self, cfg: ValidateConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, rows):
        return rows | "CheckItems" >> CheckRows(_timed_validate_item, self.cfg,
                                                 table="catalog", stage="validate")


class _JoinOnItem(beam.DoFn):
    def process(self, element):
        item_id, grouped = element
        with stage_timer("validate"):
            items = [item for item, _ in grouped["catalog"]]
            events = list(grouped["events"])
            if not items:
                for ev in events:
                    yield beam.pvalue.TaggedOutput(REJECTED, Rejection(
                        table="events", stage="validate", reason="unknown_item", source_file=ev.source_file,
                        source_row=ev.source_row, detail=item_id, original=ev.original))
                return
            winner, losers = pick_catalog_winner(items)
            for loser in losers:
                yield beam.pvalue.TaggedOutput(REJECTED, Rejection(
                    table="catalog", stage="validate", reason="duplicate_item", source_file=loser.source_file,
                    source_row=loser.source_row, detail=f"kept {winner.source_file}#{winner.source_row}",
                    original=row_to_json(dataclasses.asdict(loser))))
            fixes = dict(grouped["catalog"])[winner]
            yield beam.pvalue.TaggedOutput(ITEMS, winner)
            for fix in fixes:
                yield beam.pvalue.TaggedOutput(ITEM_FIXES, fix)
            for ev in events:
                yield EnrichedEvent(event=ev, item=winner)


class JoinCatalog(beam.PTransform):
    """Events ⋈ catalog on item_id, in one shuffle that also settles duplicate item ids.

    Returns a dict: `events` (EnrichedEvent, searches included with item=None), `items`
    (one winning Item per id), `item_fixes` (field fixes to count), `rejected`.
    """

    def expand(self, inputs):
        events, items = inputs
        searches = (events | "Searches" >> beam.Filter(lambda e: e.item_id is None)
                    | "WrapSearch" >> beam.Map(lambda e: EnrichedEvent(event=e, item=None)))
        by_item = events | "ItemEvents" >> beam.Filter(lambda e: e.item_id is not None) \
            | "KeyEvent" >> beam.Map(lambda e: (e.item_id, e))
        catalog = items | "KeyItem" >> beam.Map(lambda pair: (pair[0].item_id, pair))
        joined = ({"events": by_item, "catalog": catalog}
                  | "CoGroupByItem" >> beam.CoGroupByKey()
                  | "Join" >> beam.ParDo(_JoinOnItem()).with_outputs(REJECTED, ITEMS, ITEM_FIXES,
                                                                      main="events"))
        all_events = (joined.events, searches) | "AllEvents" >> beam.Flatten()
        return {"events": all_events, "items": joined[ITEMS], "item_fixes": joined[ITEM_FIXES],
                "rejected": joined[REJECTED]}
