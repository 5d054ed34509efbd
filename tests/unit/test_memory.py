"""Profile memory carried from day to day (plain core)."""
import datetime as dt

from pipelines.core.config import MemoryConfig
from pipelines.core.memory import CarriedProfile, decay_factor, recall, remember
from pipelines.core.records import Profile

CFG = MemoryConfig(half_life_days=2.0, max_idle_days=10, carried_weight=0.5, max_carried=3)
DAY = dt.date(2026, 11, 3)


def profile(cats, triggers=(), queries=()):
    return Profile("U1", cats, (("Nordia", 2.0),), queries, (), (), 3, 1, recent_triggers=triggers)


def carried(last_active="2026-11-02", cats=(("Tents", 1.0), ("Stoves", 0.5))):
    return CarriedProfile("U1", last_active, cats, (("Trailhawk", 1.0),), ("dome tent",),
                          (("item", "I9"), ("query", "dome tent")))


def test_recall_folds_decayed_memory_into_todays_interests():
    today = profile((("Stoves", 4.0), ("Mugs", 2.0)), triggers=(("item", "I1"),), queries=("camp stove",))
    merged = recall(today, carried(), DAY, CFG)
    # today scaled to 1.0 / 0.5; memory one day old: 0.5 * 2**-0.5 = 0.3536 of its weights.
    assert merged.categories == (("Stoves", 1.176777), ("Mugs", 0.5), ("Tents", 0.353553))
    assert merged.recent_triggers == (("item", "I1"), ("item", "I9"), ("query", "dome tent"))
    assert merged.recent_queries == ("camp stove", "dome tent")
    assert merged.evidence == today.evidence, "memory never adds prompt evidence"
    assert recall(today, None, DAY, CFG) is today, "no memory: today's profile unchanged"


def test_memory_decays_and_is_forgotten_after_the_idle_limit():
    assert decay_factor(carried("2026-11-01"), DAY, CFG) == 0.5
    assert decay_factor(carried("2026-10-24"), DAY, CFG) == 2 ** -5, "10 days idle: still remembered"
    assert decay_factor(carried("2026-10-23"), DAY, CFG) is None
    today = profile((("Stoves", 4.0),))
    assert recall(today, carried("2026-10-23"), DAY, CFG) is today


def test_remember_passes_on_today_or_keeps_an_idle_shoppers_memory():
    today = profile((("Stoves", 4.0), ("Mugs", 2.0), ("Tents", 1.0), ("Cups", 0.5)), triggers=(("item", "I1"),))
    kept = remember("U1", today, carried(), DAY, CFG)
    assert kept.last_active == "2026-11-03" and kept.categories == (("Stoves", 1.0), ("Mugs", 0.5), ("Tents", 0.25))
    idle = carried("2026-11-01")
    assert remember("U1", None, idle, DAY, CFG) is idle
    assert remember("U1", None, carried("2026-10-01"), DAY, CFG) is None
    assert CarriedProfile.from_row(kept.to_row()) == kept
