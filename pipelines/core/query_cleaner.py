"""The one rule for a typed query before it may reach a prompt, a trigger or a list."""
from __future__ import annotations

from pipelines.core.normalize import normalize_query


class QueryCleaner:
    """Normalizes a typed query the way generated ones are, or None for one that must not
    reach a prompt or become a trigger (PII, blocked terms)."""

    def __init__(self, normalize_cfg, blocklist: frozenset[str]):
        self.normalize_cfg, self.blocklist = normalize_cfg, blocklist

    def __call__(self, text: str) -> str | None:
        return normalize_query(text, self.normalize_cfg, self.blocklist)[0]
