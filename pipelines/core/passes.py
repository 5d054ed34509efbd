"""u2q in user passes: which pass a shopper falls in, how many passes a day takes, and
the night's stats as the sum of its passes'.

The embedded runner holds each stage's whole input and output in memory, so a night over
all of a day's shoppers holds every candidate of the day at once. Run in passes, the
per-user stages hold one pass's shoppers. The day is read once, by the day-level
pipeline: it validates, joins and sessionizes it, sets its bad rows aside, counts what
belongs to the day (popular queries, the history's channels, the fallback pool) and
writes each pass's shoppers; a pass starts at its shoppers' profiles. Each
shopper's list is what one pass over the whole day gives: queries are embedded in other
calls than in one pass, and a query's row does not depend on its call
(EmbedderSpec.encode). A re-run of the same passes gives the same bytes.
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


def pass_index(user_id: str, count: int) -> int:
    """The pass of `count` a shopper falls in. The hash is salted apart from the writer's
    shard hash (pipelines/stages/write.py), so a pass's shoppers still spread over every
    shard."""
    return stable_hash(f"user-pass:{user_id}") % count


@dataclass(frozen=True)
class UserPass:
    """Pass `index` of `count`: the shoppers whose user_id hashes to `index`."""
    index: int
    count: int

    def __post_init__(self):
        if not 0 <= self.index < self.count:
            raise ValueError(f"pass {self.index} of {self.count}")

    @property
    def name(self) -> str:
        return f"pass-{self.index:03d}-of-{self.count:03d}"

    def holds(self, user_id: str) -> bool:
        """Whether a shopper (a validated user_id: the day-level pipeline has set the
        rows with bad ids aside) is this pass's."""
        return pass_index(user_id, self.count) == self.index


def summed_stats(pipelines: list[dict]) -> dict:
    """The stats of a night run in passes: every counter summed (the day-level pipeline
    counts what belongs to the day: the rows read and set aside, the catalog, the day-level
    queries' checks; each pass counts its own shoppers), the schema notes once each."""
    counts: dict[str, int] = {}
    notes: set[str] = set()
    for stats in pipelines:
        for name, n in stats["counts"].items():
            counts[name] = counts.get(name, 0) + n
        notes.update(stats["schema_notes"])
    return {"counts": dict(sorted(counts.items())), "schema_notes": sorted(notes)}
