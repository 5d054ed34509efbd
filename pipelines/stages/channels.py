"""Stage 8's recall channels over the history: read days D-N+1..D, count what the baselines
count, and build one channel model of the night (pipelines/core/channels.py).

The history is counted per user and day and combined (popularity, the vocabulary, the
co-occurrence of vocabulary queries), so no step holds the history's users. A night keeps
what its day adds (warehouse/history_counts.py), and the nights after it read that instead
of the day's events: a night reads one day's events, not the window's.
"""
from __future__ import annotations

import json
import posixpath
from collections import Counter

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.beam.progress import stage_timer
from pipelines.core import baselines as bl
from pipelines.core import channels as ch
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.core.text import text_desc_key
from pipelines.engines.embedder import EmbedderSpec, TextVectors
from pipelines.stages.read_day import ReadDay, partition_row_counts
from pipelines.stages.write import WriteShardedParquet, write_json_file
from schemas.history_counts import HISTORY_PAIRS_SCHEMA, HISTORY_SEARCHED_SCHEMA
from warehouse.history_counts import DAY_FILE, PAIRS_PREFIX, SEARCHED_PREFIX
from warehouse.inputs import history_days


def past_days_present(input_root: str, dt: str, n: int) -> list[str]:
    """The days before D within the history window whose events and catalog both exist."""
    return [d for d in history_days(dt, n)[:-1]
            if partition_row_counts(input_root, "events", d) and partition_row_counts(input_root, "catalog", d)]


COUNT_KINDS = ("has_typed", "searched", "pairs")


class ReadHistory(beam.PTransform):
    """Today's (user_id, kept events) → {"window": what each day of D-N+1..D adds to the
    history's counts (CountDays' dict, every day's in one), "today": D's alone, for the
    night to keep}. The days before D that exist are read from their counts kept in the
    warehouse where `stored` names them (day → folder, warehouse/history_counts.py), else
    read and validated the way D is (ReadDay) and counted."""

    def __init__(self, input_root: str, dt: str, cfg: HintQConfig, blocklist: frozenset[str],
                 stored: dict[str, str] | None = None):
        super().__init__()
        self.input_root, self.dt, self.cfg, self.blocklist = input_root, dt, cfg, blocklist
        self.stored = stored or {}

    def expand(self, todays_users):
        p = todays_users.pipeline
        raw = [todays_users | "Today" >> beam.Map(lambda kv, d=self.dt: (d, kv))]
        parts = []
        for past in past_days_present(self.input_root, self.dt, self.cfg.evaluate.history_days):
            if past in self.stored:
                parts.append(p | f"StoredCounts[{past}]" >> ReadDayCounts(self.stored[past], past))
            else:
                users = (p | f"ReadDay[{past}]" >> ReadDay(self.input_root, past, self.cfg))["users"]
                raw.append(users | f"Tag[{past}]" >> beam.Map(lambda kv, d=past: (d, kv)))
        counted = (raw | "RawDays" >> beam.Flatten()
                   | "CountDays" >> CountDays(self.cfg, self.blocklist))
        parts.append(counted)
        days = {kind: [part[kind] for part in parts] | f"All[{kind}]" >> beam.Flatten() for kind in COUNT_KINDS}
        today = {kind: counted[kind] | f"Today[{kind}]" >> beam.Filter(lambda r, d=self.dt: r[0] == d)
                 for kind in COUNT_KINDS}
        return {"window": days, "today": today}


def _sessions(element, clean: QueryCleaner, cfg: HintQConfig, has_typed: dict):
    day, (user_id, events) = element
    with stage_timer("channels"):
        return day, user_id, ch.user_sessions(events, clean, cfg, not has_typed[day])


def _searched(user_day):
    """((day, query), 1) for each distinct query of a user's day: popularity counts (day, user) pairs."""
    day = user_day[0]
    return [((day, q), 1) for q in sorted({q for _, queries in user_day[2] for q in queries})]


def _pairs(user_day):
    """((day, anchor, query), 1) for each co-occurrence of each session of a user's day."""
    day = user_day[0]
    for anchors, queries in user_day[2]:
        for anchor, q in bl.session_pairs(anchors, queries):
            yield (day, anchor, q), 1


class CountDays(beam.PTransform):
    """(day, (user_id, kept events)) of any days → what each day adds to the history's
    counts: {"has_typed": (day, whether it holds a typed search), "searched": (day, query,
    the day's users who searched it), "pairs": (day, anchor, query, the day's sessions
    holding both)}. A day is counted in its own mode: its searches, or, where it has none,
    titles standing in (CountHistory uses a day's counts only where the window's mode is
    the day's: a day without a search adds nothing to a window with one)."""

    def __init__(self, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.cfg, self.blocklist = cfg, blocklist

    def expand(self, history):
        has_typed = (history
                     | "HasTypedQuery" >> beam.Map(lambda kv: (kv[0], ch.has_typed_query(kv[1][1])))
                     | "AnyTyped" >> beam.CombinePerKey(any))
        sessions = history | "Sessions" >> beam.Map(_sessions, QueryCleaner(self.cfg.normalize, self.blocklist),
                                                     self.cfg, beam.pvalue.AsDict(has_typed))
        searched = (sessions | "Searched" >> beam.FlatMap(_searched)
                    | "CountSearchers" >> beam.CombinePerKey(sum)
                    | "FlatSearched" >> beam.MapTuple(lambda day_query, n: (*day_query, n)))
        pairs = (sessions | "Pairs" >> beam.FlatMap(_pairs)
                 | "CountPairs" >> beam.CombinePerKey(sum)
                 | "FlatPairs" >> beam.MapTuple(lambda key, n: (*key, n)))
        return {"has_typed": has_typed, "searched": searched, "pairs": pairs}


class CountHistory(beam.PTransform):
    """What each day adds (CountDays' dict, any days) → the window's counts: {"vocabulary":
    one (Counter, list): the `ranker.vocabulary` most searched past queries by distinct
    (day, user), most first; "cooccurrence": (anchor, vocabulary query, sessions);
    "titles_as_queries": one bool, true where no day holds a typed search}. The same counts
    as `build_history` + `vocabulary_of` in one process (tested).

    The history is counted per user and day and combined, so no step holds the history's
    users: what is collected into one element is bounded by configuration
    (`ranker.vocabulary`, the days), not by the number of shoppers."""

    def __init__(self, cfg: HintQConfig):
        super().__init__()
        self.cfg = cfg

    def expand(self, days):
        cfg = self.cfg
        titles_as_queries = (days["has_typed"]
                             | "AnyTyped" >> beam.Map(lambda day_typed: day_typed[1])
                             | "AnyDay" >> beam.CombineGlobally(any)
                             | "TitlesAsQueries" >> beam.Map(lambda has_search: not has_search))
        counting = (days["has_typed"]
                    | "InWindowMode" >> beam.Filter(lambda day_typed, titles: titles or day_typed[1],
                                                    beam.pvalue.AsSingleton(titles_as_queries))
                    | "CountingDays" >> beam.Map(lambda day_typed: day_typed[0]))

        def of_counting_days(rows, name):
            return rows | f"{name}OfCountingDays" >> beam.Filter(lambda r, ds: r[0] in ds,
                                                                 beam.pvalue.AsList(counting))

        vocabulary = (of_counting_days(days["searched"], "Searched")
                      | "ByQuery" >> beam.Map(lambda r: (r[1], r[2]))
                      | "CountSearchers" >> beam.CombinePerKey(sum)
                      | "TopQueries" >> beam.combiners.Top.Of(cfg.ranker.vocabulary,
                                                              key=lambda qc: (qc[1], text_desc_key(qc[0])))
                      | "WithCounts" >> beam.Map(lambda top: (Counter(dict(top)), [q for q, _ in top])))
        words = vocabulary | "VocabularySet" >> beam.Map(lambda v: frozenset(v[1]))
        cooccurrence = (of_counting_days(days["pairs"], "Pairs")
                        | "OfVocabulary" >> beam.Filter(lambda r, vocab: r[2] in vocab, beam.pvalue.AsSingleton(words))
                        | "ByPair" >> beam.Map(lambda r: ((r[1], r[2]), r[3]))
                        | "CountPairs" >> beam.CombinePerKey(sum)
                        | "Flat" >> beam.MapTuple(lambda pair, n: (*pair, n)))
        return {"vocabulary": vocabulary, "cooccurrence": cooccurrence, "titles_as_queries": titles_as_queries}


def _kept_rows(folder: str, prefix: str):
    """The rows of a kept day's `prefix` shards, in shard order."""
    shards = FileSystems.match([posixpath.join(folder, f"{prefix}-*.parquet")])[0].metadata_list
    for meta in sorted(shards, key=lambda m: m.path):
        with FileSystems.open(meta.path) as f:
            yield from pq.ParquetFile(f).read().to_pylist()


def _kept_has_typed(folder: str) -> bool:
    with FileSystems.open(posixpath.join(folder, DAY_FILE)) as f:
        return json.loads(f.read())["has_typed_query"]


class ReadDayCounts(beam.PTransform):
    """PBegin → one day's counts as a night kept them (`folder`, WriteDayCounts), in
    CountDays' shape."""

    def __init__(self, folder: str, day: str):
        super().__init__()
        self.folder, self.day = folder, day

    def expand(self, pbegin):
        day = self.day
        folder = pbegin | "Folder" >> beam.Create([self.folder])
        has_typed = folder | "HasTyped" >> beam.Map(lambda f: (day, _kept_has_typed(f)))
        searched = folder | "SearchedRows" >> beam.FlatMap(
            lambda f: ((day, r["query"], r["users"]) for r in _kept_rows(f, SEARCHED_PREFIX)))
        pairs = folder | "PairsRows" >> beam.FlatMap(
            lambda f: ((day, (r["anchor_kind"], r["anchor"]), r["query"], r["sessions"])
                       for r in _kept_rows(f, PAIRS_PREFIX)))
        return {"has_typed": has_typed, "searched": searched, "pairs": pairs}


class WriteDayCounts(beam.PTransform):
    """One day's counts (CountDays' dict, of that day only) → `out_dir`: sorted Parquet
    shards of its searched queries and co-occurrences, and `day.json` (whether it holds a
    typed search; the night keeps the folder only where it was written, after the
    pipeline has finished: warehouse/history_counts.py)."""

    def __init__(self, out_dir: str, cfg: HintQConfig):
        super().__init__()
        self.out_dir, self.cfg = out_dir, cfg

    def expand(self, counts):
        max_rows, out_dir = self.cfg.publish.max_rows_per_shard, self.out_dir
        counts["searched"] | "WriteSearched" >> WriteShardedParquet(
            out_dir, HISTORY_SEARCHED_SCHEMA, 1, key=lambda r: r[1], sort_key=lambda r: r[1],
            to_row=lambda r: {"query": r[1], "users": r[2]}, max_rows_per_shard=max_rows, prefix=SEARCHED_PREFIX)
        counts["pairs"] | "WritePairs" >> WriteShardedParquet(
            out_dir, HISTORY_PAIRS_SCHEMA, 1, key=lambda r: r[2], sort_key=lambda r: (r[1], r[2]),
            to_row=lambda r: {"anchor_kind": r[1][0], "anchor": r[1][1], "query": r[2], "sessions": r[3]},
            max_rows_per_shard=max_rows, prefix=PAIRS_PREFIX)
        return counts["has_typed"] | "WriteDayFile" >> beam.Map(
            lambda day_typed: write_json_file(posixpath.join(out_dir, DAY_FILE),
                                              {"day": day_typed[0], "has_typed_query": day_typed[1]}))


class _ModelFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec, cfg: HintQConfig):
        self.spec, self.cfg = spec, cfg

    def setup(self):
        self.vectors = TextVectors(self.spec, self.spec.acquire(), remember=False)

    def process(self, vocabulary, cooccurrence, checks, titles_as_queries):
        with stage_timer("channels"):
            words = vocabulary[1]
            by_query = {v.query: v for v in checks}
            # the rows verification computed are the embedder's rows of these texts
            # (a text's row depends on the text alone): only words without one are embedded
            known = {q: v.embedding() for q, v in by_query.items() if v.vector}
            vectors = self.vectors(words, known=known) if words else None
            yield ch.counted_channel_model(vocabulary, cooccurrence, by_query, vectors,
                                           self.cfg.ranker.per_channel, titles_as_queries)


class BuildChannelModel(beam.PTransform):
    """(CountHistory's counts, VerifiedQuery of the night) → one ChannelModel: the
    vocabulary's checks (its categories feed category-popular) and embeddings (EBR)."""

    def __init__(self, cfg: HintQConfig, embedder: EmbedderSpec):
        super().__init__()
        self.cfg, self.embedder = cfg, embedder

    def expand(self, inputs):
        counted, verified = inputs
        words = counted["vocabulary"] | "VocabularySet" >> beam.Map(lambda v: frozenset(v[1]))
        checks = (verified
                  | "OfVocabulary" >> beam.Filter(lambda v, vocab: v.query in vocab, beam.pvalue.AsSingleton(words))
                  | "Collect" >> beam.combiners.ToList())
        return counted["vocabulary"] | "Model" >> beam.ParDo(
            _ModelFn(self.embedder, self.cfg), beam.pvalue.AsList(counted["cooccurrence"]),
            beam.pvalue.AsSingleton(checks), beam.pvalue.AsSingleton(counted["titles_as_queries"]))
