from pipelines.core.config import RankConfig, VerifyConfig
import dataclasses

from pipelines.core.ranking import (SOURCE_GENERATED, SOURCE_POPULAR_CATEGORY, SOURCE_POPULAR_GLOBAL,
                                    build_fallback_pool, is_known_source, rank_trigger, rank_user)
from pipelines.core.records import Candidate, Profile, Trigger, TriggerCandidates, UserCandidates
from pipelines.core.verify import judge_retrieval, retrieves_beyond

VCFG = VerifyConfig(similarity_floor=0.5, min_hits=2)


def test_judge_retrieval():
    v = judge_retrieval("q", [0.9, 0.8, 0.7, 0.4], ["a", "b", "c", "d"], ["Shoes", "Socks", "Socks", "Shoes"], VCFG)
    assert v.passed and v.reason == "ok" and v.category == "Socks"  # 2 of 3 hits above the floor
    assert v.evidence == ("a", "b", "c") and v.support == 0.8
    assert dict(v.hit_categories) == {"Socks": 0.6667, "Shoes": 0.3333}
    one = judge_retrieval("q", [0.9, 0.3], ["a", "b"], ["S", "S"], VCFG)
    assert not one.passed and one.reason == "too_few_hits"
    none = judge_retrieval("q", [0.2, 0.1], ["a", "b"], ["S", "S"], VCFG)
    assert not none.passed and none.reason == "no_hits_above_floor" and none.evidence == ()
    tie = judge_retrieval("q", [0.9, 0.6], ["a", "b"], ["B", "A"], VCFG)
    assert tie.category == "B", "equal counts: the higher summed similarity wins"


def _v(q, cat, support=0.8, passed=True):
    return judge_retrieval(q, [support, support] if passed else [0.1], ["i1", "i2"] if passed else ["i1"],
                           [cat, cat] if passed else [cat], VCFG)


def _user(queries, cats=(("Shoes", 2.0), ("Mugs", 1.0))):
    profile = Profile("U1", cats, (), (), (), (), 3, 1)
    return UserCandidates("U1", profile, 100, len(queries),
                          tuple(Candidate(q, i + 1) for i, q in enumerate(queries)))


def test_rank_user_orders_fills_and_bounds():
    verified = {"trail shoes": _v("trail shoes", "Shoes"), "mug": _v("mug", "Mugs", 0.6),
                "junk": _v("junk", "Shoes", passed=False)}
    popular = [("running shoes", 9), ("coffee mug", 5), ("tent", 7), ("trail shoes", 3), ("junk", 99)]
    pop_verified = {"running shoes": _v("running shoes", "Shoes"), "coffee mug": _v("coffee mug", "Mugs"),
                    "tent": _v("tent", "Tents"), "trail shoes": verified["trail shoes"],
                    "junk": verified["junk"]}
    pool = build_fallback_pool(popular, pop_verified)
    assert [p.query for p in pool.overall] == ["running shoes", "tent", "coffee mug", "trail shoes"]

    out = rank_user(_user(["junk", "mug", "trail shoes"]), verified, pool, RankConfig(k=5), VCFG, 10)
    assert [(s.query, s.source) for s in out] == [
        ("trail shoes", SOURCE_GENERATED), ("mug", SOURCE_GENERATED),
        ("running shoes", SOURCE_POPULAR_CATEGORY), ("coffee mug", SOURCE_POPULAR_CATEGORY),
        ("tent", SOURCE_POPULAR_GLOBAL)]
    assert [s.rank for s in out] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    assert all(s.evidence for s in out)
    short = rank_user(_user([]), {}, pool, RankConfig(k=2), VCFG, 10)
    assert [s.query for s in short] == ["running shoes", "trail shoes"]


def test_empty_pool_and_no_candidates_give_an_empty_list():
    assert rank_user(_user([]), {}, build_fallback_pool([], {}), RankConfig(), VCFG, 10) == []


def _pool():
    popular = [("running shoes", 9), ("coffee mug", 5), ("tent", 7)]
    checks = {q: _v(q, c) for q, c in (("running shoes", "Shoes"), ("coffee mug", "Mugs"), ("tent", "Tents"))}
    return build_fallback_pool(popular, checks)


def test_x2q_fills_come_before_popular_and_keep_their_source():
    user = dataclasses.replace(_user(["trail shoes"]), trigger_fills=(
        ("hiking socks", "x2q:item:I7"), ("trail shoes", "x2q:item:I7"), ("bad fill", "x2q:query:tent"),
        ("tent stakes", "x2q:query:tent")))
    verified = {"trail shoes": _v("trail shoes", "Shoes"), "hiking socks": _v("hiking socks", "Shoes"),
                "bad fill": _v("bad fill", "Shoes", passed=False), "tent stakes": _v("tent stakes", "Tents")}
    out = rank_user(user, verified, _pool(), RankConfig(k=5), VCFG, 10)
    assert [(s.query, s.source) for s in out] == [
        ("trail shoes", SOURCE_GENERATED), ("hiking socks", "x2q:item:I7"), ("tent stakes", "x2q:query:tent"),
        ("running shoes", SOURCE_POPULAR_CATEGORY), ("coffee mug", SOURCE_POPULAR_CATEGORY)]
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    assert all(is_known_source(s.source) for s in out)
    assert not is_known_source("x2q:") and not is_known_source("made-up")


def _trigger(trigger_type="item", trigger_id="I1", text="Nordia Trail Shoe", leaf="Shoes"):
    return Trigger(trigger_type, trigger_id, text, (leaf,), (), ((leaf, 1.0),), 3, "popular")


def test_rank_trigger_fills_only_from_its_own_category_and_never_echoes_itself():
    trigger = _trigger("query", "running shoes", "running shoes")
    tc = TriggerCandidates(trigger, "they run", 50, 2, (Candidate("trail shoes", 1),))
    out = rank_trigger(tc, {"trail shoes": _v("trail shoes", "Shoes")}, _pool(), RankConfig(), VCFG, k=10,
                       max_queries=8)
    # "running shoes" is popular in Shoes but it is the trigger itself; Mugs/Tents are unrelated.
    assert [(s.query, s.source) for s in out] == [("trail shoes", SOURCE_GENERATED)]
    empty = TriggerCandidates(_trigger(leaf="Tents"), None, 0, 0, ())
    assert [(s.query, s.source) for s in rank_trigger(empty, {}, _pool(), RankConfig(), VCFG, 10, 8)] == [
        ("tent", SOURCE_POPULAR_CATEGORY)]


def test_a_query_that_retrieves_only_the_trigger_item_is_not_related():
    only_self = judge_retrieval("nordia trail shoe", [0.9, 0.55, 0.3], ["I1", "I2", "I3"], ["S", "S", "S"],
                                VerifyConfig(similarity_floor=0.5, min_hits=2))
    assert only_self.passed and only_self.n_hits == 2
    assert not retrieves_beyond(only_self, "I1", min_hits=2)
    assert retrieves_beyond(only_self, "I9", min_hits=2)


def test_the_catalog_index_is_exact_up_to_its_limit_then_a_deterministic_hnsw_close_to_exact():
    import dataclasses

    import faiss
    import numpy as np

    from pipelines.core.config import VerifyConfig
    from pipelines.engines.embedder import catalog_index

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 32)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:200] + 0.3 * rng.normal(size=(200, 32)).astype("float32")
    exact = catalog_index(vectors, VerifyConfig())
    assert isinstance(exact, faiss.IndexFlatIP)
    cfg = dataclasses.replace(VerifyConfig(), exact_index_max_items=1000)
    first, second = catalog_index(vectors, cfg), catalog_index(vectors, cfg)
    assert isinstance(first, faiss.IndexHNSWFlat) and first.hnsw.efSearch == cfg.hnsw_ef_search
    assert bytes(faiss.serialize_index(first)) == bytes(faiss.serialize_index(second)), "same catalog, same graph"
    _, truth = exact.search(queries, 10)
    _, found = first.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.9, recall


def test_text_vectors_embed_only_the_texts_without_a_known_row():
    import numpy as np

    from pipelines.engines.embedder import TextVectors

    class CountingSpec:
        calls: list = []

        def encode(self, model, texts):
            self.calls.append(list(texts))
            return np.stack([np.full(384, len(t), dtype="float32") for t in texts])

    spec = CountingSpec()
    vectors = TextVectors(spec, model=None, remember=False)
    known = {"running shoes": np.ones(384, dtype="float32")}
    rows = vectors(["running shoes", "mug", "running shoes"], known=known)
    assert spec.calls == [["mug"]]
    assert (rows[0] == 1).all() and (rows[2] == 1).all() and (rows[1] == 3).all()
    vectors(["running shoes"], known=known)
    assert spec.calls == [["mug"]]  # every row known: nothing embedded
