"""Property tests over validate and normalize: any input either passes or is set aside
with a known reason; no exception escapes; what passes keeps the stated invariants. And
the reverse text order of picks on equal scores (pipelines/core/text.py)."""
import datetime as dt

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipelines.core.config import NormalizeConfig, ValidateConfig
from pipelines.core.normalize import (DEFAULT_BLOCKLIST, QUERY_DISCARD_REASONS, load_blocklist, normalize_answer,
                                      normalize_query, pii_reason)
from pipelines.core.records import Event, Rejection
from pipelines.core.text import text_desc_key
from pipelines.core.validate import CATALOG_REJECT_REASONS, EVENT_REJECT_REASONS, validate_event, validate_item
from schemas import REJECTED_SCHEMA

DAY = dt.date(2026, 11, 1)
EVENT_REASONS = EVENT_REJECT_REASONS
QUERY_REASONS = QUERY_DISCARD_REASONS - {"trigger_echo"}  # no echo texts are given here
BLOCK = load_blocklist(DEFAULT_BLOCKLIST)

texts = st.one_of(st.none(), st.text(max_size=300), st.sampled_from(["", " ", "view", "CLICK ", "search",
                                                                       "U1", "I1", "\x00", "\u202e"]))
# Ids as drifted files deliver them: text, or numbers the reader did not cast.
ids = st.one_of(texts, st.integers(), st.floats(allow_nan=True), st.booleans())
times = st.one_of(st.none(), st.integers(), st.text(max_size=40),
                  st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1),
                               timezones=st.just(dt.timezone.utc)))


@settings(max_examples=400, deadline=None)
@given(user=ids, ts=times, etype=texts, item=ids, query=texts)
def test_any_event_row_passes_or_is_rejected_with_a_known_reason(user, ts, etype, item, query):
    row = {"user_id": user, "ts": ts, "event_type": etype, "item_id": item, "query": query,
           "_file": "f.parquet", "_row": 3}
    result = validate_event(row, DAY, ValidateConfig())
    if isinstance(result, Rejection):
        assert result.reason in EVENT_REASONS
        # the rejected row can always be written with the declared schema
        pa.Table.from_pylist([result.to_row()], schema=REJECTED_SCHEMA)
    else:
        assert isinstance(result, Event) and result.user_id and result.event_type in {
            "view", "click", "cart", "purchase", "search"}
        assert (result.query is not None) == (result.event_type == "search")


@settings(max_examples=300, deadline=None)
@given(item=ids, title=texts, path=texts, brand=texts,
       price=st.one_of(st.none(), st.floats(allow_nan=True), st.text(max_size=10), st.integers()))
def test_any_catalog_row_is_an_item_with_fixes_or_a_rejection(item, title, path, brand, price):
    result = validate_item({"item_id": item, "title": title, "category_path": path, "brand": brand,
                            "price": price, "_file": "c", "_row": 0}, ValidateConfig())
    if isinstance(result, Rejection):
        assert result.reason in CATALOG_REJECT_REASONS
    else:
        got, fixes = result
        assert got.leaf and got.category_path and len(got.title) <= ValidateConfig().max_title_chars
        assert got.price is None or got.price >= 0
        assert set(fixes) <= {"title_truncated", "empty_title", "missing_category", "bad_price"}


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(st.text(max_size=120), st.integers(), st.none()))
def test_any_query_is_clean_or_discarded_with_a_reason(raw):
    cfg = NormalizeConfig()
    query, reason = normalize_query(raw, cfg, BLOCK)
    if query is None:
        assert reason in QUERY_REASONS
    else:
        assert reason is None
        assert query == query.lower().strip() and cfg.min_chars <= len(query) <= cfg.max_chars
        assert len(query.split()) <= cfg.max_words and pii_reason(query) is None
        assert normalize_query(query, cfg, BLOCK) == (query, None), "normalizing twice changes nothing"


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=400), st.lists(st.text(max_size=50), max_size=40).map(
    lambda qs: '{"queries": %s}' % __import__("json").dumps(qs))),
       finish=st.sampled_from(["stop", "length", "error"]))
@example(text='{"queries": [","]}', finish="stop")  # found by hypothesis: a comma-only query vanished
def test_any_model_answer_gives_distinct_ranked_candidates_and_counted_discards(text, finish):
    candidates, discards, n = normalize_answer(text, finish, NormalizeConfig(), BLOCK)
    assert len({c.query for c in candidates}) == len(candidates)
    assert [c.rank for c in candidates] == list(range(1, len(candidates) + 1))
    assert all(d.reason for d in discards)
    if n:
        assert len(candidates) + len(discards) >= n  # comma lists may split one string into several


def _negated_code_points(text: str) -> tuple:
    """The key text_desc_key replaced: every character's negated code point."""
    return tuple(-ord(ch) for ch in text) + (1,)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.text(alphabet="ab\x00é\U0001f600", max_size=4)), max_size=12))
@example([(1, "a"), (1, "ab"), (1, ""), (0, "b"), (1, "a")])
def test_texts_in_reverse_order_as_the_negated_code_points_ordered_them(scored):
    ours = [(score, text_desc_key(text)) for score, text in scored]
    theirs = [(score, _negated_code_points(text)) for score, text in scored]
    assert sorted(range(len(scored)), key=ours.__getitem__) == sorted(range(len(scored)), key=theirs.__getitem__)
    if scored:
        assert max(range(len(scored)), key=ours.__getitem__) == max(range(len(scored)), key=theirs.__getitem__)
    for (a, b), (x, y) in zip(zip(ours, ours[1:]), zip(theirs, theirs[1:])):
        assert (a < b, a <= b, a == b, a != b, a > b, a >= b) == (x < y, x <= y, x == y, x != y, x > y, x >= y)
    assert all(key[1] != key[1].text for key in ours)  # never equal to a plain text
