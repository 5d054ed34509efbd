"""Stage 1, validate: each input row is either a clean record or a Rejection with a reason.

Documented rules (BAD_INPUTS.md):
- `event_type` is lower-cased and trimmed before the check ("CLICK " is a click).
- `ts` may arrive as a timestamp or, in drifted files, as an ISO-8601 string (no zone
  means UTC); anything else is `bad_timestamp`. Implausible times (before 2000, or more
  than a year after the partition) are `bad_timestamp`; times outside the partition's UTC
  day by more than `partition_tolerance_s` are `outside_partition`.
- Typed queries are cleaned (control/invisible characters removed); empty after cleaning
  is `empty_query`; longer than `max_query_chars` is `query_too_long` (never truncated:
  a 10 kB "query" is not something a shopper typed).
- Ids with control, invisible or undecodable characters are `invalid_encoding`; an id
  with spaces around it is `id_whitespace` (" 555" is not silently "555"); an id that is
  not a string is `id_wrong_type` (the reader casts integer id columns to decimal strings,
  per file and noted; a float id such as 555.0 is never guessed back to "555").
- Catalog titles are cleaned and cut to `max_title_chars`; an empty title keeps the item
  (its id is valid for events) but leaves it out of the retrieval index. A missing or
  empty category path becomes `unknown`. A price that is not a non-negative number is set
  to null and counted. `first_seen` may be a date or an ISO date string; anything else
  is set to null and counted (the item then cannot be a cold-start trigger).
"""
from __future__ import annotations

import datetime as dt
import functools
import math

from pipelines.core.config import ValidateConfig
from pipelines.core.records import Event, Item, Rejection
from pipelines.core.text import clean_text, has_bad_id_chars, row_to_json
from schemas.inputs import EVENT_TYPES

UNKNOWN_CATEGORY = "unknown"
# Every reason validate can give a row, declared once (tests and readers of rejected/).
ID_REASONS = ("invalid_encoding", "id_whitespace", "id_wrong_type")
EVENT_REJECT_REASONS = frozenset({"missing_user_id", "missing_item_id", *ID_REASONS, "unknown_event_type",
                                  "bad_timestamp", "outside_partition", "empty_query", "query_too_long"})
CATALOG_REJECT_REASONS = frozenset({"missing_item_id", *ID_REASONS})
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _reject(table: str, row: dict, reason: str, detail: str | None = None) -> Rejection:
    return Rejection(table=table, stage="validate", reason=reason,
                     source_file=row.get("_file", "?"), source_row=int(row.get("_row", -1)),
                     detail=detail, original=row_to_json(row))


def parse_timestamp(value: object) -> dt.datetime | None:
    """A timestamp, or an ISO-8601 string (documented cast); None if neither."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


def to_micros(ts: dt.datetime) -> int:
    delta = ts - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@functools.lru_cache(maxsize=64)  # asked once per event row, for the one day of a night
def partition_bounds_us(day: dt.date) -> tuple[int, int]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    return to_micros(start), to_micros(start + dt.timedelta(days=1))


def _clean_id(value: object) -> tuple[str | None, str | None]:
    """Returns (id, None) or (None, reason)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing"
    if not isinstance(value, str):
        return None, "id_wrong_type"
    if value != value.strip():
        return None, "id_whitespace"
    if has_bad_id_chars(value):
        return None, "invalid_encoding"
    return value, None


def _id_detail(column: str, value: object) -> str:
    return column if isinstance(value, str) or value is None else f"{column}: {type(value).__name__} {value!r}"[:80]


def validate_event(row: dict, day: dt.date, cfg: ValidateConfig) -> Event | Rejection:
    """Checks one raw events row (a dict with `_file`/`_row` provenance)."""
    user_id, problem = _clean_id(row.get("user_id"))
    if problem:
        return _reject("events", row, "missing_user_id" if problem == "missing" else problem,
                       _id_detail("user_id", row.get("user_id")))
    raw_type = row.get("event_type")
    event_type = raw_type.strip().lower() if isinstance(raw_type, str) else ""
    if event_type not in EVENT_TYPES:
        return _reject("events", row, "unknown_event_type", repr(raw_type)[:80])

    ts = parse_timestamp(row.get("ts"))
    if ts is None:
        return _reject("events", row, "bad_timestamp", f"unparseable {type(row.get('ts')).__name__}")
    if ts.year < 2000 or ts.year > day.year + 1:
        return _reject("events", row, "bad_timestamp", f"implausible {ts.isoformat()}")
    ts_us = to_micros(ts)
    start, end = partition_bounds_us(day)
    tolerance = cfg.partition_tolerance_s * 1_000_000
    if ts_us < start - tolerance or ts_us >= end + tolerance:
        return _reject("events", row, "outside_partition", ts.isoformat())

    item_id = None
    query = None
    if event_type == "search":
        raw_query = row.get("query")
        query = clean_text(raw_query) if isinstance(raw_query, str) else ""
        if not query:
            return _reject("events", row, "empty_query")
        if len(query) > cfg.max_query_chars:
            return _reject("events", row, "query_too_long", f"{len(query)} chars")
    else:
        item_id, problem = _clean_id(row.get("item_id"))
        if problem:
            return _reject("events", row, "missing_item_id" if problem == "missing" else problem,
                           _id_detail("item_id", row.get("item_id")))
    return Event(user_id=user_id, ts_us=ts_us, event_type=event_type, item_id=item_id,
                 query=query, source_file=row.get("_file", "?"), source_row=int(row.get("_row", -1)),
                 original=row_to_json(row))


def leaf_of(category_path: str) -> str:
    parts = [p.strip() for p in category_path.split(">")]
    parts = [p for p in parts if p]
    return parts[-1] if parts else UNKNOWN_CATEGORY


def _parse_price(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        price = float(value)
    elif isinstance(value, str):
        try:
            price = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return price if math.isfinite(price) and price >= 0 else None


def _parse_date(value: object) -> str | None:
    """A date, a timestamp or an ISO date string (documented cast) as YYYY-MM-DD."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()[:10]).isoformat()
        except ValueError:
            return None
    return None


def validate_item(row: dict, cfg: ValidateConfig) -> tuple[Item, tuple[str, ...]] | Rejection:
    """Checks one raw catalog row. Returns the item and the field fixes applied to it
    (each fix is counted in the manifest), or a Rejection."""
    item_id, problem = _clean_id(row.get("item_id"))
    if problem:
        return _reject("catalog", row, "missing_item_id" if problem == "missing" else problem,
                       _id_detail("item_id", row.get("item_id")))
    fixes = []
    raw_title = row.get("title")
    title = clean_text(raw_title) if isinstance(raw_title, str) else ""
    if len(title) > cfg.max_title_chars:
        title = title[: cfg.max_title_chars].rsplit(" ", 1)[0]
        fixes.append("title_truncated")
    if not title:
        fixes.append("empty_title")
    raw_path = row.get("category_path")
    # Cleaned whole before the split: a control string such as `<|im_end|>` holds a ">".
    path = " > ".join(p for p in (clean_text(x) for x in clean_text(raw_path).split(">")) if p) \
        if isinstance(raw_path, str) else ""
    if not path:
        path = UNKNOWN_CATEGORY
        fixes.append("missing_category")
    raw_brand = row.get("brand")
    brand = clean_text(raw_brand) if isinstance(raw_brand, str) else ""
    price = _parse_price(row.get("price"))
    if price is None and row.get("price") is not None:
        fixes.append("bad_price")
    first_seen = _parse_date(row.get("first_seen"))
    if first_seen is None and row.get("first_seen") is not None:
        fixes.append("bad_first_seen")
    item = Item(item_id=item_id, title=title, category_path=path, leaf=leaf_of(path), brand=brand,
                price=price, source_file=row.get("_file", "?"), source_row=int(row.get("_row", -1)),
                first_seen=first_seen)
    return item, tuple(fixes)


def pick_catalog_winner(items: list[Item]) -> tuple[Item, list[Item]]:
    """Duplicate item ids: the row with a title wins over one without; among equals, the
    first in (file name, row) order. Returns (winner, losers)."""
    ranked = sorted(items, key=lambda i: (i.title == "", i.source_file, i.source_row))
    return ranked[0], ranked[1:]
