"""IL-SFT training samples: what the shop's own next day says the generator should answer.

A sample is a prompt the night of day D sends (built by the nightly code itself, so a
training prompt is byte for byte the served prompt) and the answer the shop's behaviour
of D+1 shows was right, written in the exact JSON the answer schema allows:

- Direct (u2q): the queries the user typed on D+1, strongest interest first (a query
  followed by a purchase before one followed by a cart, a click or nothing; then queries
  in the profile's strongest categories), topped up with the published list's queries whose
  retrieved items the user engaged on D+1 (AIGQ's `Concat(clicked, ranker top-K)`). A shop
  without typed queries (Online Retail) gets the short text proxies of the D+1 items.
- Think (x2q): the queries shoppers typed after touching the trigger in the same session
  (D and D+1), most users first, with a reasoning sentence built only from data: the
  trigger's category and the categories of what followed.

A prompt whose answer would be empty is set aside with its reason, never dropped
silently; so is a query that the answer schema could not hold.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from pipelines.core.profile import item_proxy, split_sessions
from pipelines.core.prompts import TASK_DIRECT, TASK_THINK, query_pattern
from pipelines.core.records import EnrichedEvent, Profile, Trigger
from pipelines.core.triggers import session_touches

# Why a prompt of day D has no sample (the set-aside table's `reason`).
NO_NEXT_DAY_BEHAVIOUR = "no_next_day_behaviour"  # Direct: the user did nothing on D+1
NO_TARGET_QUERIES = "no_target_queries"  # D+1 behaviour, but no query it could be taught
NO_FOLLOW_UP_QUERIES = "no_follow_up_queries"  # Think: nobody typed a query after the trigger
SET_ASIDE_REASONS = (NO_NEXT_DAY_BEHAVIOUR, NO_TARGET_QUERIES, NO_FOLLOW_UP_QUERIES)

# Where a target query came from (counted per sample; the order of the answer).
FROM_TYPED = "typed"
FROM_TOP_UP = "top_up"
FROM_ITEM_PROXY = "item_proxy"
FROM_FOLLOW_UP = "follow_up"

# The strongest outcome after a typed query, before the next search of the session.
_OUTCOME = {"purchase": 3, "cart": 2, "click": 1, "view": 1}


@dataclass(frozen=True)
class Sample:
    """One IL-SFT pair. `dt` is the prompt's day; `labels_dt` the day its answer comes from
    (the last day of behaviour it saw)."""

    task: str
    key: str  # user id or trigger key
    dt: str
    labels_dt: str
    prompt: str
    prompt_tokens: int
    target: str  # the answer, exactly as the schema allows it (no whitespace)
    queries: tuple[str, ...]
    origins: tuple[str, ...]  # per query: FROM_*

    def to_row(self) -> dict:
        return {"task": self.task, "key": self.key, "dt": self.dt, "labels_dt": self.labels_dt,
                "prompt": self.prompt, "prompt_tokens": self.prompt_tokens, "target": self.target,
                "queries": list(self.queries), "origins": list(self.origins)}

    @classmethod
    def from_row(cls, row: dict) -> "Sample":
        return cls(**{**row, "queries": tuple(row["queries"]), "origins": tuple(row["origins"])})


@dataclass(frozen=True)
class SetAside:
    task: str
    key: str
    dt: str
    reason: str
    detail: str

    def to_row(self) -> dict:
        return {"task": self.task, "key": self.key, "dt": self.dt, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class TargetRules:
    """What an answer may hold: the answer schema's bounds (GenerateConfig, X2QConfig)."""

    max_queries: int
    max_query_chars: int
    session_gap_s: int
    n_terms: int = 3  # key terms of an item proxy (PromptConfig.key_terms_per_item)

    @classmethod
    def of(cls, cfg, max_queries: int) -> "TargetRules":
        """The rules of a HintQConfig, for an answer of at most `max_queries` queries."""
        return cls(max_queries=max_queries, max_query_chars=cfg.generate.max_query_chars,
                   session_gap_s=cfg.session.gap_s, n_terms=cfg.prompt.key_terms_per_item)

    def fits_direct(self, query: str) -> bool:
        return 2 <= len(query) <= self.max_query_chars

    def fits_think(self, query: str) -> bool:
        return re.fullmatch(query_pattern(self.max_query_chars), query) is not None


def answer_json(queries: Sequence[str], reasoning: str | None = None) -> str:
    """The answer as the generator writes it under its schema: keys in schema order, no
    whitespace between tokens (xgrammar's `disable_any_whitespace`)."""
    body = {"reasoning": reasoning, "queries": list(queries)} if reasoning is not None else {"queries": list(queries)}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# --- Direct ---------------------------------------------------------------------------------

def typed_queries_by_interest(events: Sequence[EnrichedEvent], profile: Profile, gap_s: int,
                              clean_query: Callable[[str], str | None]) -> list[str]:
    """The distinct queries typed in `events` (a user's D+1), strongest interest first:
    by the strongest outcome that followed each in its session before the next search
    (purchase > cart > click/view > nothing), then by the profile's weight of the category
    engaged after it, then first typed first."""
    weights = profile.category_weights()
    best: dict[str, tuple[int, float, int]] = {}
    order = 0
    for session in split_sessions(list(events), gap_s):
        for i, e in enumerate(session):
            if e.event.event_type != "search":
                continue
            query = clean_query(e.event.query or "")
            order += 1
            if not query:
                continue
            outcome, interest = 0, 0.0
            for after in session[i + 1:]:
                if after.event.event_type == "search":
                    break
                outcome = max(outcome, _OUTCOME.get(after.event.event_type, 0))
                if after.item is not None:
                    interest = max(interest, weights.get(after.item.leaf, 0.0))
            strength = (outcome, interest, -order)
            seen = best.get(query)
            best[query] = max(seen, strength) if seen else strength
    return sorted(best, key=lambda q: tuple(-v for v in best[q]))


def engaged_items(events: Iterable[EnrichedEvent]) -> set[str]:
    return {e.engaged_item.item_id for e in events if e.engaged_item is not None}


def item_proxies_by_strength(events: Sequence[EnrichedEvent], n_terms: int) -> list[str]:
    """Short text proxies (stage 4's) of the items engaged in `events`, the strongest
    engagement first, then the most recent."""
    strength: dict[str, tuple[int, int]] = {}
    for e in events:
        if e.item is None or e.event.event_type == "search":
            continue
        proxy = item_proxy(e, n_terms)
        value = (_OUTCOME.get(e.event.event_type, 0), e.event.ts_us)
        strength[proxy] = max(strength.get(proxy, value), value)
    return sorted(strength, key=lambda p: (-strength[p][0], -strength[p][1], p))


def direct_sample(profile: Profile, prompt: str, prompt_tokens: int, next_day: Sequence[EnrichedEvent],
                  published: Sequence[dict], shop_has_queries: bool, rules: TargetRules,
                  clean_query: Callable[[str], str | None], dt: str, labels_dt: str) -> Sample | SetAside:
    """The Direct sample of one user of day D: `next_day` is their kept events of D+1,
    `published` their published u2q list of D (entries with `query`, `rank`, `evidence`)."""
    if not next_day:
        return SetAside(TASK_DIRECT, profile.user_id, dt, NO_NEXT_DAY_BEHAVIOUR, f"no events on {labels_dt}")
    picked: list[tuple[str, str]] = []

    def add(queries: Iterable[str], origin: str) -> None:
        for q in queries:
            if len(picked) < rules.max_queries and rules.fits_direct(q) and q not in {p for p, _ in picked}:
                picked.append((q, origin))

    if shop_has_queries:
        add(typed_queries_by_interest(next_day, profile, rules.session_gap_s, clean_query), FROM_TYPED)
        items = engaged_items(next_day)
        add((e["query"] for e in sorted(published, key=lambda e: e["rank"])
             if items.intersection(e.get("evidence") or ())), FROM_TOP_UP)
    else:
        add(filter(None, map(clean_query, item_proxies_by_strength(next_day, rules.n_terms))), FROM_ITEM_PROXY)
    if not picked:
        detail = ("typed queries, published list and D+1 items give no query the schema holds" if shop_has_queries
                  else "no engaged item of D+1 has a usable text proxy")
        return SetAside(TASK_DIRECT, profile.user_id, dt, NO_TARGET_QUERIES, detail)
    queries = tuple(q for q, _ in picked)
    return Sample(task=TASK_DIRECT, key=profile.user_id, dt=dt, labels_dt=labels_dt, prompt=prompt,
                  prompt_tokens=prompt_tokens, target=answer_json(queries), queries=queries,
                  origins=tuple(o for _, o in picked))


# --- Think ----------------------------------------------------------------------------------

def follow_ups(events: Sequence[EnrichedEvent], gap_s: int, clean_query: Callable[[str], str | None]
               ) -> list[tuple[tuple[str, str], str, str | None]]:
    """One user's day → ((trigger type, id), a query typed after touching it in the same
    session, the leaf category engaged right after that query), each pair once per user."""
    out, seen = [], set()
    for session in split_sessions(list(events), gap_s):
        touched: list[tuple[str, str]] = []
        for i, e in enumerate(session):
            touches = [(t, tid) for t, tid, _, _ in session_touches([e], clean_query)]
            query = next((tid for t, tid in touches if t == "query"), None)
            if query:
                after_leaf = next((a.item.leaf for a in session[i + 1:] if a.item is not None), None)
                for key in touched:
                    if key != ("query", query) and (key, query) not in seen:
                        seen.add((key, query))
                        out.append((key, query, after_leaf))
            touched.extend(key for key in touches if key not in touched)
    return out


def reasoning_from_data(trigger: Trigger, followed_leaves: Sequence[str]) -> str:
    """A reasoning sentence made only of what the data says, in the characters the answer
    schema's pattern allows (letters, spaces, commas, hyphens; one final period)."""
    def clean(text: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r"[^a-zA-Z ,-]", " ", text)).strip(" ,-")

    subject = clean(trigger.categories[0][0] if trigger.categories else trigger.text) or "this"
    leaves = [c for c in dict.fromkeys(clean(x).lower() for x in followed_leaves) if c][:3]
    if leaves:
        sentence = f"Shoppers who looked at {subject.lower()} went on to search for {', '.join(leaves)}."
    else:
        sentence = f"Shoppers who looked at {subject.lower()} went on to search related products."
    return sentence[0].upper() + sentence[1:]


def think_sample(trigger: Trigger, prompt: str, prompt_tokens: int,
                 followed: Iterable[tuple[str, str, str | None]], rules: TargetRules,
                 dt: str, labels_dt: str) -> Sample | SetAside:
    """The Think sample of one trigger of day D; `followed` holds (user, query, leaf after
    it) for every query typed after the trigger in a session of D or D+1."""
    users: dict[str, set[str]] = defaultdict(set)
    leaves: Counter = Counter()
    for user, query, leaf in followed:
        if rules.fits_think(query) and query != trigger.trigger_id:
            users[query].add(user)
            if leaf:
                leaves[leaf] += 1
    queries = tuple(sorted(users, key=lambda q: (-len(users[q]), q))[: rules.max_queries])
    if not queries:
        return SetAside(TASK_THINK, trigger.key, dt, NO_FOLLOW_UP_QUERIES,
                        f"no query the schema holds was typed after it on {dt} or {labels_dt}")
    reasoning = reasoning_from_data(trigger, [leaf for leaf, _ in sorted(leaves.items(), key=lambda kv: (-kv[1], kv[0]))])
    return Sample(task=TASK_THINK, key=trigger.key, dt=dt, labels_dt=labels_dt, prompt=prompt,
                  prompt_tokens=prompt_tokens, target=answer_json(queries, reasoning), queries=queries,
                  origins=(FROM_FOLLOW_UP,) * len(queries))


def class_sample(trigger: Trigger, prompt: str, prompt_tokens: int, queries: Sequence[str],
                 rules: TargetRules, dt: str, labels_dt: str) -> Sample | SetAside:
    """A Think sample whose target queries are known and already ordered, most shoppers
    first (a real-queries table such as WANDS: a product class and its shoppers' queries)."""
    kept = tuple(q for q in dict.fromkeys(queries)
                 if rules.fits_think(q) and q != trigger.trigger_id)[: rules.max_queries]
    if not kept:
        return SetAside(TASK_THINK, trigger.key, dt, NO_FOLLOW_UP_QUERIES, "no query of the class fits the schema")
    return Sample(task=TASK_THINK, key=trigger.key, dt=dt, labels_dt=labels_dt, prompt=prompt,
                  prompt_tokens=prompt_tokens, target=answer_json(kept, reasoning_from_data(trigger, [])),
                  queries=kept, origins=(FROM_FOLLOW_UP,) * len(kept))
