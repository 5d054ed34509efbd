"""Typed records passed between stages. Plain frozen dataclasses: cheap to pickle, no
heavy imports, and the same objects in Beam, tests and benchmarks."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rejection:
    """An input row set aside, with the stage and the reason; becomes a `rejected/` row."""

    table: str
    stage: str
    reason: str
    source_file: str
    source_row: int
    detail: str | None
    original: str

    def to_row(self) -> dict:
        return {
            "table": self.table, "stage": self.stage, "reason": self.reason,
            "source_file": self.source_file, "source_row": self.source_row,
            "detail": self.detail, "original": self.original,
        }

    def sort_key(self) -> tuple:
        return (self.table, self.source_file, self.source_row, self.stage, self.reason)


@dataclass(frozen=True)
class Event:
    user_id: str
    ts_us: int
    event_type: str
    item_id: str | None
    query: str | None
    source_file: str
    source_row: int
    original: str


@dataclass(frozen=True)
class Item:
    """A catalog item after validation. `leaf` is the last level of `category_path`."""

    item_id: str
    title: str  # may be "" (then the item is kept for ids but not indexed)
    category_path: str
    leaf: str
    brand: str
    price: float | None
    source_file: str
    source_row: int
    first_seen: str | None = None  # ISO date the item entered the catalog, if known


@dataclass(frozen=True)
class EnrichedEvent:
    event: Event
    item: Item | None  # None for searches

    @property
    def engaged_item(self) -> Item | None:
        """The catalog item this event engaged with (a view, click, cart or purchase), or
        None: a search's item, where a log names one, is only its result."""
        return self.item if self.item is not None and self.event.event_type != "search" else None


@dataclass(frozen=True)
class Evidence:
    """One line of behaviour evidence for the prompt: an item proxy or a typed query."""

    kind: str  # "item" | "query"
    text: str
    action: str  # strongest event type on it
    weight: float
    last_ts_us: int


@dataclass(frozen=True)
class Profile:
    user_id: str
    categories: tuple[tuple[str, float], ...]  # leaf, weight; strongest first
    brands: tuple[tuple[str, float], ...]
    recent_queries: tuple[str, ...]  # most recent first
    session_intents: tuple[str, ...]  # dominant leaf of each session, latest first
    evidence: tuple[Evidence, ...]  # strongest and most recent first
    n_events: int
    n_sessions: int
    # (trigger_type, trigger_id) the shopper touched, most recent first: the keys of the
    # x2q lists that fill a short u2q list.
    recent_triggers: tuple[tuple[str, str], ...] = ()

    def category_weights(self) -> dict[str, float]:
        """Leaf weights scaled so the strongest interest is 1.0."""
        if not self.categories:
            return {}
        top = self.categories[0][1] or 1.0
        return {leaf: w / top for leaf, w in self.categories}


@dataclass(frozen=True)
class Trigger:
    """Something a shopper touches that x2q keys a list on: an item, a query or a category.

    `text` is what the trigger says (item title, query text, category path); `facts` what
    else is known of it (item: leaf category and brand; query: its top co-engaged
    categories; category: its top items); `context` its co-engaged neighbours of the day.
    """

    trigger_type: str  # "item" | "query" | "category"
    trigger_id: str  # item id, normalized query, category path
    text: str
    facts: tuple[str, ...]
    context: tuple[str, ...]
    categories: tuple[tuple[str, float], ...]  # leaf, weight (strongest 1.0): for ranking
    users: int  # distinct users who touched it today (0 for a cold item)
    selected_as: str  # "popular" | "cold"

    @property
    def key(self) -> str:
        return trigger_key(self.trigger_type, self.trigger_id)


def trigger_key(trigger_type: str, trigger_id: str) -> str:
    """`<type>:<id>`: the trigger's key in prompts, batches and the online store."""
    return f"{trigger_type}:{trigger_id}"


@dataclass(frozen=True)
class Prompt:
    """One generation request. `task` picks the answer schema ("direct" for u2q, "think"
    for x2q); `subject` is the Profile or Trigger it was built from, carried through."""

    key: str  # user id or trigger key
    task: str
    text: str
    n_tokens: int
    n_evidence: int
    subject: "Profile | Trigger"


@dataclass(frozen=True)
class Generation:
    """What the generator returned for one prompt: plain data, never a vLLM object."""

    key: str
    task: str
    text: str
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int
    output_tokens: int
    subject: "Profile | Trigger"


@dataclass(frozen=True)
class Candidate:
    query: str
    rank: int  # 1-based position in the model's answer, after normalize


@dataclass(frozen=True)
class Discard:
    """A generated (or popular) query that normalize set aside, with its reason."""

    reason: str
    text: str


@dataclass(frozen=True)
class UserCandidates:
    user_id: str
    profile: Profile
    prompt_tokens: int
    n_generated: int
    candidates: tuple[Candidate, ...]
    # Queries of the x2q lists of the user's recent triggers, in fill order, with their
    # source `x2q:<type>:<id>`; attached after normalize when an x2q partition exists.
    trigger_fills: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TriggerCandidates:
    trigger: Trigger
    reasoning: str | None
    prompt_tokens: int
    n_generated: int
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class VerifiedQuery:
    """The retrieval check of one distinct query against the catalog index."""

    query: str
    passed: bool
    reason: str  # "ok" | "no_hits_above_floor" | "too_few_hits"
    support: float  # mean similarity of the hits above the floor (0 if none)
    category: str | None  # dominant leaf of the hits
    hit_categories: tuple[tuple[str, float], ...]  # leaf, share of hits
    evidence: tuple[str, ...]  # item ids, best first
    n_hits: int = 0  # items at or above the similarity floor
    best: float = 0.0  # similarity of the best hit above the floor (0 if none)
    # The query's embedding (float32 bytes) as verification computed it, so ranking need
    # not embed it again; b"" where it was not kept (a check read back from a table).
    vector: bytes = field(default=b"", compare=False, repr=False)

    def embedding(self):
        """The query's row (numpy float32), or None."""
        import numpy as np  # here, not at the top: records import nothing heavy

        return np.frombuffer(self.vector, dtype="float32") if self.vector else None


@dataclass(frozen=True)
class Suggestion:
    query: str
    score: float
    rank: int
    category: str | None
    source: str
    evidence: tuple[str, ...] = field(default_factory=tuple)

    def to_row(self) -> dict:
        return {"query": self.query, "score": self.score, "rank": self.rank,
                "category": self.category, "source": self.source,
                "evidence": list(self.evidence)}
