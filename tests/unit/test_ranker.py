"""The learned ranker's core: features on hand-computed cases, channel merging, labels,
diversity, deterministic training and a model that cannot be used."""
import math

import numpy as np
import pytest

from pipelines.core.channels import CH_EBR, CH_GENERATED, CH_POOL_GLOBAL, CH_X2Q
from pipelines.core.config import RankerConfig, VerifyConfig
from pipelines.core.features import FEATURE_NAMES, UserContext, candidate_features, without_channel
from pipelines.core.metrics import NextDay
from pipelines.core.ranker import (Group, Proposal, RankCandidate, Ranker, RankerUnusable, diversified, label,
                                   merge_proposals, ndcg, split, train)
from pipelines.core.verify import judge_retrieval

VCFG = VerifyConfig(similarity_floor=0.5, min_hits=2)


def test_features_of_one_candidate_by_hand():
    # Hits 0.9 (Shoes), 0.7 (Shoes), 0.6 (Socks), 0.3 below the floor.
    check = judge_retrieval("trail shoes", [0.9, 0.7, 0.6, 0.3], ["a", "b", "c", "d"],
                            ["Shoes", "Shoes", "Socks", "Shoes"], VCFG)
    user = UserContext(category_weights={"Shoes": 1.0, "Socks": 0.5}, touched_queries=("boots", "trail shoes"),
                       remembered_queries=("socks",), centroid=np.array([0.6, 0.8], dtype="float32"))
    f = candidate_features("trail shoes", {CH_GENERATED: 2, CH_EBR: 7}, check, user, popularity=4,
                           query_vector=np.array([1.0, 0.0], dtype="float32"))
    assert list(f) == list(FEATURE_NAMES)
    assert f["rank_generated"] == 2.0 and f["rank_ebr"] == 7.0
    assert math.isnan(f["rank_x2q"]) and math.isnan(f["rank_popular"]), "a channel that did not propose: missing"
    assert f["n_channels"] == 2.0
    assert f["n_hits"] == 3.0 and f["best_similarity"] == 0.9
    assert f["mean_similarity"] == pytest.approx((0.9 + 0.7 + 0.6) / 3, abs=1e-4)
    # Shoes holds 2/3 of the hits at weight 1.0, Socks 1/3 at 0.5.
    assert f["consistency"] == pytest.approx(0.6667 * 1.0 + 0.3333 * 0.5, abs=1e-4)
    assert f["category_weight"] == 1.0
    assert f["profile_cosine"] == pytest.approx(0.6, abs=1e-6)
    assert f["popularity"] == pytest.approx(math.log1p(4))
    assert f["popularity_in_categories"] == pytest.approx(math.log1p(4) * 1.0)
    assert f["touched_recency"] == 2.0, "second most recent of the day's queries"
    assert math.isnan(f["remembered_recency"])
    assert f["query_tokens"] == 2.0


def test_features_without_a_centroid_or_a_known_category():
    check = judge_retrieval("mug", [0.9, 0.8], ["a", "b"], ["Mugs", "Mugs"], VCFG)
    user = UserContext(category_weights={"Shoes": 1.0}, touched_queries=(), remembered_queries=("mug",),
                       centroid=None)
    f = candidate_features("mug", {CH_POOL_GLOBAL: 1}, check, user, popularity=0, query_vector=None)
    assert math.isnan(f["profile_cosine"]) and f["category_weight"] == 0.0 and f["consistency"] == 0.0
    assert f["popularity"] == 0.0 and f["remembered_recency"] == 1.0
    gone = without_channel(f, CH_POOL_GLOBAL)
    assert math.isnan(gone["rank_popular_global"]) and gone["n_channels"] == 0.0
    assert without_channel(f, CH_EBR) == f, "a channel that did not propose changes nothing"


def test_merged_proposals_keep_every_channel_and_name_the_best_placed():
    merged = merge_proposals([
        Proposal(CH_EBR, "tent", 3, "channel:ebr"),
        Proposal(CH_X2Q, "tent", 3, "x2q:item:I1"),
        Proposal(CH_X2Q, "tent", 5, "x2q:item:I2"),
        Proposal(CH_GENERATED, "mug", 1, "generated"),
        Proposal(CH_POOL_GLOBAL, "mug", 1, "popular:global"),
    ])
    assert list(merged) == ["mug", "tent"]
    channels, source = merged["tent"]
    assert channels == {CH_X2Q: 3, CH_EBR: 3} and source == "x2q:item:I1", "a tie goes to the earlier channel"
    assert merged["mug"] == ({CH_GENERATED: 1, CH_POOL_GLOBAL: 1}, "generated")


def test_labels_are_graded_by_the_next_day():
    day = NextDay(queries=frozenset({"tent"}), categories=frozenset({"Shoes"}))
    assert label("Camping", "tent", day) == 2
    assert label("Shoes", "trail shoes", day) == 1
    assert label("Mugs", "mug", day) == 0 and label(None, "x", day) == 0


def _cand(query, category):
    check = judge_retrieval(query, [0.9, 0.8], ["a", "b"], [category, category], VCFG)
    return RankCandidate(query, {CH_GENERATED: 1}, "generated", check, {})


def test_diversity_penalizes_repeated_categories_and_keeps_scores_non_increasing():
    cands = [_cand("a shoe", "Shoes"), _cand("b shoe", "Shoes"), _cand("c shoe", "Shoes"), _cand("mug", "Mugs")]
    scores = [1.0, 0.9, 0.8, 0.85]  # scaled to the user's range: 1, 0.5, 0, 0.25
    assert [s.query for s in diversified(cands, scores, 4, 0.0)] == ["a shoe", "b shoe", "mug", "c shoe"]
    out = diversified(cands, scores, 3, 0.3)
    # After one shoe, the next shoe scores 0.5 - 0.3 = 0.2 < the mug's 0.25.
    assert [s.query for s in out] == ["a shoe", "mug", "b shoe"]
    assert [s.score for s in diversified(cands, [4.0, 2.0, 0.0, 1.0], 4, 0.0)] == [1.0, 0.5, 0.25, 0.0], \
        "the same order and scores whatever the ranker's scale"
    assert [s.rank for s in out] == [1, 2, 3]
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))


def test_ndcg():
    assert ndcg([0, 2, 1], [3.0, 2.0, 1.0]) == pytest.approx(
        (3 / math.log2(3) + 1 / math.log2(4)) / (3 + 1 / math.log2(3)))
    assert ndcg([0, 0], [1.0, 0.0]) == 0.0


def _planted_groups(n_users=120, seed=3):
    """Candidates whose label follows `touched_recency` (typed yesterday → typed again),
    with channel ranks that say nothing: a ranker must find the signal."""
    rng = np.random.default_rng(seed)
    groups = []
    for u in range(n_users):
        feats, labels = [], []
        for c in range(12):
            f = {n: float("nan") for n in FEATURE_NAMES}
            typed = c < 2
            f.update(rank_ebr=float(rng.integers(1, 30)), n_channels=1.0, n_hits=5.0, best_similarity=0.8,
                     mean_similarity=0.7, consistency=float(rng.random()), category_weight=0.5,
                     profile_cosine=float(rng.random()), popularity=1.0, popularity_in_categories=0.5,
                     touched_recency=float(c + 1) if typed else float("nan"), query_tokens=2.0)
            feats.append(f)
            labels.append(2 if typed and rng.random() < 0.8 else int(rng.random() < 0.05))
        groups.append(Group(f"U{u:04d}", feats, labels))
    return groups


def test_training_is_deterministic_and_learns_a_planted_signal():
    cfg = RankerConfig(rounds=30, min_data_in_leaf=5)
    groups = _planted_groups()
    first, again = train(groups, cfg), train(list(reversed(groups)), cfg)
    assert first.model_text == again.model_text, "same rows, any order: the same model file"
    ndcg_ = first.report["validation_ndcg_at_10"]
    assert ndcg_["ranker"] > ndcg_["best_channel_rank"] + 0.2
    top = next(iter(first.report["importance"]))
    assert top == "touched_recency"
    assert first.report["groups"]["validation"] > 0 and first.report["rows"]["train"] > 0


def test_the_validation_users_are_chosen_by_id_alone():
    groups = _planted_groups(50)
    held = {g.user_id for g in split(groups, 0.2)[1]}
    assert held == {g.user_id for g in split(list(reversed(groups)), 0.2)[1]}
    assert 0 < len(held) < 50


def test_nothing_to_learn_without_a_positive_label():
    groups = [Group("U1", [{n: 0.0 for n in FEATURE_NAMES}], [0])]
    with pytest.raises(ValueError, match="nothing to learn"):
        train(groups, RankerConfig())


def test_a_ranker_of_other_features_or_a_damaged_file_is_refused():
    model = train(_planted_groups(40), RankerConfig(rounds=5, min_data_in_leaf=5)).model_text
    Ranker(model, FEATURE_NAMES)
    with pytest.raises(RankerUnusable, match="trained on features"):
        Ranker(model, FEATURE_NAMES[:-1])
    with pytest.raises(RankerUnusable, match="cannot be read"):
        Ranker("tree\nnot a model", FEATURE_NAMES)


def _row(user, query, channels, source, category="Shoes", hand=None, n_features=None):
    """A candidates row as the night writes it; `n_features`: one of an older feature set."""
    from pipelines.core.ranker import candidate_record
    from pipelines.core.records import Suggestion

    check = judge_retrieval(query, [0.9, 0.8], ["a", "b"], [category, category], VCFG)
    feats = {n: float(i) for i, n in enumerate(FEATURE_NAMES)}
    for ch_, rank in channels.items():
        feats[f"rank_{ch_.replace(':', '_')}"] = float(rank)
    c = RankCandidate(query, channels, source, check, feats)
    entry = None if hand is None else Suggestion(query, 1.0, hand[0], category, hand[1])
    row = candidate_record(user, c, entry, None, None).to_row()
    row["features"] = row["features"][:n_features]
    return row


def test_candidate_rows_round_trip_through_parquet_with_missing_values():
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.core.ranker import candidate_from_row
    from schemas import CANDIDATES_SCHEMA

    row = _row("U1", "tent", {CH_EBR: 2}, "channel:ebr", hand=(1, "popular:global"))
    row["features"] = [(n, float("nan") if n == "rank_x2q" else v) for n, v in row["features"]]
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([row], schema=CANDIDATES_SCHEMA), sink)
    (back,) = pq.read_table(pa.BufferReader(sink.getvalue())).to_pylist()
    c = candidate_from_row(back)
    assert c.query == "tent" and c.channels == {CH_EBR: 2} and c.check.category == "Shoes"
    assert list(c.features) == list(FEATURE_NAMES) and math.isnan(c.features["rank_x2q"])
    assert back["hand_rank"] == 1 and back["hand_source"] == "popular:global"


def test_rows_of_another_feature_set_are_refused_not_misread():
    from pipelines.core.ranker import FeaturesDiffer, candidate_from_row

    with pytest.raises(FeaturesDiffer):
        candidate_from_row(_row("U1", "tent", {}, "generated", n_features=len(FEATURE_NAMES) - 1))


def test_the_hand_weighted_list_and_the_list_without_a_channel_are_rebuilt_from_the_rows():
    from pipelines.core.ranker import hand_weighted_lists, reranked_lists

    rows = [_row("U1", "tent", {CH_GENERATED: 1}, "generated", hand=(2, "generated")),
            _row("U1", "mug", {CH_GENERATED: 2, CH_EBR: 1}, "channel:ebr", "Mugs", hand=(1, "popular:global")),
            _row("U1", "sock", {CH_X2Q: 3}, "x2q:item:I9", "Socks"),
            _row("U2", "hat", {CH_EBR: 1}, "channel:ebr", "Hats")]
    hand = hand_weighted_lists(rows)
    assert [(s.query, s.rank, s.source) for s in hand["U1"]] == [("mug", 1, "popular:global"),
                                                                  ("tent", 2, "generated")]
    assert hand["U2"] == []

    class ByQuery:  # a stand-in ranker: alphabetical order
        def score(self, feats):
            return [-i for i in range(len(feats))]

    ablated = reranked_lists(rows, ByQuery(), 10, 0.0, without=CH_GENERATED)
    assert [(s.query, s.source) for s in ablated["U1"]] == [("mug", "channel:ebr"), ("sock", "x2q:item:I9")], \
        "a candidate only the generated channel proposed is gone; the others keep a source they still have"


def test_diversity_is_chosen_on_validation_users_for_hits_and_first_query_rank():
    from pipelines.core.ranker import choose_diversity, list_utility

    assert list_utility([0, 2, 1], [1, 0, 2]) == 1.0 + 1.0
    assert list_utility([0, 0, 1], [0, 1, 2], k=2) == 0.0

    class ByPosition:
        def score(self, feats):
            return [-i for i in range(len(feats))]

    # Eleven shoes outscore the hat the user buys next: only a diversity weight reaches it.
    groups = [Group(f"U{u}", [{}] * 12, [0] * 11 + [1], ["Shoes"] * 11 + ["Hats"]) for u in range(3)]
    weight, tried = choose_diversity(groups, ByPosition(), 0.15)
    assert weight > 0 and tried["0.0"] == 0.0 and tried[str(weight)] == 1.0
    assert choose_diversity([], ByPosition(), 0.15) == (0.15, {})


def test_training_without_validation_users_still_trains():
    cfg = RankerConfig(rounds=5, min_data_in_leaf=5, validation_share=0.0)
    trained = train(_planted_groups(30), cfg)
    assert trained.report["groups"]["validation"] == 0
    assert trained.report["validation_ndcg_at_10"]["ranker"] is None
    assert trained.report["diversity"]["chosen"] == cfg.diversity
