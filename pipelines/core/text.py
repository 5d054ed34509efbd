"""Text hygiene shared by every stage that reads shopper or catalog text."""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata

# Bidirectional controls and zero-width characters: invisible, and a classic way to make
# two strings look equal or to smuggle text past a reviewer.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufffd]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
# Chat-template control strings (`<|im_start|>`, `<|endoftext|>`, `</s>`, `<s>`): in shop
# text they would reach the model as real control tokens and open a turn of their own.
# This shape covers the common templates for every text field, published ones included;
# the prompt codec also strips its own tokenizer's special tokens (strip_special_tokens).
_TEMPLATE_TOKENS = re.compile(r"<\|[^<>|\s]{1,40}\|>|</?s>", re.IGNORECASE)


def clean_text(value: str) -> str:
    """NFC-normalizes, drops control and invisible characters and chat-template control
    strings, collapses whitespace.

    U+FFFD (what invalid UTF-8 bytes decode to) is dropped too: the bytes carried no
    recoverable text.
    """
    value = unicodedata.normalize("NFC", value)
    value = _TEMPLATE_TOKENS.sub(" ", value)
    value = _CONTROL.sub(" ", value)
    value = _INVISIBLE.sub("", value)
    return _SPACES.sub(" ", value).strip()


def strip_special_tokens(text: str, special_tokens: tuple[str, ...]) -> str:
    """Removes every occurrence of a tokenizer's special-token strings from `text` (data
    that goes into a prompt), until none is left: removing one must not join two halves
    into another."""
    while True:
        before = text
        for token in special_tokens:
            text = text.replace(token, " ")
        if text == before:
            return text


def has_bad_id_chars(value: str) -> bool:
    """Ids must be printable as they are: no replacement, control or invisible characters
    (spaces around an id are their own reason, `id_whitespace`, in validate)."""
    return bool(_CONTROL.search(value) or _INVISIBLE.search(value))


def stable_hash(value: str) -> int:
    """A hash that is the same in every process and run (Python's hash() is salted)."""
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8", "surrogatepass"),
                                          digest_size=8).digest(), "big")


def _readable(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    return str(v)


# One encoder for every row: json.dumps builds a new one per call when given options.
_ROW_JSON = json.JSONEncoder(default=_readable, ensure_ascii=True, sort_keys=True)


def row_to_json(row: dict) -> str:
    """The original row as JSON for `rejected/`; bytes and odd types stay readable."""
    return _ROW_JSON.encode({k: v for k, v in row.items() if not k.startswith("_")})


class DescendingText:
    """A text that orders in reverse: `a < b` exactly when `a.text > b.text` (code point by
    code point, a prefix after the longer texts it starts), equal when the texts are.

    Compared only where a key's earlier parts tie: the key it replaced, a tuple of every
    character's negated code point, was built for every element a Top or max() looked at
    (46,837 keys of ~46 characters on the replayed 1k x2q night: 1.0 s under the profiler)
    and ordered texts the same way."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other):
        return self.text == other.text if type(other) is DescendingText else NotImplemented

    def __lt__(self, other):
        return self.text > other.text

    def __le__(self, other):
        return self.text >= other.text

    def __gt__(self, other):
        return self.text < other.text

    def __ge__(self, other):
        return self.text <= other.text

    def __hash__(self):
        return hash(self.text)

    def __repr__(self):
        return f"DescendingText({self.text!r})"


def text_desc_key(text: str) -> DescendingText:
    """A key that sorts texts in reverse, for max()/Top picks that must prefer the
    alphabetically first text on equal scores."""
    return DescendingText(text)
