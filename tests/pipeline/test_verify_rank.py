"""Verification with the real embedder and faiss on a hand-made catalog, then rank & fill."""
import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.config import HintQConfig
from pipelines.core.records import Candidate, Item, Profile, UserCandidates
from pipelines.ranking import BuildFallbackPool, RankAndFill
from pipelines.verification import BuildCatalogIndex, VerifyQueries

CFG = HintQConfig()
TITLES = {
    "I1": ("Nordia Waterproof Trail Running Shoes", "Running Shoes"),
    "I2": ("Stridex Lightweight Running Shoes", "Running Shoes"),
    "I3": ("Velora Breathable Road Running Shoes", "Running Shoes"),
    "I4": ("Brevo Ceramic Coffee Mug", "Coffee Mugs"),
    "I5": ("Vesta Glass Travel Coffee Mug", "Coffee Mugs"),
    "I6": ("", "Coffee Mugs"),  # no title: kept for ids, never indexed
}


def items():
    return [Item(i, t, f"X > {leaf}", leaf, "", None, "c", n) for n, (i, (t, leaf)) in enumerate(TITLES.items())]


def test_verify_passes_real_queries_and_fails_nonsense(tmp_path, embedder_spec):
    with TestPipeline() as p:
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path))
        verified = (p | "Q" >> beam.Create(["running shoes", "coffee mug", "running shoes", "xqzt vbnm"])
                    | VerifyQueries(embedder_spec, CFG.verify, index))
        assert_that(verified | beam.Map(lambda v: (v.query, v.passed, v.category, set(v.evidence) <= set(TITLES))),
                    equal_to([("running shoes", True, "Running Shoes", True),
                              ("coffee mug", True, "Coffee Mugs", True),
                              ("xqzt vbnm", False, None, True)]))
    import json

    meta = json.loads((tmp_path / "catalog_items.json").read_text())
    assert meta["item_ids"] == ["I1", "I2", "I3", "I4", "I5"]


def test_rank_and_fill_joins_queries_back_to_every_user(tmp_path, embedder_spec):
    profile = Profile("U1", (("Running Shoes", 1.0),), (), (), (), (), 1, 1)
    users = [UserCandidates("U1", profile, 10, 2, (Candidate("running shoes", 1), Candidate("xqzt vbnm", 2))),
             UserCandidates("U2", Profile("U2", (), (), (), (), (), 1, 1), 10, 0, ())]
    with TestPipeline() as p:
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path))
        queries = p | "Q" >> beam.Create(["running shoes", "xqzt vbnm", "coffee mug"])
        verified = queries | VerifyQueries(embedder_spec, CFG.verify, index)
        popular = p | "Pop" >> beam.Create([[("coffee mug", 4), ("running shoes", 2)]])
        pool = (popular, verified) | BuildFallbackPool(k=30)
        rows = (p | "U" >> beam.Create(users), verified, pool) | RankAndFill(CFG.rank, CFG.verify, 10)
        assert_that(rows | beam.Map(lambda r: (r["user_id"], [(q["query"], q["source"]) for q in r["queries"]],
                                               r["n_verified"])),
                    equal_to([("U1", [("running shoes", "generated"), ("coffee mug", "popular:global")], 1),
                              ("U2", [("coffee mug", "popular:global"), ("running shoes", "popular:global")], 0)]))
