"""Stage 6, normalize: the model's answer becomes clean, distinct candidate queries.

Every query that is set aside gets a reason; the reasons are stable snake_case codes that
the manifest counts. The same rules apply to popular queries typed by shoppers, so PII a
shopper typed can never be published as a fallback either.
"""
from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

from pipelines.core.config import NormalizeConfig
from pipelines.core.records import Candidate, Discard
from pipelines.core.text import clean_text

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_URL = re.compile(r"(https?://|www\.)\S+|\.(com|net|org|io|co|uk|de)\b")
_PHONE = re.compile(r"(\+?\d[\d\s().-]{7,}\d)")
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_STREET = re.compile(r"\b\d{1,5}\s+\w+(\s\w+)?\s+(street|st|avenue|ave|road|rd|lane|ln|blvd|drive|dr)\b")
# Latin letters (with accents), digits, spaces and the punctuation shoppers type.
_ALLOWED = re.compile(r"^[a-z0-9\u00c0-\u024f '&+./\-\"%]+$")
_EDGE_PUNCT = " \t\"'.,;:!?-_/\\|*#()[]{}<>"
# Words of our own instruction: an answer made of them is the prompt echoed back.
_PROMPT_WORDS = {"search", "queries", "query", "shopper", "activity", "strongest", "first",
                 "bought", "viewed", "clicked", "searched", "added", "to", "cart", "json",
                 "lower", "case", "write", "different", "short", "next", "type", "may",
                 "this", "up", "in", "the", "a", "of"}
DEFAULT_BLOCKLIST = Path(__file__).with_name("blocklist.txt")


def load_blocklist(path: str | Path | None) -> frozenset[str]:
    if not path:
        return frozenset()
    terms = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            terms.append(" ".join(line.split()))
    return frozenset(terms)


def parse_answer(text: str, finish_reason: str) -> tuple[list[object] | None, str | None]:
    """The list of raw queries in a Direct answer, or (None, reason)."""
    if not text or not text.strip():
        return None, "empty_answer"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None, "truncated_answer" if finish_reason == "length" else "invalid_json"
    if not isinstance(data, dict) or not isinstance(data.get("queries"), list):
        return None, "wrong_shape"
    return data["queries"], None


def pii_reason(query: str) -> str | None:
    if _EMAIL.search(query):
        return "pii_email"
    if _URL.search(query):
        return "pii_url"
    if _CARD.search(query):
        return "pii_card_number"
    if _PHONE.search(query):
        return "pii_phone"
    if _STREET.search(query):
        return "pii_address"
    return None


def normalize_query(raw: object, cfg: NormalizeConfig,
                    blocklist: frozenset[str] = frozenset()) -> tuple[str | None, str | None]:
    """Returns (query, None) or (None, reason). Lower-cased, NFKC, trimmed, spaces collapsed."""
    if not isinstance(raw, str):
        return None, "not_a_string"
    cleaned = clean_text(unicodedata.normalize("NFKC", raw)).lower()
    if not cleaned:
        return None, "empty"
    if not any(ch.isalnum() for ch in cleaned):
        return None, "only_punctuation"
    query = " ".join(cleaned.strip(_EDGE_PUNCT).split())
    reason = pii_reason(query)
    if reason:
        return None, reason
    if len(query) > cfg.max_chars:
        return None, "too_long"
    if len(query) < cfg.min_chars:
        return None, "too_short"
    if len(query.split()) > cfg.max_words:
        return None, "too_many_words"
    if not _ALLOWED.match(query):
        return None, "unsupported_characters"
    padded = f" {query} "
    if any(f" {term} " in padded for term in blocklist):
        return None, "blocked_term"
    if set(query.split()) <= _PROMPT_WORDS:
        return None, "prompt_echo"
    return query, None


def _split_lists(raw_queries: list[object]) -> list[object]:
    """Small models often pack several queries into one string ("marlowe,black"); a comma
    never belongs in a query, so each comma-separated part is a query of its own."""
    out: list[object] = []
    for raw in raw_queries:
        if isinstance(raw, str) and "," in raw:
            out.extend(part for part in raw.split(",") if part.strip())
        else:
            out.append(raw)
    return out


def normalize_answer(text: str, finish_reason: str, cfg: NormalizeConfig,
                     blocklist: frozenset[str] = frozenset()
                     ) -> tuple[list[Candidate], list[Discard], int]:
    """Parses one answer into ranked, distinct candidates.

    Returns (candidates, discards, n_generated) where n_generated counts the raw queries
    the model wrote (0 when the answer itself could not be parsed; that is one discard).
    """
    raw_queries, problem = parse_answer(text, finish_reason)
    if raw_queries is None:
        return [], [Discard(reason=problem, text=(text or "")[:200])], 0
    candidates: list[Candidate] = []
    discards: list[Discard] = []
    seen: set[str] = set()
    for raw in _split_lists(raw_queries):
        query, reason = normalize_query(raw, cfg, blocklist)
        if query is not None and query in seen:
            reason, query = "duplicate", None
        if query is None:
            discards.append(Discard(reason=reason, text=str(raw)[:200]))
            continue
        seen.add(query)
        candidates.append(Candidate(query=query, rank=len(candidates) + 1))
    return candidates, discards, len(raw_queries)
