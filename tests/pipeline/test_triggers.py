"""Think's trigger selection on a small hand-made day (TestPipeline)."""
import dataclasses

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.config import HintQConfig
from pipelines.core.records import EnrichedEvent, Event, Item
from pipelines.stages.triggers import SelectTriggers

DAY = "2026-11-01"
NOON_US = 1_761_998_400 * 1_000_000  # 2026-11-01T12:00Z
CFG = HintQConfig()
CFG = dataclasses.replace(CFG, x2q=dataclasses.replace(CFG.x2q, top_items=3, top_queries=5, top_categories=1,
                                                       max_cold_items=1, cold_days=7))


def item(iid, leaf, title, first_seen="2025-01-01"):
    return Item(iid, title, f"Outdoors > Camping > {leaf}", leaf, "Trailhawk", 20.0, "c", 0, first_seen)


ITEMS = [item("I1", "Stoves", "Trailhawk Steel Camp Stove"), item("I2", "Tents", "Trailhawk Dome Tent"),
         item("I3", "Stoves", "Trailhawk Gas Stove"), item("I4", "Tents", "Trailhawk Ultralight Tent", DAY),
         item("I5", "Stoves", "Trailhawk Twin Burner", "2026-10-30"), item("I6", "Tents", "Old Tent"),
         item("I7", "Tents", "Trailhawk Tent Footprint", DAY)]
BY_ID = {i.item_id: i for i in ITEMS}


def day(user, *steps):
    events = []
    for n, step in enumerate(steps):
        search = not step.startswith("I")
        e = Event(user, NOON_US + n * 60_000_000, "search" if search else "click", None if search else step,
                  step if search else None, "e.parquet", n, "{}")
        events.append(EnrichedEvent(e, None if search else BY_ID[step]))
    return user, events


def test_top_triggers_by_distinct_users_ties_by_id_and_cold_items_newest_first():
    users = [day("U1", "I1", "Tent", "I2", "I7"), day("U2", "I1", "I2", "I1"), day("U3", "I3", "tent")]
    with TestPipeline() as p:
        triggers = ((p | "Users" >> beam.Create(users), p | "Items" >> beam.Create(ITEMS))
                    | SelectTriggers(DAY, CFG, frozenset()))
        assert_that(triggers | beam.Map(lambda t: (t.trigger_type, t.trigger_id, t.users, t.selected_as)),
                    equal_to([
                        # I1 and I2 have 2 users; I3 and I7 tie at 1 and I3 wins by id (top 3).
                        ("item", "I1", 2, "popular"), ("item", "I2", 2, "popular"), ("item", "I3", 1, "popular"),
                        # "Tent" and "tent" are one query after normalize: 2 users.
                        ("query", "tent", 2, "popular"),
                        ("category", "Outdoors > Camping > Stoves", 3, "popular"),
                        # I4 and I5 are new and untouched; one slot, newest first. I7 is new but
                        # was touched: it is no cold trigger. I6 is old and untouched: nothing.
                        ("item", "I4", 0, "cold")]), label="selected")
        described = triggers | beam.Filter(lambda t: t.key in ("item:I1", "item:I4", "query:tent"))
        assert_that(described | beam.Map(lambda t: (t.key, t.text, t.facts, t.context)), equal_to([
            # I2 shares 2 sessions with I1; "tent" and I7 share one (ties by type, then text).
            ("item:I1", "Trailhawk Steel Camp Stove", ("Stoves", "Trailhawk"),
             ("trailhawk dome tent tents", "trailhawk tent footprint tents", "tent")),
            ("item:I4", "Trailhawk Ultralight Tent", ("Tents", "Trailhawk"), ()),
            # Each of its items shares one session with it: ties by text.
            ("query:tent", "tent", ("Stoves", "Tents"), ("trailhawk dome tent tents", "trailhawk gas stove stoves",
                                                         "trailhawk steel camp stove stoves",
                                                         "trailhawk tent footprint tents")),
        ]), label="described")


def test_stopword_and_digit_only_queries_never_become_triggers_or_profile_queries():
    from pipelines.core.normalize import normalize_query
    from pipelines.core.normalize import QueryCleaner

    users = [day("U1", "and", "12345", "for", "I1"), day("U2", "and", "12345", "I1")]
    with TestPipeline() as p:
        triggers = ((p | "Users" >> beam.Create(users), p | "Items" >> beam.Create(ITEMS))
                    | SelectTriggers(DAY, CFG, frozenset()))
        assert_that(triggers | beam.Filter(lambda t: t.trigger_type == "query") | beam.Map(lambda t: t.key),
                    equal_to([]), label="no_query_triggers")
    clean = QueryCleaner(CFG.normalize, frozenset())
    assert [clean(q) for q in ("and", "12345", "for", "tent")] == [None, None, None, "tent"]
    assert normalize_query("12345", CFG.normalize)[1] == "no_content_words"
