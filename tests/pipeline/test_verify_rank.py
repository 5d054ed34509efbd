"""Verification with the real embedder and faiss on a hand-made catalog, then rank & fill."""
import dataclasses

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core.config import HintQConfig
from pipelines.core.records import Candidate, Item, Profile, UserCandidates
from pipelines.engines.embedder import catalog_index, search_index
from collections import Counter

from pipelines.core.channels import ChannelModel
from pipelines.stages.rank import AttachTriggerFills, BuildFallbackPool, RankUsers
from pipelines.beam.progress import counter_sums
from pipelines.stages.verify import (INDEX_COUNTERS, BuildCatalogIndex, EmbedCatalog, IndexRows, VerifyQueries,
                                      WriteCatalogIndex)

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


def test_a_text_gets_the_same_row_alone_and_among_any_other_texts(embedder_spec):
    # The rows of one call, against the same texts embedded one per call and in another
    # order among texts of other lengths and more of their own: the same bytes. (Batched
    # as sentence-transformers batches them, most titles alone differ in the last bits.)
    titles = [t for t, _ in TITLES.values() if t]
    queries = ["trail running shoes", "coffee mug", "mug", "running shoes", "glass travel mug", "road shoes"]
    texts = titles + queries
    model = embedder_spec.acquire()
    together = embedder_spec.encode(model, texts)
    assert together.shape == (len(texts), 384) and np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    alone = np.concatenate([embedder_spec.encode(model, [t]) for t in texts])
    mixed = embedder_spec.encode(model, list(reversed(texts)) + [f"{t} extra words" for t in texts] + queries)
    assert together.tobytes() == alone.tobytes()
    assert together.tobytes() == mixed[:len(texts)][::-1].tobytes()


@pytest.mark.parametrize("exact_up_to", [50_000, 0], ids=["exact", "hnsw"])
def test_a_query_gets_the_same_hits_alone_and_among_any_other_queries(exact_up_to):
    # 20,000 catalog rows, a fifth of them twice (items with the same title: exact ties),
    # and 150 queries near them (random, L2-normalized): each query's scores and hits,
    # searched alone and among the others in another order, the same bytes.
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(16_000, 384)).astype("float32")
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    rows = np.concatenate([rows, rows[:4000]])
    index = catalog_index(rows, dataclasses.replace(CFG.verify, exact_index_max_items=exact_up_to))
    queries = rows[:150] + rng.normal(0, 0.3, size=(150, 384)).astype("float32")
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, hits = search_index(index, queries, 10)
    order = rng.permutation(len(queries))
    again_scores, again_hits = search_index(index, queries[order], 10)
    assert scores[order].tobytes() == again_scores.tobytes() and (hits[order] == again_hits).all()
    for i in range(0, len(queries), 7):
        alone_scores, alone_hits = search_index(index, queries[i:i + 1], 10)
        assert alone_scores.tobytes() == scores[i:i + 1].tobytes() and (alone_hits == hits[i:i + 1]).all()


def test_verify_passes_real_queries_and_fails_nonsense(tmp_path, embedder_spec):
    with TestPipeline() as p:
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path), CFG.verify)
        verified = (p | "Q" >> beam.Create(["running shoes", "coffee mug", "running shoes", "xqzt vbnm"])
                    | VerifyQueries(embedder_spec, CFG.verify, index))
        assert_that(verified | beam.Map(lambda v: (v.query, v.passed, v.category, set(v.evidence) <= set(TITLES))),
                    equal_to([("running shoes", True, "Running Shoes", True),
                              ("coffee mug", True, "Coffee Mugs", True),
                              ("xqzt vbnm", False, None, True)]))
        # Each check carries its query's row, which ranking reuses instead of embedding again.
        assert_that(verified | beam.Map(lambda v: (v.query, bool(np.allclose(
            v.embedding(), embedder_spec.encode(embedder_spec.acquire(), [v.query])[0], atol=1e-5)))),
                    equal_to([("running shoes", True), ("coffee mug", True), ("xqzt vbnm", True)]), label="rows")
    import json

    meta = json.loads((tmp_path / "catalog_items.json").read_text())
    assert meta["item_ids"] == ["I1", "I2", "I3", "I4", "I5"]


@pytest.mark.parametrize("exact_up_to", [50_000, 0], ids=["exact", "hnsw"])
def test_an_index_carrying_an_earlier_nights_rows_is_the_one_built_from_nothing(tmp_path, embedder_spec,
                                                                               exact_up_to):
    verify = dataclasses.replace(CFG.verify, exact_index_max_items=exact_up_to)
    today = items()
    # Yesterday's catalog: I2 had another title (today's is new to the index, as a new
    # item's would be: embedded, alone in its call, which moved rows before encode's passes).
    yesterday = [dataclasses.replace(i, title="Stridex Canvas Sneakers") if i.item_id == "I2" else i
                 for i in today]

    def build(catalog, out, earlier=None):
        p = TestPipeline()
        p | beam.Create(catalog) | BuildCatalogIndex(embedder_spec, str(tmp_path / out), verify, earlier)
        result = p.run()
        result.wait_until_finish()
        return counter_sums(INDEX_COUNTERS, result)

    assert build(yesterday, "yesterday") == {"titles_carried": 0, "titles_embedded": 5}
    carried = build(today, "carried", str(tmp_path / "yesterday" / "catalog.faiss"))
    assert build(today, "fresh") == {"titles_carried": 0, "titles_embedded": 5}
    # I1, I3, I4, I5 carried; I2 embedded; I6 has no title
    assert carried == {"titles_carried": 4, "titles_embedded": 1}
    for name in ("catalog.faiss", "catalog_items.json"):
        assert (tmp_path / "carried" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


@pytest.mark.parametrize("exact_up_to", [50_000, 0], ids=["exact", "hnsw"])
def test_a_stored_index_gives_back_the_rows_it_was_built_from(tmp_path, embedder_spec, exact_up_to):
    built = tmp_path / "built"
    with TestPipeline() as p:
        vectors = p | "Items" >> beam.Create(items()) | EmbedCatalog(embedder_spec)
        vectors | WriteCatalogIndex(str(built), dataclasses.replace(CFG.verify, exact_index_max_items=exact_up_to))
        vectors | "Rows" >> beam.Map(lambda v: (v.item_id, v.leaf, v.title, v.vector.tobytes())) \
            | "WriteRows" >> beam.io.WriteToText(str(tmp_path / "embedded"), shard_name_template="")
    with TestPipeline() as p:
        index = p | "Index" >> beam.Create([str(built / "catalog.faiss")])
        # Only the items asked for; an id the index does not hold (no title, or unknown) gives nothing.
        asked = p | "Asked" >> beam.Create(["I1", "I2", "I3", "I4", "I5", "I6", "I404", "I3"])
        asked | IndexRows(index) | "Rows" >> beam.Map(lambda v: (v.item_id, v.leaf, v.title, v.vector.tobytes())) \
            | "WriteRows" >> beam.io.WriteToText(str(tmp_path / "stored"), shard_name_template="")
        few = p | "Few" >> beam.Create(["I4"]) | "FewRows" >> IndexRows(index)
        assert_that(few | beam.Map(lambda v: v.item_id), equal_to(["I4"]), label="few")
    embedded = sorted((tmp_path / "embedded").read_text().splitlines())
    stored = sorted((tmp_path / "stored").read_text().splitlines())
    assert len(embedded) == 5 and stored == sorted(embedded + [r for r in embedded if r.startswith("('I3'")])


def _ranked_rows(p, users, verified, pool, index, embedder_spec):
    """u2q's stage 8 without history (no events, an empty channel model) and no ranker:
    the hand-weighted lists."""
    no_history = ChannelModel(counts=Counter(), popular=[], by_leaf={}, cooccurrence={}, vocabulary=[])
    return (users, p | "NoEvents" >> beam.Create([]), verified, pool,
            p | "NoHistory" >> beam.Create([no_history]),
            index) | RankUsers(CFG, "2026-11-01", frozenset(), embedder_spec, None)


def test_rank_and_fill_joins_queries_back_to_every_user(tmp_path, embedder_spec):
    profile = Profile("U1", (("Running Shoes", 1.0),), (), (), (), (), 1, 1)
    users = [UserCandidates("U1", profile, 10, 2, (Candidate("running shoes", 1), Candidate("xqzt vbnm", 2))),
             UserCandidates("U2", Profile("U2", (), (), (), (), (), 1, 1), 10, 0, ())]
    with TestPipeline() as p:
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path), CFG.verify)
        queries = p | "Q" >> beam.Create(["running shoes", "xqzt vbnm", "coffee mug"])
        verified = queries | VerifyQueries(embedder_spec, CFG.verify, index)
        popular = p | "Pop" >> beam.Create([[("coffee mug", 4), ("running shoes", 2)]])
        pool = (popular, verified) | BuildFallbackPool(k=30)
        rows = _ranked_rows(p, p | "U" >> beam.Create(users), verified, pool, index, embedder_spec)["rows"]
        assert_that(rows | beam.Map(lambda r: (r["user_id"], [(q["query"], q["source"]) for q in r["queries"]],
                                               r["n_verified"])),
                    equal_to([("U1", [("running shoes", "generated"), ("coffee mug", "popular:global")], 1),
                              ("U2", [("coffee mug", "popular:global"), ("running shoes", "popular:global")], 0)]))


def _entry(query, source):
    return {"query": query, "score": 1.0, "rank": 1, "category": None, "source": source, "evidence": ["I1"]}


def test_short_u2q_lists_fill_first_from_the_x2q_lists_of_recent_triggers(tmp_path, embedder_spec):
    profile = Profile("U1", (("Running Shoes", 1.0),), (), (), (), (), 2, 1,
                      recent_triggers=(("query", "mug"), ("item", "I1")))
    x2q_rows = [
        {"trigger_type": "item", "trigger_id": "I1", "queries": [
            _entry("trail running shoes", "generated"), _entry("running shoes", "popular:category")]},
        {"trigger_type": "query", "trigger_id": "mug", "queries": [
            _entry("travel coffee mug", "generated"), _entry("xqzt vbnm", "generated")]},
        {"trigger_type": "item", "trigger_id": "I9", "queries": [_entry("ceramic coffee mug", "generated")]},
    ]
    with TestPipeline() as p:
        users = (p | "U" >> beam.Create([UserCandidates("U1", profile, 10, 0, ())]),
                 p | "X" >> beam.Create(x2q_rows)) | AttachTriggerFills(CFG.rank)
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path), CFG.verify)
        queries = users | beam.FlatMap(lambda u: [q for q, _ in u.trigger_fills] + ["running shoes"])
        verified = queries | VerifyQueries(embedder_spec, CFG.verify, index)
        pool = (p | "Pop" >> beam.Create([[("running shoes", 2)]]), verified) | BuildFallbackPool(k=30)
        rows = _ranked_rows(p, users, verified, pool, index, embedder_spec)["rows"]
        # Most recent trigger first; only the x2q lists' generated entries; the nonsense one
        # fails verification; then popular queries of the user's categories.
        assert_that(rows | beam.Map(lambda r: [(q["query"], q["source"]) for q in r["queries"]]), equal_to([[
            ("travel coffee mug", "x2q:query:mug"), ("trail running shoes", "x2q:item:I1"),
            ("running shoes", "popular:category")]]))


def test_x2q_rows_for_every_trigger_and_self_only_queries_set_aside(tmp_path, embedder_spec):
    import dataclasses

    from pipelines.core.records import Trigger, TriggerCandidates
    from pipelines.stages.rank import RankTriggers

    # One hit is enough here, so "nordia waterproof trail" (only I1 above the floor, 0.77)
    # passes verification and is then set aside as retrieving nothing but the trigger item.
    verify = dataclasses.replace(CFG.verify, min_hits=1)

    shoe = Trigger("item", "I1", "Nordia Waterproof Trail Running Shoes", ("Running Shoes",), (),
                   (("Running Shoes", 1.0),), 3, "popular")
    mugs = Trigger("category", "X > Coffee Mugs", "X > Coffee Mugs", (), (), (("Coffee Mugs", 1.0),), 2, "popular")
    blank = Trigger("item", "I6", "", ("Coffee Mugs",), (), (("Coffee Mugs", 1.0),), 0, "cold")
    answers = [TriggerCandidates(shoe, "They run.", 40, 3, (
        Candidate("nordia waterproof trail", 1), Candidate("running shoes", 2), Candidate("xqzt vbnm", 3)))]
    with TestPipeline() as p:
        index = p | "Items" >> beam.Create(items()) | BuildCatalogIndex(embedder_spec, str(tmp_path), CFG.verify)
        verified = (p | "Q" >> beam.Create(["nordia waterproof trail", "running shoes", "xqzt vbnm", "coffee mug"])
                    | VerifyQueries(embedder_spec, verify, index))
        pool = (p | "Pop" >> beam.Create([[("coffee mug", 3), ("running shoes", 2)]]), verified) \
            | BuildFallbackPool(k=10)
        out = (p | "T" >> beam.Create([shoe, mugs, blank]), p | "A" >> beam.Create(answers), verified, pool) \
            | RankTriggers(CFG.rank, verify, CFG.x2q)
        assert_that(out.rows | beam.Map(lambda r: (r["trigger_id"], r["reasoning"],
                                                   [(q["query"], q["source"]) for q in r["queries"]])),
                    equal_to([("I1", "They run.", [("running shoes", "generated")]),
                              ("X > Coffee Mugs", None, [("coffee mug", "popular:category")]),
                              ("I6", None, [("coffee mug", "popular:category")])]), label="rows")
        assert_that(out.discards | beam.Map(lambda d: (d.reason, d.text)),
                    equal_to([("only_retrieves_trigger_item", "nordia waterproof trail")]), label="discards")
