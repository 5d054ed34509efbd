"""Reader library for serving: look up a shopper's (u2q) or a trigger's (x2q) list in Redis.

Importable without Beam or Airflow (redis-py and the plain `pipelines.core.serving`).

    reader = HintQReader("redis://127.0.0.1:6399/0")
    result = reader.lookup_user("U00042")      # Lookup(suggestions=[...], found=True, version=...)
    results = reader.lookup_users(["U1", "U2"])
    related = reader.lookup_trigger("item", "I000042")   # also "query", "category"

Each call reads the pointer once (or uses it from a cache younger than `pointer_ttl_s`) and
then only keys of that version, so a flip in the middle of a request can never mix two
versions; the export keeps the previous version's keys, so a request that read the old
pointer still finds its lists. A missing key is an empty list with `found=False`; any
connection problem raises ReaderUnavailable, and so does a store whose pointer was deleted
while exported versions remain (PointerMissing, with the way to recover). A miss cannot
tell an unknown user from a lost key; `health(table)` can: it compares the served
version's keys with the rows its manifest promised.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from pipelines.core.normalize import canonical_query
from pipelines.core.records import trigger_key
from pipelines.core.serving import (ServedSuggestion, decode_list, history_key, list_key, pointer_key,
                                    pointer_missing, rows_key, version_prefix, version_problem)


class ReaderUnavailable(RuntimeError):
    """The store cannot be reached or has no published version."""


class PointerMissing(ReaderUnavailable):
    """The pointer key is gone while exported versions remain: not 'nothing exported'."""


@dataclass(frozen=True)
class Health:
    table: str
    version: str | None
    expected_rows: int | None
    keys: int
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Lookup:
    suggestions: list[ServedSuggestion] = field(default_factory=list)
    found: bool = False
    version: str | None = None


class HintQReader:
    def __init__(self, url: str, namespace: str = "hintq", pointer_ttl_s: float = 0.0, client=None):
        import redis

        self._errors = (redis.exceptions.RedisError, OSError)
        self.client = client or redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.ns = namespace
        self.pointer_ttl_s = pointer_ttl_s
        self._pointer: dict[str, tuple[float, str]] = {}

    def _version(self, table: str) -> str:
        cached = self._pointer.get(table)
        now = time.monotonic()
        if cached and now - cached[0] < self.pointer_ttl_s:
            return cached[1]
        try:
            value = self.client.get(pointer_key(self.ns, table))
        except self._errors as exc:
            raise ReaderUnavailable(f"HintQ store unreachable: {exc}") from exc
        if value is None:
            self._no_pointer(table)
        version = value.decode()
        self._pointer[table] = (now, version)
        return version

    def _no_pointer(self, table: str):
        try:
            history = [v.decode() for v in self.client.zrange(history_key(self.ns, table), 0, -1)]
        except self._errors as exc:
            raise ReaderUnavailable(f"HintQ store unreachable: {exc}") from exc
        if not history:
            raise ReaderUnavailable(f"{pointer_key(self.ns, table)} is not set: nothing exported yet")
        raise PointerMissing(pointer_missing(self.ns, table, history))

    def health(self, table: str = "u2q") -> Health:
        """The served version's key count against the rows its manifest promised. Scans the
        version's keys: an operator's check, not a per-request call."""
        version = self._version(table)
        try:
            expected = self.client.hget(rows_key(self.ns, table), version)
            keys = sum(1 for _ in self.client.scan_iter(match=version_prefix(self.ns, table, version) + "*",
                                                        count=1000))
        except self._errors as exc:
            raise ReaderUnavailable(f"HintQ store unreachable: {exc}") from exc
        expected = int(expected) if expected is not None else None
        return Health(table, version, expected, keys, version_problem(table, version, keys, expected))

    def _many(self, table: str, ids: list[str]) -> list[Lookup]:
        version = self._version(table)
        try:
            values = self.client.mget([list_key(self.ns, table, version, i) for i in ids]) if ids else []
        except self._errors as exc:
            raise ReaderUnavailable(f"HintQ store unreachable: {exc}") from exc
        return [Lookup(decode_list(v), True, version) if v is not None else Lookup([], False, version)
                for v in values]

    def lookup_user(self, user_id: str) -> Lookup:
        return self._many("u2q", [user_id])[0]

    def lookup_users(self, user_ids: list[str]) -> list[Lookup]:
        return self._many("u2q", list(user_ids))

    def lookup_trigger(self, trigger_type: str, trigger_id: str) -> Lookup:
        """The x2q list of a trigger: an item id, a query (as typed; normalized here the way
        the nightly job normalizes it) or a category path."""
        if trigger_type == "query":
            trigger_id = canonical_query(trigger_id)
        return self._many("x2q", [trigger_key(trigger_type, trigger_id)])[0]
