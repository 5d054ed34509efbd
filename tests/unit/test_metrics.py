"""Every evaluation metric and baseline on tiny cases computed by hand, so the definitions
in pipelines/core/metrics.py and pipelines/core/baselines.py cannot drift unnoticed."""
import math
import random
from collections import Counter

import numpy as np
import pytest

from pipelines.core import baselines as bl
from pipelines.core.metrics import (UNDEFINED_NO_CATEGORIES, UNDEFINED_NO_SEARCHES, UNDEFINED_NOT_CHECKED,
                                    Bootstrap, ListEntry, NextDay, average_rows, best_of, best_similarity,
                                    bootstrap_ci, evaluate_lists, jensen_shannon, query_hit_rank, realism,
                                    source_class, top_k, total_variation)


def E(q, source="generated", category=None, verified=True):
    return ListEntry(q, source, category, verified)


def value(rows, metric, k, system="s"):
    [row] = [r for r in rows if r["system"] == system and r["metric"] == metric and r["k"] == k]
    return row


# Four users active on D. u1 and u2 searched on D+1; u3 only bought; u4 did nothing on D+1.
LISTS = {
    "u1": [E("a", category="Shoes"), E("b", "popular:global", "Bags"), E("c", "x2q:item:I1", "Shoes")],
    "u2": [E("x", category="Hats"), E("x", category="Hats"), E("y", "popular:category", "Hats", False)],
    "u3": [E("p", category="Socks")],
    "u4": [E("z", category="Shoes")],
}
NEXT = {
    "u1": NextDay(queries=frozenset({"c", "zzz"}), categories=frozenset({"Bags"}), texts=("c", "zzz")),
    "u2": NextDay(queries=frozenset({"y"}), categories=frozenset(), texts=("y",)),
    "u3": NextDay(categories=frozenset({"Socks", "Tents"}), texts=("wool socks",)),
    "u4": NextDay(),  # no next-day activity: not in the population
}


def test_top_k_drops_repeated_queries_before_the_cut():
    assert [e.query for e in top_k(LISTS["u2"], 2)] == ["x", "y"]
    assert query_hit_rank(LISTS["u2"], {"y"}, 2) == 2  # the repeat of x does not push y out
    assert query_hit_rank(LISTS["u1"], {"c"}, 2) is None
    assert query_hit_rank(LISTS["u1"], {"c"}, 3) == 3


def test_query_hr_and_mrr_by_hand():
    rows = evaluate_lists("s", LISTS, NEXT, LISTS, ks=(2, 3))
    # Denominator: u1 and u2 (the only users with next-day queries; u4 inactive, u3 no search).
    # K=2: u1 has a, b (no hit); u2 has x, y (hit at rank 2) → HR 1/2, MRR (0 + 1/2) / 2.
    assert value(rows, "query_hr", 2) == {"system": "s", "metric": "query_hr", "k": 2, "value": 0.5, "n": 2}
    assert value(rows, "query_mrr", 2)["value"] == 0.25
    # K=3: u1 hits at rank 3 → HR 2/2, MRR (1/3 + 1/2) / 2.
    assert value(rows, "query_hr", 3)["value"] == 1.0
    assert value(rows, "query_mrr", 3)["value"] == round((1 / 3 + 1 / 2) / 2, 6)
    # Where the hits come from: u1's first hit c is an x2q fill, u2's y a popular fill.
    assert value(rows, "first_hit:x2q", 3) == {"system": "s", "metric": "first_hit:x2q", "k": 3, "value": 0.5, "n": 2}
    assert value(rows, "first_hit:popular", 3)["value"] == 0.5
    assert value(rows, "first_hit:popular", 2) == {"system": "s", "metric": "first_hit:popular", "k": 2,
                                                   "value": 1.0, "n": 1}


def test_category_hr_by_hand():
    rows = evaluate_lists("s", LISTS, NEXT, LISTS, ks=(1, 2))
    # Denominator: u1 (Bags) and u3 (Socks, Tents); u2 engaged no item.
    # K=1: u1 [Shoes] miss, u3 [Socks] hit → 1/2.  K=2: u1 [Shoes, Bags] hit → 2/2.
    assert value(rows, "category_hr", 1)["value"] == 0.5
    assert value(rows, "category_hr", 1)["n"] == 2
    assert value(rows, "category_hr", 2)["value"] == 1.0


def test_list_shape_metrics_by_hand():
    rows = evaluate_lists("s", LISTS, NEXT, LISTS, ks=(2,))
    # Population u1, u2, u3. Top-2 lists: u1 [a Shoes, b Bags], u2 [x Hats, y Hats], u3 [p Socks].
    assert value(rows, "unique_categories", 2)["value"] == round((2 + 1 + 1) / 3, 6)
    assert value(rows, "list_length", 2)["value"] == round(5 / 3, 6)
    assert value(rows, "coverage", 2)["value"] == round(2 / 3, 6)
    # 5 entries, y not verified.
    assert value(rows, "verified_share", 2) == {"system": "s", "metric": "verified_share", "k": 2,
                                                "value": 0.8, "n": 5}
    # Sources: generated a, x, p; popular b, y.
    assert value(rows, "share:generated", 2)["value"] == 0.6
    assert value(rows, "share:popular", 2)["value"] == 0.4
    assert not [r for r in rows if r["metric"] == "share:x2q"]  # c is third: cut at K=2


def test_a_user_without_a_list_counts_as_an_empty_list():
    rows = evaluate_lists("s", {}, NEXT, ["u1", "u3"], ks=(2,))
    assert value(rows, "query_hr", 2)["value"] == 0.0
    assert value(rows, "coverage", 2)["value"] == 0.0
    assert value(rows, "verified_share", 2)["undefined"] == UNDEFINED_NOT_CHECKED


def test_undefined_metrics_say_why_instead_of_scoring_zero():
    only_purchases = {"u1": NextDay(categories=frozenset(), texts=("a title",))}
    rows = evaluate_lists("s", {"u1": [E("a")]}, only_purchases, ["u1"], ks=(10,))
    for metric, why in (("query_hr", UNDEFINED_NO_SEARCHES), ("query_mrr", UNDEFINED_NO_SEARCHES),
                        ("category_hr", UNDEFINED_NO_CATEGORIES)):
        row = value(rows, metric, 10)
        assert row["value"] is None and row["n"] == 0 and row["undefined"] == why
    # Entries never checked against a catalog have neither a verdict nor a category.
    unchecked = evaluate_lists("s", {"u1": [ListEntry("a", "generated")]}, only_purchases, ["u1"], ks=(10,))
    for metric in ("verified_share", "unique_categories"):
        assert value(unchecked, metric, 10)["undefined"] == UNDEFINED_NOT_CHECKED
    assert value(unchecked, "list_length", 10)["value"] == 1.0


def test_semantic_similarity_is_the_best_pair_averaged_over_users():
    basis = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1], "zzz": [0.6, 0.8, 0], "x": [1, 0, 0],
             "y": [0, 1, 0], "p": [0, 0, 1], "wool socks": [0, 0.8, 0.6]}

    def vectors(texts):
        return np.array([basis[t] for t in texts], dtype="float32").reshape(len(texts), 3)

    rows = evaluate_lists("s", LISTS, NEXT, LISTS, ks=(1, 3), vectors=vectors)
    # K=1: u1 a·zzz = 0.6 (a·c = 0); u2 x·y = 0; u3 p·wool socks = 0.6 → mean 0.4.
    assert value(rows, "semantic_similarity", 1)["value"] == pytest.approx(0.4, abs=1e-6)
    # K=3: u1 c·c = 1; u2 y·y = 1; u3 0.6 → mean 2.6 / 3.
    assert value(rows, "semantic_similarity", 3)["value"] == pytest.approx(2.6 / 3, abs=1e-6)
    assert best_similarity(np.zeros((0, 3)), vectors(["a"])) == 0.0


def test_source_classes():
    assert [source_class(s) for s in ("generated", "x2q:query:tent", "popular:category", "popular:global", "ebr")] \
        == ["generated", "x2q", "popular", "popular", "ebr"]


def test_realism_by_hand():
    real = ["red shoes", "blue shoes for men", "tent"]
    generated = ["red shoes", "shoes shoes", "camping"]
    out = realism(generated, real, best_real_similarity=[1.0, 0.95, 0.3], near_duplicate=0.9)
    assert out["mean_words"] == round((2 + 2 + 1) / 3, 6)
    assert out["real_mean_words"] == round((2 + 4 + 1) / 3, 6)
    # Word counts: generated {2: 2, 1: 1}, real {2: 1, 4: 1, 1: 1} → TV = ½(|2/3-1/3| + |1/3-1/3| + |0-1/3|) = 1/3.
    assert out["length_tvd"] == round(1 / 3, 6)
    # Generated words: red, shoes, shoes, shoes, camping (5); camping is not a real word → 1/5.
    assert out["oov_rate"] == 0.2
    assert out["exact_real"] == round(1 / 3, 6)
    assert out["near_duplicate"] == round(2 / 3, 6)


def test_distribution_distances():
    assert total_variation(Counter(a=1), Counter(a=5)) == 0.0
    assert total_variation(Counter(a=1), Counter(b=1)) == 1.0
    assert jensen_shannon(Counter(a=1), Counter(b=1)) == pytest.approx(1.0)
    # p = (1/2, 1/2), q = (1, 0): m = (3/4, 1/4); JS = ½[½log(2/3) + ½log2] + ½[log(4/3)].
    expected = 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)) + 0.5 * math.log2(1 / 0.75)
    assert jensen_shannon(Counter(a=1, b=1), Counter(a=3)) == pytest.approx(expected)


# ---- baselines ----

def test_popular_counts_a_user_once_a_day_and_breaks_ties_by_text():
    searches = [("d1", "u1", "tent"), ("d1", "u1", "tent"), ("d1", "u2", "tent"), ("d2", "u1", "tent"),
                ("d1", "u3", "boots"), ("d1", "u4", "boots"), ("d1", "u3", "axe"), ("d1", "u5", "axe")]
    counts = bl.popular_counts(searches)
    assert counts == {"tent": 3, "boots": 2, "axe": 2}
    assert bl.popular_list(counts, 2) == ["tent", "axe"]


def test_fill_keeps_own_queries_first_and_never_repeats():
    entries = bl.fill(["b", "b", "a"], "cooccurrence", ["a", "c", "d"], 4)
    assert [(e.query, e.source) for e in entries] == [("b", "cooccurrence"), ("a", "cooccurrence"),
                                                      ("c", "popular:global"), ("d", "popular:global")]


def test_category_popular_cycles_over_the_strongest_leaves():
    by_leaf = {"Shoes": ["s1", "s2", "s3"], "Tents": ["t1", "s1"], "Hats": ["h1"]}
    assert bl.category_popular_list(["Shoes", "Tents", "Hats", "Bags"], by_leaf, 5) == ["s1", "t1", "h1", "s2", "s3"]
    assert bl.category_popular_list(["Shoes", "Tents"], by_leaf, 10, top_leaves=1) == ["s1", "s2", "s3"]
    assert bl.popular_by_leaf({"a": 1, "b": 3, "c": 2}, {"a": "X", "b": "X", "c": None}) == {"X": ["b", "a"]}


def test_cooccurrence_counts_sessions_not_repeats_and_skips_the_anchor_itself():
    sessions = [([("item", "I1"), ("query", "tent")], ["tent", "tent", "stove"]),
                ([("item", "I1")], ["stove"]),
                ([("query", "tent")], ["tent"])]
    counts = bl.cooccurrence_counts(sessions)
    assert counts[("item", "I1")] == Counter(stove=2, tent=1)
    assert counts[("query", "tent")] == Counter(stove=1)  # never itself
    weights = {("item", "I1"): 1.0, ("query", "tent"): 3.0}
    # stove: 1·2 + 3·1 = 5; tent: 1·1 = 1.
    assert bl.cooccurrence_list(weights, counts, 5) == ["stove", "tent"]


def test_ebr_user_vector_and_tie_stable_nearest_queries():
    v = bl.user_vector(np.array([[1, 0], [0, 1]], dtype="float32"), [3.0, 1.0])
    assert v == pytest.approx(np.array([3, 1]) / math.sqrt(10))
    assert bl.user_vector(np.zeros((0, 2)), []) is None
    assert bl.nearest_queries([0.5, 0.9, 0.5], ["b", "c", "a"], 2) == ["c", "a"]


def test_nearest_queries_sorts_only_the_best_but_gives_the_full_sorts_order():
    """Ties at the k-th score, k past the vocabulary, an empty one: as sorting them all."""
    rng = random.Random(5)
    for _ in range(500):
        n, k = rng.randint(0, 30), rng.randint(1, 35)
        scores = [rng.choice([0.25, 0.5, 0.75, rng.random()]) for _ in range(n)]
        queries = [f"q{rng.randint(0, 9)}" for _ in range(n)]
        everything = [q for q, _ in sorted(zip(queries, scores), key=lambda qs: (-qs[1], qs[0]))][:k]
        assert bl.nearest_queries(scores, queries, k) == everything


def test_bootstrap_interval_is_seeded_holds_the_mean_and_narrows_with_more_users():
    few = [1.0, 0.0] * 10
    many = [1.0, 0.0] * 500
    low, high = bootstrap_ci(few, Bootstrap(500, seed=3))
    assert (low, high) == bootstrap_ci(few, Bootstrap(500, seed=3))
    assert low < 0.5 < high
    low_many, high_many = bootstrap_ci(many, Bootstrap(500, seed=3))
    assert high_many - low_many < (high - low) / 3
    assert bootstrap_ci([1.0], Bootstrap(500)) is None and bootstrap_ci(few, Bootstrap(0)) is None


def test_best_is_marked_only_where_its_interval_clears_the_runner_up():
    def row(system, value, low=None):
        r = {"system": system, "value": value}
        if low is not None:
            r["ci_low"], r["ci_high"] = low, value + 0.1
        return r

    clear = [row("a", 0.50, low=0.45), row("b", 0.40, low=0.35)]
    overlap = [row("a", 0.50, low=0.38), row("b", 0.40, low=0.35)]
    assert best_of(clear)["system"] == "a"
    assert best_of(overlap) is None  # 0.38 does not clear 0.40: within the noise
    assert best_of([row("a", 0.0), row("b", 0.0)]) is None
    assert best_of([row("a", 0.3), row("b", None)])["system"] == "a"


def test_evaluate_lists_gives_intervals_only_to_per_user_means():
    nd = {u: NextDay(queries=frozenset({"q"}), categories=frozenset({"C"})) for u in "abcd"}
    lists = {"a": [E("q", category="C")], "b": [E("x", category="C")], "c": [E("q")], "d": []}
    rows = evaluate_lists("s", lists, nd, "abcd", [10], boot=Bootstrap(200, 0))
    hr = [r for r in rows if r["metric"] == "query_hr"][0]
    assert hr["value"] == 0.5 and hr["ci_low"] <= 0.5 <= hr["ci_high"]
    assert all("ci_low" not in r for r in rows if r["metric"].startswith(("share:", "first_hit:", "verified")))


def test_chance_is_averaged_over_seeds_and_a_missing_share_counts_as_zero():
    run1 = [{"system": "random", "metric": "query_hr", "k": 10, "value": 0.2, "n": 4, "ci_low": 0.0, "ci_high": 0.5},
            {"system": "random", "metric": "share:random", "k": 10, "value": 1.0, "n": 8}]
    run2 = [{"system": "random", "metric": "query_hr", "k": 10, "value": 0.4, "n": 4, "ci_low": 0.1, "ci_high": 0.7}]
    avg = {r["metric"]: r for r in average_rows([run1, run2])}
    assert avg["query_hr"]["value"] == 0.3 and avg["query_hr"]["ci_low"] == 0.05
    assert avg["share:random"]["value"] == 0.5 and avg["query_hr"]["averaged_over"] == 2


def test_random_reference_lists_are_stable_distinct_and_differ_by_seed():
    vocabulary = [f"q{i}" for i in range(50)]
    one = bl.random_list(vocabulary, "0:U1", 10)
    assert one == bl.random_list(vocabulary, "0:U1", 10)
    assert len({e.query for e in one}) == 10 and {e.source for e in one} == {bl.RANDOM}
    assert one != bl.random_list(vocabulary, "1:U1", 10)
    assert len(bl.random_list(vocabulary[:3], "0:U1", 10)) == 3
