"""The history channels' counts, gathered per user and day by Beam, equal the counts of
the one-process path that the evaluation and the ranker's benchmarks use."""
import dataclasses
import datetime as dt
from collections import Counter

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipelines.core import baselines as bl
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.core.records import EnrichedEvent, Event, Item, VerifiedQuery
from pipelines.stages.channels import BuildChannelModel, CountDays, CountHistory, ReadHistory, WriteDayCounts
from tests.conftest import TINY_DAY
from warehouse.inputs import history_days, read_input_day

DAY2 = (dt.date.fromisoformat(TINY_DAY) + dt.timedelta(days=1)).isoformat()


def one_process_counts(days, cfg, size):
    history = ch.build_history(days, QueryCleaner(cfg.normalize, frozenset()), cfg)
    counts, vocabulary = ch.vocabulary_of(history, size)
    known = set(vocabulary)
    pairs = sorted((a, q, n) for a, c in bl.cooccurrence_counts(history.sessions).items()
                   for q, n in c.items() if q in known)
    return (dict(counts), vocabulary), pairs, history.titles_as_queries


def beam_counts(p, history, cfg):
    """(day, (user_id, events)) of the window → the window's counts."""
    return window_counts(history | CountDays(cfg, frozenset()), cfg)


def window_counts(days, cfg):
    counted = days | CountHistory(cfg)
    return (counted["vocabulary"] | "Plain" >> beam.Map(lambda v: (dict(v[0]), v[1])),
            counted["cooccurrence"], counted["titles_as_queries"])


def test_history_counted_in_parallel_equals_one_process(tiny_world):
    # A small vocabulary, so its cut (ties broken by text) is part of what is compared.
    cfg = dataclasses.replace(HintQConfig(), ranker=dataclasses.replace(HintQConfig().ranker, vocabulary=15))
    days = [d for d in (read_input_day(tiny_world, d, cfg) for d in history_days(DAY2, cfg.evaluate.history_days))
            if d is not None]
    assert [d.day for d in days] == [TINY_DAY, DAY2]
    vocabulary, pairs, titles = one_process_counts([(d.day, d.users) for d in days], cfg, 15)
    assert len(vocabulary[1]) == 15 and pairs and titles is False
    with TestPipeline() as p:
        today = p | "Today" >> beam.Create(sorted(days[1].users.items()))
        window = (today | ReadHistory(str(tiny_world), DAY2, cfg, frozenset()))["window"]
        got_vocabulary, got_pairs, got_titles = window_counts(window, cfg)
        assert_that(got_vocabulary, equal_to([vocabulary]), label="vocabulary")
        assert_that(got_pairs, equal_to(pairs), label="cooccurrence")
        assert_that(got_titles, equal_to([False]), label="titles_as_queries")


def test_titles_stand_in_for_queries_when_no_day_has_a_search():
    cfg = HintQConfig()
    t0 = int(dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc).timestamp() * 1e6)
    items = {i: Item(i, f"Nordia Trail Shoes {i}", "Sports > Running > Shoes", "Shoes", "Nordia", 10.0, "c", n)
             for n, i in enumerate(("A", "B", "C"))}

    def ev(user, minute, item, kind="click"):
        return EnrichedEvent(Event(user, t0 + minute * 60_000_000, kind, item, None, "e", minute, ""), items[item])

    users = {"U1": [ev("U1", 0, "A"), ev("U1", 1, "B"), ev("U1", 2, "C", "view")],
             "U2": [ev("U2", 0, "A"), ev("U2", 3, "B", "cart")]}
    vocabulary, pairs, titles = one_process_counts([("2026-11-01", users)], cfg, 20)
    assert titles is True and vocabulary[1] and pairs
    with TestPipeline() as p:
        history = p | beam.Create([("2026-11-01", kv) for kv in sorted(users.items())])
        got_vocabulary, got_pairs, got_titles = beam_counts(p, history, cfg)
        assert_that(got_vocabulary, equal_to([vocabulary]), label="vocabulary")
        assert_that(got_pairs, equal_to(pairs), label="cooccurrence")
        assert_that(got_titles, equal_to([True]), label="titles_as_queries")


def test_a_day_read_from_the_counts_its_night_kept_counts_as_its_events_do(tiny_world, tmp_path):
    cfg = dataclasses.replace(HintQConfig(), ranker=dataclasses.replace(HintQConfig().ranker, vocabulary=15))
    days = [d for d in (read_input_day(tiny_world, d, cfg) for d in history_days(DAY2, cfg.evaluate.history_days))
            if d is not None]
    vocabulary, pairs, titles = one_process_counts([(d.day, d.users) for d in days], cfg, 15)
    kept = tmp_path / "kept"
    with TestPipeline() as p:  # the night of the first day keeps what it adds
        first = p | beam.Create([(TINY_DAY, kv) for kv in sorted(days[0].users.items())])
        first | CountDays(cfg, frozenset()) | WriteDayCounts(str(kept), cfg)
    assert sorted(f.name for f in kept.iterdir()) == ["day.json", "pairs-00000-of-00001.parquet",
                                                      "searched-00000-of-00001.parquet"]
    with TestPipeline() as p:
        today = p | "Today" >> beam.Create(sorted(days[1].users.items()))
        window = (today | ReadHistory(str(tiny_world), DAY2, cfg, frozenset(), stored={TINY_DAY: str(kept)}))["window"]
        got_vocabulary, got_pairs, got_titles = window_counts(window, cfg)
        assert_that(got_vocabulary, equal_to([vocabulary]), label="vocabulary")
        assert_that(got_pairs, equal_to(pairs), label="cooccurrence")
        assert_that(got_titles, equal_to([titles]), label="titles_as_queries")
        # the first day's events are not read again
        assert any(f"StoredCounts[{TINY_DAY}]" in label for label in p.applied_labels)
        assert not any(f"ReadDay[{TINY_DAY}]" in label for label in p.applied_labels)


def test_a_day_without_a_search_adds_nothing_to_a_window_with_one():
    """Each day is counted in its own mode (its searches, or titles where it has none); a
    window with a search uses only the days that have one, as the one process does."""
    cfg = HintQConfig()
    t0 = int(dt.datetime(2026, 11, 1, 12, tzinfo=dt.timezone.utc).timestamp() * 1e6)
    items = {i: Item(i, f"Nordia Trail Shoes {i}", "Sports > Running > Shoes", "Shoes", "Nordia", 10.0, "c", n)
             for n, i in enumerate(("A", "B"))}

    def ev(user, minute, item=None, kind="click", query=None):
        return EnrichedEvent(Event(user, t0 + minute * 60_000_000, kind, item, query, "e", minute, ""),
                             items[item] if item else None)

    no_search = {"U1": [ev("U1", 0, "A"), ev("U1", 1, "B")]}
    searched = {"U2": [ev("U2", 0, kind="search", query="trail shoes"), ev("U2", 1, "A"),
                       ev("U2", 2, kind="search", query="running shoes")]}
    days = [("2026-11-01", no_search), ("2026-11-02", searched)]
    vocabulary, pairs, titles = one_process_counts(days, cfg, 20)
    assert titles is False and vocabulary[1] and pairs
    alone = one_process_counts(days[:1], cfg, 20)
    assert alone[2] is True and alone[0][1]  # alone, the first day counts its titles
    with TestPipeline() as p:
        history = p | beam.Create([(day, kv) for day, users in days for kv in sorted(users.items())])
        got_vocabulary, got_pairs, got_titles = beam_counts(p, history, cfg)
        assert_that(got_vocabulary, equal_to([vocabulary]), label="vocabulary")
        assert_that(got_pairs, equal_to(pairs), label="cooccurrence")
        assert_that(got_titles, equal_to([False]), label="titles_as_queries")


def test_the_channel_model_takes_the_vocabularys_rows_from_verification_and_embeds_only_the_rest(embedder_spec):
    words = ["trail shoes", "running shoes", "coffee mug"]
    model = embedder_spec.acquire()
    rows = embedder_spec.encode(model, words)
    marker = np.full(rows.shape[1], 0.5, dtype="float32")  # not a row the embedder gives: proves it is used as is

    def check(q, vector):
        return VerifiedQuery(q, True, "ok", 0.9, "Shoes", (("Shoes", 1.0),), ("A",), 1, 0.9, vector=vector)

    checks = [check("trail shoes", rows[0].tobytes()), check("running shoes", marker.tobytes()),
              check("coffee mug", b"")]  # read back from a table: no row kept
    counted = {"vocabulary": None, "cooccurrence": None, "titles_as_queries": None}
    with TestPipeline() as p:
        counted["vocabulary"] = p | "Vocabulary" >> beam.Create([(Counter({w: 1 for w in words}), words)])
        counted["cooccurrence"] = p | "Pairs" >> beam.Create([])
        counted["titles_as_queries"] = p | "Titles" >> beam.Create([False])
        verified = p | "Checks" >> beam.Create(checks)
        built = (counted, verified) | BuildChannelModel(HintQConfig(), embedder_spec)
        assert_that(built | beam.Map(lambda m: m.vectors.tobytes()),
                    equal_to([np.stack([rows[0], marker, rows[2]]).tobytes()]))
