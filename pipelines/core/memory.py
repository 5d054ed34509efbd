"""Profile memory: what HintQ remembers of a shopper from one day to the next.

Day D's u2q reads the profiles published by day D-1, merges them into today's profiles and
publishes profiles/dt=D for day D+1. So days depend on each other: a backfill runs in date
order, and re-running day D changes what D+1 would read (rebuilt only when asked,
`--cascade`). Carried weights halve every `half_life_days`; a shopper idle for more than
`max_idle_days` is forgotten.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

from pipelines.core.config import MemoryConfig
from pipelines.core.records import Profile


@dataclass(frozen=True)
class CarriedProfile:
    """One row of profiles/dt=D: the shopper's interests as of the end of day D."""

    user_id: str
    last_active: str  # ISO date of the last day with events
    categories: tuple[tuple[str, float], ...]  # leaf, weight (strongest 1.0)
    brands: tuple[tuple[str, float], ...]
    recent_queries: tuple[str, ...]  # most recent first
    recent_triggers: tuple[tuple[str, str], ...]  # (type, id), most recent first

    def to_row(self) -> dict:
        return {"user_id": self.user_id, "last_active": self.last_active,
                "categories": [{"name": n, "weight": w} for n, w in self.categories],
                "brands": [{"name": n, "weight": w} for n, w in self.brands],
                "recent_queries": list(self.recent_queries),
                "recent_triggers": [{"type": t, "id": i} for t, i in self.recent_triggers]}

    @classmethod
    def from_row(cls, row: dict) -> "CarriedProfile":
        return cls(user_id=row["user_id"], last_active=row["last_active"],
                   categories=tuple((c["name"], c["weight"]) for c in row["categories"]),
                   brands=tuple((b["name"], b["weight"]) for b in row["brands"]),
                   recent_queries=tuple(row["recent_queries"]),
                   recent_triggers=tuple((t["type"], t["id"]) for t in row["recent_triggers"]))


def _scaled(weights: tuple[tuple[str, float], ...], factor: float = 1.0) -> dict[str, float]:
    top = max((w for _, w in weights), default=0.0) or 1.0
    return {name: w / top * factor for name, w in weights}


def _ranked(weights: dict[str, float], limit: int) -> tuple[tuple[str, float], ...]:
    items = sorted(((k, round(v, 6)) for k, v in weights.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))
    return tuple(items[:limit])


def _merged(today: tuple[tuple[str, float], ...], carried: dict[str, float], limit: int):
    weights = _scaled(today)
    for name, w in carried.items():
        weights[name] = weights.get(name, 0.0) + w
    return _ranked(weights, limit)


def _first_distinct(*sequences, limit: int) -> tuple:
    seen, out = set(), []
    for seq in sequences:
        for x in seq:
            if x not in seen:
                seen.add(x)
                out.append(x)
    return tuple(out[:limit])


def decay_factor(carried: CarriedProfile, day: dt.date, cfg: MemoryConfig) -> float | None:
    """How much of `carried` is left on `day`; None once the shopper is forgotten."""
    idle = (day - dt.date.fromisoformat(carried.last_active)).days
    if idle > cfg.max_idle_days:
        return None
    return math.pow(0.5, max(0, idle) / cfg.half_life_days)


def recall(today: Profile, carried: CarriedProfile | None, day: dt.date, cfg: MemoryConfig) -> Profile:
    """Today's profile with yesterday's memory folded in (weighted `carried_weight`,
    decayed): it adds interests and recent triggers, never evidence lines of the prompt.
    Without memory the profile is returned unchanged."""
    factor = decay_factor(carried, day, cfg) if carried else None
    if carried is None or factor is None:
        return today
    w = cfg.carried_weight * factor
    return dataclasses.replace(
        today,
        categories=_merged(today.categories, _scaled(carried.categories, w), cfg.max_carried),
        brands=_merged(today.brands, _scaled(carried.brands, w), cfg.max_carried),
        recent_queries=_first_distinct(today.recent_queries, carried.recent_queries, limit=cfg.max_carried),
        recent_triggers=_first_distinct(today.recent_triggers, carried.recent_triggers, limit=cfg.max_carried))


def remember(user_id: str, today: Profile | None, carried: CarriedProfile | None, day: dt.date,
             cfg: MemoryConfig) -> CarriedProfile | None:
    """What day D passes on: today's (recalled) interests if active, else the carried ones
    decayed; None for a shopper idle too long (forgotten)."""
    if today is not None:
        return CarriedProfile(user_id=user_id, last_active=day.isoformat(),
                              categories=_ranked(_scaled(today.categories), cfg.max_carried),
                              brands=_ranked(_scaled(today.brands), cfg.max_carried),
                              recent_queries=today.recent_queries[: cfg.max_carried],
                              recent_triggers=today.recent_triggers[: cfg.max_carried])
    if carried is None or decay_factor(carried, day, cfg) is None:
        return None
    return carried  # weights stay as of last_active; decay is applied by the reader's day
