"""u2q in user passes: which pass a shopper falls in, how many passes a day takes, and
the night's stats as the sum of its passes'.

The embedded runner holds each stage's whole input and output in memory, so a night over
all of a day's shoppers holds every candidate of the day at once. Run in passes, the
per-user stages hold one pass's shoppers; the day-level counts (popular queries, the
history's channels, the fallback pool) are computed once and read by every pass, so each
shopper's list is what one pass over the whole day gives, but for the last bits of the
query embeddings: queries are embedded in other batches, and a batch's makeup moves them
by ~1e-6, which can swap two near-tied evidence items (10k replayed: 178 of 201,750 list
entries; the same queries, order, scores and sources in every list). A re-run of the same
passes gives the same bytes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.core.text import stable_hash


def pass_count(distinct_users: int, users_per_pass: int) -> int:
    """Passes of about `users_per_pass` shoppers each (0: one pass)."""
    if users_per_pass <= 0 or distinct_users <= users_per_pass:
        return 1
    return math.ceil(distinct_users / users_per_pass)


@dataclass(frozen=True)
class UserPass:
    """Pass `index` of `count`: the shoppers whose user_id hashes to `index`."""
    index: int
    count: int

    def __post_init__(self):
        if not 0 <= self.index < self.count:
            raise ValueError(f"pass {self.index} of {self.count}")

    @property
    def first(self) -> bool:
        """The pass that also counts and writes what belongs to the day, not to a shopper
        (the catalog's rows and rejections, the popular queries set aside)."""
        return self.index == 0

    @property
    def name(self) -> str:
        return f"pass-{self.index:03d}-of-{self.count:03d}"

    def holds(self, user_id: object) -> bool:
        """Whether a shopper (a raw row's user_id, valid or not) is this pass's. An id that
        is not a string is rejected by validation whatever its pass: it goes to the first.
        The hash is salted apart from the writer's shard hash (pipelines/stages/write.py),
        so a pass's shoppers still spread over every shard."""
        if not isinstance(user_id, str):
            return self.first
        return stable_hash(f"user-pass:{user_id}") % self.count == self.index


def summed_stats(passes: list[dict]) -> dict:
    """The stats of a night run in passes: every counter summed (each pass counts its own
    shoppers; what belongs to the day is counted by the first pass only), the schema notes
    of all passes once each."""
    counts: dict[str, int] = {}
    notes: set[str] = set()
    for stats in passes:
        for name, n in stats["counts"].items():
            counts[name] = counts.get(name, 0) + n
        notes.update(stats["schema_notes"])
    return {"counts": dict(sorted(counts.items())), "schema_notes": sorted(notes)}
