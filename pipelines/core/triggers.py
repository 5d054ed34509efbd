"""Think's inputs: which triggers get an x2q list tonight, and what the model is told of each.

A trigger is something a shopper touches: an item (clicked, viewed, carted, bought), a
query (typed), or a category (the leaf category of an engaged item). Its popularity is the
number of distinct users who touched it today. Its context is what was touched in the same
sessions (co-clicked items, co-searched queries, co-engaged categories), counted over
sessions and bounded per session, so a bot's one endless session weighs like any other.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Callable, Iterable

from pipelines.core.config import X2QConfig
from pipelines.core.profile import item_proxy, split_sessions
from pipelines.core.records import EnrichedEvent, Item, Trigger
from pipelines.core.validate import UNKNOWN_CATEGORY

TRIGGER_TYPES = ("item", "query", "category")
SELECTED_POPULAR = "popular"
SELECTED_COLD = "cold"


def session_touches(session: list[EnrichedEvent], clean_query: Callable[[str], str | None],
                    n_terms: int = 3) -> list[tuple[str, str, str, str | None]]:
    """The distinct triggers of one time-ordered session, least recent first, as
    (type, id, label, leaf); `label` is how the trigger reads as another one's neighbour.
    A typed query that normalize rejects (PII, blocked terms) is no trigger."""
    last: dict[tuple[str, str], tuple[int, str, str | None]] = {}
    for i, e in enumerate(session):
        if e.event.event_type == "search":
            text = clean_query(e.event.query)
            if text:
                last[("query", text)] = (i, text, None)
        elif e.item is not None:
            last[("item", e.item.item_id)] = (i, item_proxy(e, n_terms), e.item.leaf)
            if e.item.leaf != UNKNOWN_CATEGORY:
                last[("category", e.item.category_path)] = (i, e.item.leaf.lower(), e.item.leaf)
    ordered = sorted(last.items(), key=lambda kv: (kv[1][0], kv[0]))
    return [(t, tid, label, leaf) for (t, tid), (_, label, leaf) in ordered]


def user_signals(events: list[EnrichedEvent], gap_s: int, clean_query: Callable[[str], str | None],
                 cfg: X2QConfig) -> tuple[set[tuple[str, str]], list[tuple[tuple[str, str], tuple]]]:
    """One user's day → (every trigger touched, neighbour pairs). A pair is
    ((type, id), (neighbour type, label, leaf)), once per session it occurs in; only the
    `max_session_triggers` most recent triggers of a session pair up, so a bot's endless
    session costs no more than a shopper's."""
    touched: set[tuple[str, str]] = set()
    pairs = []
    for session in split_sessions(events, gap_s):
        touches = session_touches(session, clean_query)
        touched.update((t, tid) for t, tid, _, _ in touches)
        recent = touches[-cfg.max_session_triggers:]
        for t, tid, _, _ in recent:
            for u, uid, label, leaf in recent:
                if (u, uid) != (t, tid):
                    pairs.append(((t, tid), (u, label, leaf)))
    return touched, pairs


def is_cold(item: Item, day: dt.date, cfg: X2QConfig) -> bool:
    """First seen in the catalog within `cold_days` up to `day` (an item touched today is
    not cold: it is a candidate for the popular pick instead)."""
    if not item.first_seen:
        return False
    age = (day - dt.date.fromisoformat(item.first_seen)).days
    return 0 <= age < cfg.cold_days


def top_n(cfg: X2QConfig, trigger_type: str) -> int:
    return {"item": cfg.top_items, "query": cfg.top_queries, "category": cfg.top_categories}[trigger_type]


def describe(trigger_type: str, trigger_id: str, item: Item | None, users: int, selected_as: str,
             neighbours: Iterable[tuple[tuple[str, str, str | None], int]], cfg: X2QConfig) -> Trigger:
    """Builds the Trigger: its text, facts, context and category weights.

    - item: text = title; facts = leaf category, brand; context = co-engaged items, queries.
    - query: text = the query; facts = the categories engaged in its sessions; context =
      co-searched queries and co-engaged items.
    - category: text = its path; facts = its own top items; context = other categories
      and queries of its sessions.
    Neighbours are ranked by the sessions they share (ties by label).
    """
    ranked = sorted(neighbours, key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
    leaf_votes: Counter[str] = Counter()
    facts: list[str] = []
    context: list[str] = []
    if trigger_type == "item":
        text = item.title if item else ""
        facts = [f for f in ((item.leaf if item and item.leaf != UNKNOWN_CATEGORY else ""),
                             item.brand if item else "") if f]
        if item and item.leaf != UNKNOWN_CATEGORY:
            leaf_votes[item.leaf] = 1
        context = [label for (kind, label, _), _ in ranked if kind in ("item", "query")]
    elif trigger_type == "query":
        text = trigger_id
        for (kind, label, leaf), n in ranked:
            if kind == "category":
                facts.append(leaf)
                leaf_votes[leaf] += n
            else:
                context.append(label)
    else:
        text = "" if trigger_id == UNKNOWN_CATEGORY else trigger_id
        own_leaf = trigger_id.split(" > ")[-1]
        leaf_votes[own_leaf] = 1
        for (kind, label, leaf), n in ranked:
            if kind == "item" and leaf == own_leaf:
                facts.append(label)
            elif kind != "item":
                context.append(label)
    top = max(leaf_votes.values(), default=0) or 1
    categories = tuple((leaf, round(n / top, 4)) for leaf, n in
                       sorted(leaf_votes.items(), key=lambda kv: (-kv[1], kv[0])))[: cfg.max_facts]
    return Trigger(trigger_type=trigger_type, trigger_id=trigger_id, text=text,
                   facts=tuple(_distinct(facts))[: cfg.max_facts],
                   context=tuple(_distinct(context))[: cfg.max_context],
                   categories=categories, users=users, selected_as=selected_as)


def _distinct(values: Iterable[str]) -> list[str]:
    seen, out = set(), []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out
