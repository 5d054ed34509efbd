"""Stages 2–3, sessionize and profile: one user's day of events becomes a compact Profile.

Work per user is bounded: duplicates are folded, and a bot-like user keeps only the most
recent `max_events_per_user` events (the rest are rejected as `over_user_cap`), before the
catalog join, so that join only sees a capped day.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable

from pipelines.core.config import SessionConfig, ValidateConfig
from pipelines.core.records import EnrichedEvent, Event, Evidence, Profile, Rejection

_ACTION_RANK = {"purchase": 5, "cart": 4, "search": 3, "click": 2, "view": 1}


def _rejection(ev: Event, reason: str, detail: str | None = None) -> Rejection:
    return Rejection(table="events", stage="sessionize", reason=reason, source_file=ev.source_file,
                     source_row=ev.source_row, detail=detail, original=ev.original)


def dedupe_and_cap(events: list[Event], cfg: ValidateConfig) -> tuple[list[Event], list[Rejection]]:
    """Folds exact duplicates (same user, item, type, time, query) and caps the day.

    Returns the kept events in time order and the rejections. The first copy of a
    duplicate in (file, row) order is kept, so the choice does not depend on arrival order.
    It runs on validated events before the catalog join (an event whose item the catalog
    lacks is rejected after it, as `unknown_item`), so the join's work per user is capped.
    """
    ordered = sorted(events, key=lambda ev: (ev.source_file, ev.source_row))
    seen: set[tuple] = set()
    kept: list[Event] = []
    rejected: list[Rejection] = []
    for ev in ordered:
        key = (ev.item_id, ev.event_type, ev.ts_us, ev.query)
        if key in seen:
            rejected.append(_rejection(ev, "duplicate_event"))
            continue
        seen.add(key)
        kept.append(ev)
    kept.sort(key=time_order)
    if len(kept) > cfg.max_events_per_user:
        cut = len(kept) - cfg.max_events_per_user
        rejected.extend(_rejection(ev, "over_user_cap", f"cap {cfg.max_events_per_user}")
                        for ev in kept[:cut])
        kept = kept[cut:]
    return kept, rejected


def time_order(ev: Event) -> tuple:
    """A user's events in time order; ties in (file, row) order."""
    return ev.ts_us, ev.source_file, ev.source_row


def split_sessions(events: list[EnrichedEvent], gap_s: int) -> list[list[EnrichedEvent]]:
    """Time-ordered events split wherever the gap exceeds `gap_s`."""
    sessions: list[list[EnrichedEvent]] = []
    last = None
    for e in events:
        if last is None or e.event.ts_us - last > gap_s * 1_000_000:
            sessions.append([])
        sessions[-1].append(e)
        last = e.event.ts_us
    return sessions


def event_weight(ev: Event, day_end_us: int, cfg: SessionConfig) -> float:
    """How much one event says about the shopper: its type's weight, halved every
    `half_life_s` before the end of the day."""
    age_s = max(0.0, (day_end_us - ev.ts_us) / 1e6)
    return cfg.weights.get(ev.event_type, 0.0) * math.pow(0.5, age_s / cfg.half_life_s)


def key_terms(title: str, brand: str, leaf: str, n: int) -> str:
    """2–4 words of the title that say more than its brand and category do."""
    skip = {w.lower() for w in (brand + " " + leaf).split()}
    words = [w for w in title.split() if w.lower() not in skip and any(c.isalnum() for c in w)]
    return " ".join(words[:n])


def item_proxy(e: EnrichedEvent, n_terms: int) -> str:
    """A short phrase for an item: brand, 2–4 key terms, leaf category, lower case.

    A phrase rather than 'Leaf | Brand | terms': a small model copies the shape of its
    evidence into its answer, and a phrase copied is still a searchable query.
    """
    item = e.item
    terms = key_terms(item.title, item.brand, item.leaf, n_terms)
    return " ".join(p for p in (item.brand, terms, item.leaf) if p).lower()


def build_profile(user_id: str, events: list[EnrichedEvent], day_end_us: int,
                  cfg: SessionConfig, n_terms: int = 3,
                  clean_query: Callable[[str], str | None] = str.lower, max_triggers: int = 10) -> Profile:
    """Weights every event by type and recency (half-life within the day) and folds them
    into category, brand, query and evidence weights.

    `clean_query` normalizes a typed query or returns None for one that must not reach a
    prompt (PII, blocked terms); such a search still counts for the session, not as text.
    """
    sessions = split_sessions(events, cfg.gap_s)
    cats: dict[str, float] = defaultdict(float)
    brands: dict[str, float] = defaultdict(float)
    evidence: dict[tuple[str, str], list] = {}  # (kind, text) -> [weight, last_ts, action]
    query_last: dict[str, int] = {}
    trigger_last: dict[tuple[str, str], int] = {}
    intents: list[str] = []
    for session in sessions:
        session_cats: dict[str, float] = defaultdict(float)
        for e in session:
            ev = e.event
            w = event_weight(ev, day_end_us, cfg)
            if ev.event_type == "search":
                text = clean_query(ev.query)
                if text is None:
                    continue
                key = ("query", text)
                query_last[text] = ev.ts_us
                trigger_last[("query", text)] = ev.ts_us
            else:
                trigger_last[("item", e.item.item_id)] = ev.ts_us
                trigger_last[("category", e.item.category_path)] = ev.ts_us
                cats[e.item.leaf] += w
                session_cats[e.item.leaf] += w
                if e.item.brand:
                    brands[e.item.brand] += w
                key = ("item", item_proxy(e, n_terms))
            slot = evidence.setdefault(key, [0.0, 0, ev.event_type])
            slot[0] += w
            slot[1] = max(slot[1], ev.ts_us)
            if _ACTION_RANK[ev.event_type] > _ACTION_RANK[slot[2]]:
                slot[2] = ev.event_type
        if session_cats:
            intents.append(max(session_cats.items(), key=lambda kv: (kv[1], kv[0]))[0])

    def ranked(d: dict[str, float]) -> tuple[tuple[str, float], ...]:
        return tuple((k, round(v, 6)) for k, v in sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))

    ev_list = sorted(
        (Evidence(kind=k[0], text=k[1], action=v[2], weight=round(v[0], 6), last_ts_us=v[1])
         for k, v in evidence.items()),
        key=lambda x: (-x.weight, -x.last_ts_us, x.kind, x.text))
    recent = tuple(q for q, _ in sorted(query_last.items(), key=lambda kv: (-kv[1], kv[0])))
    triggers = tuple(k for k, _ in sorted(trigger_last.items(), key=lambda kv: (-kv[1], kv[0])))
    return Profile(user_id=user_id, categories=ranked(cats), brands=ranked(brands),
                   recent_queries=recent, session_intents=tuple(reversed(intents)),
                   evidence=tuple(ev_list), n_events=len(events), n_sessions=len(sessions),
                   recent_triggers=triggers[:max_triggers])
