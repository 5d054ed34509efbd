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


@dataclass(frozen=True)
class EnrichedEvent:
    event: Event
    item: Item | None  # None for searches


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

    def category_weights(self) -> dict[str, float]:
        """Leaf weights scaled so the strongest interest is 1.0."""
        if not self.categories:
            return {}
        top = self.categories[0][1] or 1.0
        return {leaf: w / top for leaf, w in self.categories}


@dataclass(frozen=True)
class Prompt:
    user_id: str
    text: str
    n_tokens: int
    n_evidence: int
    profile: Profile


@dataclass(frozen=True)
class Generation:
    """What the generator returned for one prompt: plain data, never a vLLM object."""

    user_id: str
    text: str
    finish_reason: str  # "stop" | "length" | "error"
    prompt_tokens: int
    output_tokens: int
    profile: Profile


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
