"""The counter vocabulary of a night: every name a stage counts under, declared once.

Stages emit `(name, n)` pairs that WriteStats sums into `_stats.json`; publish reads
them back into the manifest and checks them. Both sides use these declarations, so a
renamed counter is one edit and a misspelt one fails at import, not in a manifest.

A `Counter` is one name; a `Family` is a set of names under one prefix, made with the
parts that vary (`REJECTED("events", "validate", "bad_ts")`) and read back as a group
(`REJECTED.group(counts, "events")`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Counter:
    name: str

    def __call__(self) -> str:
        return self.name

    def of(self, counts: Mapping[str, int]) -> int:
        return counts.get(self.name, 0)


@dataclass(frozen=True)
class Family:
    prefix: str

    def __call__(self, *parts) -> str:
        return ".".join((self.prefix, *map(str, parts)))

    def group(self, counts: Mapping[str, int], *parts) -> dict[str, int]:
        """The family's counters (under `parts`, if given), keyed by the rest of the name."""
        head = self(*parts) + "."
        return {k[len(head):]: v for k, v in sorted(counts.items()) if k.startswith(head)}

    def total(self, counts: Mapping[str, int], *parts) -> int:
        return sum(self.group(counts, *parts).values())


# Stages 1–2: input rows read, used, rejected (by table, stage, reason), catalog fixes.
REJECTED = Family("rejected")
CATALOG_FIXED = Family("catalog.fixed")
EVENTS_USED = Counter("events.used")
CATALOG_USED = Counter("catalog.used")


def read(table: str) -> str:
    return f"{table}.read"


def used(table: str) -> str:
    return f"{table}.used"


# Stage 3: users with events today; the profile memory rows this day passes on.
USERS_ACTIVE = Counter("users.active")
PROFILES_ROWS = Family("profiles.rows")
PROFILES_ACTIVE, PROFILES_CARRIED = "active", "carried"

# Stages 4–7, the same for both tables.
PROMPT_TOKENS = Counter("prompts.tokens")
GENERATE_FINISH = Family("generate.finish")
OUTPUT_TOKENS = Counter("generate.output_tokens")
RAW_QUERIES = Counter("normalize.raw_queries")
KEPT_QUERIES = Counter("normalize.kept")
NORMALIZE_DISCARDED = Family("normalize.discarded")
POPULAR_DISCARDED = Family("popular.discarded")
VERIFY_PASSED = Counter("verify.passed")
VERIFY_FAILED = Family("verify.failed")

# Stage 8: u2q lists filled from the day's x2q lists; ranked entries set aside.
USERS_WITH_X2Q_FILL = Counter("fill.users_with_x2q")
RANK_DISCARDED = Family("rank.discarded")
# Stage 8 of u2q: the verified candidates of every channel (the `candidates` part), and how
# many each channel proposed (a candidate counts once per channel that proposed it).
CANDIDATES_ROWS = Counter("candidates.rows")
CANDIDATES_BY_CHANNEL = Family("candidates.channel")

# Stage 3 of x2q: triggers selected (by how and type), skipped; per-row outcomes by kind.
TRIGGERS = Family("triggers")
TRIGGERS_SKIPPED = Family("triggers.skipped")
EMPTY_TRIGGER_TEXT = "empty_trigger_text"
X2Q_ROWS_BY = Family("x2q.rows")
X2Q_SERVED_BY = Family("x2q.served")
X2Q_WITH_GENERATED_BY = Family("x2q.with_generated_by")
X2Q_VERIFIED_GENERATED = Family("x2q.verified_generated")
NO_VERIFIED = Family("no_verified")

# IL-SFT samples (pipelines/samples.py), by task: prompts built, samples kept, prompts set
# aside by reason, target queries by origin. prompts == samples + set aside, per task.
SAMPLE_PROMPTS = Family("samples.prompts")
SAMPLES_KEPT = Family("samples.kept")
SAMPLES_SET_ASIDE = Family("samples.set_aside")
SAMPLE_QUERIES = Family("samples.queries")
SAMPLES_SHOP_HAS_QUERIES = Counter("samples.next_day_has_typed_queries")  # 1 or 0

# Stage 9: every published table's lists, counted and checked the same way.
LIST_CHECK = Family("check")


class TableCounters:
    """The list counters of one published table (`u2q.rows`, `x2q.source.generated`, ...)."""

    def __init__(self, table: str):
        self.rows = Counter(f"{table}.rows")
        self.entries = Counter(f"{table}.entries")
        self.full_lists = Counter(f"{table}.full_lists")  # lists of exactly K entries
        self.with_generated = Counter(f"{table}.with_generated")  # lists holding a generated query
        self.source = Family(f"{table}.source")  # entries by source
