"""IL-SFT sample construction on hand-made days: the answer's order, the top-up, the shop
without typed queries, Think's follow-ups, the reasons a prompt is set aside, and the date
split that keeps the held-out day out of training."""
import json
import re

from pipelines.core.normalize import QueryCleaner
from pipelines.core.config import NormalizeConfig
from pipelines.core.profile import build_profile
from pipelines.core.config import SessionConfig
from pipelines.core.prompts import REASONING_PATTERN, TASK_THINK, query_pattern
from pipelines.core.records import EnrichedEvent, Event, Item, Trigger
from pipelines.core.samples import (FROM_ITEM_PROXY, FROM_TOP_UP, FROM_TYPED, NO_FOLLOW_UP_QUERIES,
                                    NO_NEXT_DAY_BEHAVIOUR, NO_TARGET_QUERIES, Sample, SetAside, TargetRules,
                                    class_sample, direct_sample, follow_ups, reasoning_from_data, think_sample,
                                    typed_queries_by_interest)
from warehouse.samples import training_window

H = 3600 * 1_000_000
RULES = TargetRules(max_queries=10, max_query_chars=40, session_gap_s=1800)
CLEAN = QueryCleaner(NormalizeConfig(), frozenset())


def item(iid, leaf, title=None):
    return Item(iid, title or f"Nordia {leaf} {iid}", f"Shop > {leaf}", leaf, "Nordia", 10.0, "c", 0)


def ev(user, hours, etype, it=None, query=None, row=0):
    e = Event(user, int(hours * H), etype, it.item_id if it else None, query, "f", row, "{}")
    return EnrichedEvent(e, it)


SHOES, MUGS, TENTS = item("I1", "Running Shoes"), item("I2", "Coffee Mugs"), item("I3", "Tents")


def profile_liking(leaf_item):
    return build_profile("U1", [ev("U1", 1, "purchase", leaf_item), ev("U1", 2, "purchase", leaf_item, row=1)],
                         24 * H, SessionConfig())


def test_typed_queries_are_ordered_by_outcome_then_profile_interest_then_first_typed():
    day = [ev("U1", 30.0, "search", query="coffee mug", row=1), ev("U1", 30.01, "click", MUGS, row=2),
           ev("U1", 31.0, "search", query="trail shoes", row=3), ev("U1", 31.01, "purchase", SHOES, row=4),
           ev("U1", 32.0, "search", query="tent", row=5), ev("U1", 32.01, "click", TENTS, row=6),
           ev("U1", 33.0, "search", query="socks", row=7),  # nothing followed it
           ev("U1", 34.0, "search", query="Coffee  Mug", row=8), ev("U1", 34.01, "cart", MUGS, row=9)]
    order = typed_queries_by_interest(day, profile_liking(TENTS), 1800, CLEAN)
    # purchase > cart > click (tent before mug-click: the profile's interest) > nothing;
    # "Coffee  Mug" normalizes to the first query and keeps its strongest outcome (cart)
    assert order == ["trail shoes", "coffee mug", "tent", "socks"]


def test_direct_answer_tops_up_with_published_queries_that_retrieve_next_day_items():
    day = [ev("U1", 30, "search", query="trail shoes"), ev("U1", 30.01, "click", SHOES, row=1),
           ev("U1", 31, "view", MUGS, row=2)]
    published = [{"query": "tent 2 person", "rank": 1, "evidence": ["I3"]},
                 {"query": "ceramic mug", "rank": 3, "evidence": ["I9", "I2"]},
                 {"query": "running shoes", "rank": 2, "evidence": ["I1"]},
                 {"query": "trail shoes", "rank": 4, "evidence": ["I1"]}]  # already typed: once
    sample = direct_sample(profile_liking(SHOES), "<prompt>", 7, day, published, True, RULES, CLEAN,
                           "2026-11-01", "2026-11-02")
    assert isinstance(sample, Sample)
    assert sample.queries == ("trail shoes", "running shoes", "ceramic mug")
    assert sample.origins == (FROM_TYPED, FROM_TOP_UP, FROM_TOP_UP)
    # the exact JSON the answer schema allows, no whitespace: what the model must write
    assert sample.target == '{"queries":["trail shoes","running shoes","ceramic mug"]}'
    assert (sample.prompt, sample.dt, sample.labels_dt) == ("<prompt>", "2026-11-01", "2026-11-02")


def test_direct_answer_is_capped_and_holds_only_what_the_schema_allows():
    day = [ev("U1", 30 + i / 10, "search", query=f"query number {i}", row=i) for i in range(14)]
    day.append(ev("U1", 40, "search", query="x" * 45 + " long", row=99))
    sample = direct_sample(profile_liking(SHOES), "p", 1, day, [], True, RULES, CLEAN, "d", "d1")
    assert len(sample.queries) == 10 and all(len(q) <= 40 for q in sample.queries)


def test_a_shop_without_typed_queries_learns_the_next_day_items_proxies_strongest_first():
    day = [ev("U1", 30, "view", MUGS), ev("U1", 31, "purchase", SHOES, row=1)]
    sample = direct_sample(profile_liking(SHOES), "p", 1, day, [], False, RULES, CLEAN, "d", "d1")
    assert sample.origins == (FROM_ITEM_PROXY, FROM_ITEM_PROXY)
    assert sample.queries[0].startswith("nordia") and "i1" in sample.queries[0]


def test_prompts_without_an_answer_are_set_aside_with_their_reason():
    none = direct_sample(profile_liking(SHOES), "p", 1, [], [], True, RULES, CLEAN, "d", "d1")
    assert isinstance(none, SetAside) and none.reason == NO_NEXT_DAY_BEHAVIOUR
    # behaviour, but no typed query and no published query retrieving what was engaged
    only_views = direct_sample(profile_liking(SHOES), "p", 1, [ev("U1", 30, "view", MUGS)],
                               [{"query": "tent", "rank": 1, "evidence": ["I3"]}], True, RULES, CLEAN, "d", "d1")
    assert isinstance(only_views, SetAside) and only_views.reason == NO_TARGET_QUERIES
    trigger = Trigger("item", "I1", "nordia shoes", (), (), (("Running Shoes", 1.0),), 3, "popular")
    no_follow = think_sample(trigger, "p", 1, [], RULES, "d", "d1")
    assert isinstance(no_follow, SetAside) and no_follow.reason == NO_FOLLOW_UP_QUERIES
    assert no_follow.key == "item:I1" and no_follow.task == TASK_THINK


def test_follow_ups_are_queries_typed_after_the_trigger_in_the_same_session():
    day = [ev("U1", 30.0, "search", query="running gear"), ev("U1", 30.01, "click", SHOES, row=1),
           ev("U1", 30.02, "search", query="trail socks", row=2), ev("U1", 30.03, "click", MUGS, row=3),
           ev("U1", 35.0, "search", query="next session", row=4)]  # > 30 min later: not a follow-up
    pairs = follow_ups(day, 1800, CLEAN)
    after_shoe = sorted(q for key, q, _ in pairs if key == ("item", "I1"))
    assert after_shoe == ["trail socks"]
    assert ("query", "running gear") in {key for key, _, _ in pairs}  # a typed query is a trigger too
    assert all(q != "running gear" for key, q, _ in pairs if key == ("item", "I1"))
    leaf = {q: leaf for key, q, leaf in pairs if key == ("item", "I1")}
    assert leaf["trail socks"] == "Coffee Mugs"  # what was engaged right after the query


def test_think_answer_orders_follow_ups_by_users_and_reasons_only_from_data():
    trigger = Trigger("item", "I1", "nordia shoes", (), (), (("Running Shoes", 1.0),), 3, "popular")
    followed = [("U1", "trail socks", "Socks"), ("U2", "trail socks", "Socks"), ("U3", "insoles", None),
                ("U1", "Bad Query!", None)]  # outside Think's query pattern: left out
    sample = think_sample(trigger, "p", 1, followed, RULES, "d", "d1")
    assert sample.queries == ("trail socks", "insoles")
    answer = json.loads(sample.target)
    assert list(answer) == ["reasoning", "queries"]
    assert answer["reasoning"] == "Shoppers who looked at running shoes went on to search for socks."
    assert re.fullmatch(REASONING_PATTERN, answer["reasoning"])
    assert all(re.fullmatch(query_pattern(40), q) for q in answer["queries"])


def test_reasoning_keeps_to_the_schema_pattern_whatever_the_category_holds():
    trigger = Trigger("category", "A > B", "tools & 3D printers", (), (), (("3D Printers & Co.", 1.0),), 1,
                      "popular")
    text = reasoning_from_data(trigger, ["Kids' Toys (2+)", "Décor"])
    assert re.fullmatch(REASONING_PATTERN, text), text


def test_class_sample_keeps_the_given_order_and_drops_echoes():
    trigger = Trigger("category", "rugs", "rugs", (), (), (("rugs", 1.0),), 0, "popular")
    sample = class_sample(trigger, "p", 1, ["area rug", "rugs", "runner rug", "area rug"], RULES, "", "")
    assert sample.queries == ("area rug", "runner rug")


def test_training_window_never_reaches_the_held_out_answers():
    window = training_window("2026-11-10", 3)
    assert window == ["2026-11-07", "2026-11-08", "2026-11-09"]
    # a prompt day's answers are the next day: at most the held-out prompt day itself
    assert max(window) < "2026-11-10"
