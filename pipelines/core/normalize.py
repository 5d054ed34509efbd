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
# Junk a small model writes (measured: `com/search/running-shoes`, `com/zentra-smart-4k-case`,
# `stridex women&s&s&s&s&mwzwzwzwz`): a URL's scheme, host or path, and runs of one
# character (4+) or of a 2-3 character unit (3+). Digits are exempt ("10000 mah" is fine).
_URL_FRAGMENT = re.compile(r"^(https?|www|com|net|org)\b|\b(https?|www)\b|[a-z]/[a-z]")
_REPEATED_CHARS = re.compile(r"([^\d\s])\1{3,}|([^\d\s]{2,3})\2{2,}")
_MAX_WORD_REPEATS = 2
# Words that carry no product intent alone: a query of only these and numbers ("and",
# "for", "12345") retrieves nothing a shopper meant; it is `no_content_words`.
STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here
hers him his how i if in into is it its just me more most my no nor not now of off on once only or other our
out over own same she should so some such than that the their them then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you your
""".split())

# Every reason normalize_query can give, for the tests and for readers of the manifest.
QUERY_DISCARD_REASONS = frozenset({
    "not_a_string", "empty", "only_punctuation", "pii_email", "pii_url", "pii_card_number", "pii_phone",
    "pii_address", "too_long", "too_short", "too_many_words", "unsupported_characters", "url_fragment",
    "repeated_characters", "repeated_words", "blocked_term", "prompt_echo", "no_content_words", "trigger_echo"})


def load_blocklist(path: str | Path | None) -> frozenset[str]:
    if not path:
        return frozenset()
    terms = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            terms.append(" ".join(line.split()))
    return frozenset(terms)


def _load_answer(text: str, finish_reason: str) -> tuple[dict | None, str | None]:
    if not text or not text.strip():
        return None, "empty_answer"
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None, "truncated_answer" if finish_reason == "length" else "invalid_json"
    if not isinstance(data, dict) or not isinstance(data.get("queries"), list):
        return None, "wrong_shape"
    return data, None


def parse_answer(text: str, finish_reason: str) -> tuple[list[object] | None, str | None]:
    """The list of raw queries in a Direct answer, or (None, reason)."""
    data, problem = _load_answer(text, finish_reason)
    return (None, problem) if data is None else (data["queries"], None)


def parse_think_answer(text: str, finish_reason: str, max_reasoning_chars: int
                       ) -> tuple[list[object] | None, str | None, list[str]]:
    """A Think answer {reasoning, queries} → (raw queries, reasoning, problems).

    Reasoning is kept for audit, never served: reasoning that is missing or not a string
    is None (`missing_reasoning`); longer than the bound it is cut there
    (`reasoning_over_bound`). Either way the queries are still used. An answer that is not
    the JSON object at all gives (None, None, [reason]).
    """
    data, problem = _load_answer(text, finish_reason)
    if data is None:
        return None, None, [problem]
    problems = []
    reasoning = data.get("reasoning")
    if not isinstance(reasoning, str) or not clean_text(reasoning):
        reasoning = None
        problems.append("missing_reasoning")
    else:
        reasoning = clean_text(reasoning)
        if len(reasoning) > max_reasoning_chars:
            reasoning = reasoning[:max_reasoning_chars]
            problems.append("reasoning_over_bound")
    return data["queries"], reasoning, problems


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


def normalize_query(raw: object, cfg: NormalizeConfig, blocklist: frozenset[str] = frozenset(),
                    echo: frozenset[str] = frozenset()) -> tuple[str | None, str | None]:
    """Returns (query, None) or (None, reason). Lower-cased, NFKC, trimmed, spaces collapsed.

    `echo` holds normalized texts the answer must not simply repeat (a Think trigger's own
    text): such a query is `trigger_echo`.
    """
    if not isinstance(raw, str):
        return None, "not_a_string"
    cleaned = clean_text(unicodedata.normalize("NFKC", raw)).lower()
    if not cleaned:
        return None, "empty"
    if not any(ch.isalnum() for ch in cleaned):
        return None, "only_punctuation"
    query = _trimmed(cleaned)
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
    if _URL_FRAGMENT.search(query):
        return None, "url_fragment"
    if _REPEATED_CHARS.search(query):
        return None, "repeated_characters"
    words = query.split()
    if max(words.count(w) for w in words) > _MAX_WORD_REPEATS:
        return None, "repeated_words"
    padded = f" {query} "
    if any(f" {term} " in padded for term in blocklist):
        return None, "blocked_term"
    if set(words) <= _PROMPT_WORDS:
        return None, "prompt_echo"
    if all(w in STOPWORDS or not any(ch.isalpha() for ch in w) for w in words):
        return None, "no_content_words"
    if query in echo:
        return None, "trigger_echo"
    return query, None


class QueryCleaner:
    """Normalizes a typed query the way generated ones are, or None for one that must not
    reach a prompt or become a trigger (PII, blocked terms)."""

    def __init__(self, normalize_cfg, blocklist: frozenset[str]):
        self.normalize_cfg, self.blocklist = normalize_cfg, blocklist

    def __call__(self, text: str) -> str | None:
        return normalize_query(text, self.normalize_cfg, self.blocklist)[0]

    @classmethod
    def of_night(cls, normalize_cfg, manifest: dict) -> "QueryCleaner":
        """The rule a published night normalized with: the blocklist its manifest names,
        or the packaged one where that file is no longer there."""
        path = (manifest.get("blocklist") or {}).get("path")
        return cls(normalize_cfg, load_blocklist(path if path and Path(path).exists() else DEFAULT_BLOCKLIST))


def _split_lists(raw_queries: list[object]) -> list[object]:
    """Small models often pack several queries into one string ("marlowe,black"); a comma
    never belongs in a query, so each comma-separated part is a query of its own."""
    out: list[object] = []
    for raw in raw_queries:
        parts = [part for part in raw.split(",") if part.strip()] if isinstance(raw, str) and "," in raw else []
        # A string of commas and spaces only stays whole, to be discarded with its reason.
        out.extend(parts or [raw])
    return out


def normalize_queries(raw_queries: list[object], cfg: NormalizeConfig, blocklist: frozenset[str] = frozenset(),
                      echo: frozenset[str] = frozenset()) -> tuple[list[Candidate], list[Discard]]:
    """Raw queries of one answer → ranked, distinct candidates and the discards."""
    candidates: list[Candidate] = []
    discards: list[Discard] = []
    seen: set[str] = set()
    for raw in _split_lists(raw_queries):
        query, reason = normalize_query(raw, cfg, blocklist, echo)
        if query is not None and query in seen:
            reason, query = "duplicate", None
        if query is None:
            discards.append(Discard(reason=reason, text=str(raw)[:200]))
            continue
        seen.add(query)
        candidates.append(Candidate(query=query, rank=len(candidates) + 1))
    return candidates, discards


def normalize_answer(text: str, finish_reason: str, cfg: NormalizeConfig,
                     blocklist: frozenset[str] = frozenset()
                     ) -> tuple[list[Candidate], list[Discard], int]:
    """Parses one Direct answer into ranked, distinct candidates.

    Returns (candidates, discards, n_generated) where n_generated counts the raw queries
    the model wrote (0 when the answer itself could not be parsed; that is one discard).
    """
    raw_queries, problem = parse_answer(text, finish_reason)
    if raw_queries is None:
        return [], [Discard(reason=problem, text=(text or "")[:200])], 0
    candidates, discards = normalize_queries(raw_queries, cfg, blocklist)
    return candidates, discards, len(raw_queries)


def echo_texts(trigger_text: str, trigger_id: str) -> frozenset[str]:
    """The normalized forms of a trigger's own text and id, and of a category path's leaf."""
    texts = {trigger_text, trigger_id, trigger_id.split(" > ")[-1]}
    return frozenset(canonical_query(t) for t in texts if t)


def canonical_query(text: str) -> str:
    """The form normalize_query gives a text before its checks."""
    return _trimmed(clean_text(unicodedata.normalize("NFKC", text)).lower())


def _trimmed(cleaned: str) -> str:
    return " ".join(cleaned.strip(_EDGE_PUNCT).split())


def normalize_think_answer(text: str, finish_reason: str, cfg: NormalizeConfig, max_reasoning_chars: int,
                           blocklist: frozenset[str] = frozenset(), echo: frozenset[str] = frozenset()
                           ) -> tuple[str | None, list[Candidate], list[Discard], int]:
    """Parses one Think answer: (reasoning, candidates, discards, n_generated). The same
    query rules as Direct, plus `trigger_echo` for a query that only repeats the trigger."""
    raw_queries, reasoning, problems = parse_think_answer(text, finish_reason, max_reasoning_chars)
    discards = [Discard(reason=p, text=(text or "")[:200]) for p in problems]
    if raw_queries is None:
        return None, [], discards, 0
    candidates, query_discards = normalize_queries(raw_queries, cfg, blocklist, echo)
    return reasoning, candidates, discards + query_discards, len(raw_queries)
