from pipelines.core.config import RankConfig, VerifyConfig
from pipelines.core.ranking import (SOURCE_GENERATED, SOURCE_POPULAR_CATEGORY, SOURCE_POPULAR_GLOBAL,
                                    build_fallback_pool, rank_and_fill)
from pipelines.core.records import Candidate, Profile, UserCandidates
from pipelines.core.verify import judge_retrieval

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


def test_rank_and_fill_orders_fills_and_bounds():
    verified = {"trail shoes": _v("trail shoes", "Shoes"), "mug": _v("mug", "Mugs", 0.6),
                "junk": _v("junk", "Shoes", passed=False)}
    popular = [("running shoes", 9), ("coffee mug", 5), ("tent", 7), ("trail shoes", 3), ("junk", 99)]
    pop_verified = {"running shoes": _v("running shoes", "Shoes"), "coffee mug": _v("coffee mug", "Mugs"),
                    "tent": _v("tent", "Tents"), "trail shoes": verified["trail shoes"],
                    "junk": verified["junk"]}
    pool = build_fallback_pool(popular, pop_verified)
    assert [p.query for p in pool.overall] == ["running shoes", "tent", "coffee mug", "trail shoes"]

    out = rank_and_fill(_user(["junk", "mug", "trail shoes"]), verified, pool, RankConfig(k=5), VCFG, 10)
    assert [(s.query, s.source) for s in out] == [
        ("trail shoes", SOURCE_GENERATED), ("mug", SOURCE_GENERATED),
        ("running shoes", SOURCE_POPULAR_CATEGORY), ("coffee mug", SOURCE_POPULAR_CATEGORY),
        ("tent", SOURCE_POPULAR_GLOBAL)]
    assert [s.rank for s in out] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(out, out[1:]))
    assert all(s.evidence for s in out)
    short = rank_and_fill(_user([]), {}, pool, RankConfig(k=2), VCFG, 10)
    assert [s.query for s in short] == ["running shoes", "trail shoes"]


def test_empty_pool_and_no_candidates_give_an_empty_list():
    assert rank_and_fill(_user([]), {}, build_fallback_pool([], {}), RankConfig(), VCFG, 10) == []
