"""Think's trigger selection (x2q): the day's most frequent items, queries and categories,
by distinct users, plus new catalog items nobody has touched yet (cold start)."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam

from pipelines.beam.progress import stage_timer
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from pipelines.core.text import text_desc_key
from pipelines.core.triggers import (SELECTED_COLD, SELECTED_POPULAR, TRIGGER_TYPES, describe, is_cold, top_n,
                                     user_signals)

PAIRS = "pairs"
# Neighbours kept per trigger before `describe` picks facts and context from them.
_NEIGHBOUR_POOL = 50


class _UserSignalsFn(beam.DoFn):
    def __init__(self, gap_s, clean_query, cfg):
        self.gap_s, self.clean_query, self.cfg = gap_s, clean_query, cfg

    def process(self, element):
        _, events = element
        with stage_timer("select_triggers"):
            touched, pairs = user_signals(events, self.gap_s, self.clean_query, self.cfg)
        for key in sorted(touched):
            yield key
        for pair in pairs:
            yield beam.pvalue.TaggedOutput(PAIRS, pair)


def _candidates(element, day: dt.date, cfg):
    """((type, id), {users, item}) → ("popular"|"cold", (type, id, users, item))."""
    (trigger_type, trigger_id), grouped = element
    users = sum(grouped["users"])
    items = list(grouped["item"])
    item = items[0] if items else None
    if users:
        yield SELECTED_POPULAR, (trigger_type, trigger_id, users, item)
    elif item is not None and is_cold(item, day, cfg):
        yield SELECTED_COLD, (trigger_type, trigger_id, 0, item)


def _popularity(c):
    return c[2], text_desc_key(c[1])


def _newest_first(c):
    return c[3].first_seen, text_desc_key(c[1])


class _DescribeFn(beam.DoFn):
    def __init__(self, cfg):
        self.cfg = cfg

    def process(self, element):
        (trigger_type, trigger_id), grouped = element
        selected = list(grouped["selected"])
        if not selected:
            return
        _, _, users, item, selected_as = selected[0]
        neighbours = [nb for top in grouped["neighbours"] for nb in top]  # one Top list per key
        yield describe(trigger_type, trigger_id, item, users, selected_as, neighbours, self.cfg)


class SelectTriggers(beam.PTransform):
    """(users: (user_id, kept events), items) → one Trigger per selected trigger.

    Popular: the top `top_items` / `top_queries` / `top_categories` by distinct users,
    ties broken by id. Cold: items first seen within `cold_days` that no one touched today,
    newest first (ties by id), at most `max_cold_items`. Context comes from the sessions.
    """

    def __init__(self, dt_str: str, cfg: HintQConfig, blocklist: frozenset[str]):
        super().__init__()
        self.day = dt.date.fromisoformat(dt_str)
        self.cfg, self.blocklist = cfg, blocklist

    def expand(self, inputs):
        users, items = inputs
        x2q = self.cfg.x2q
        signals = users | "UserSignals" >> beam.ParDo(_UserSignalsFn(
            self.cfg.session.gap_s, QueryCleaner(self.cfg.normalize, self.blocklist), x2q)).with_outputs(
            PAIRS, main="touched")
        counts = signals.touched | "UsersPerTrigger" >> beam.combiners.Count.PerElement()
        catalog = items | "KeyItem" >> beam.Map(lambda i: (("item", i.item_id), i))
        candidates = ({"users": counts, "item": catalog}
                      | "JoinCatalog" >> beam.CoGroupByKey()
                      | "Candidates" >> beam.FlatMap(_candidates, self.day, x2q))
        popular = (candidates
                   | "Popular" >> beam.Filter(lambda kv: kv[0] == SELECTED_POPULAR)
                   | "KeyByType" >> beam.Map(lambda kv: (kv[1][0], kv[1]))
                   | "TopPerType" >> beam.combiners.Top.PerKey(
                       max(top_n(x2q, t) for t in TRIGGER_TYPES), key=_popularity)
                   | "TrimPerType" >> beam.FlatMap(lambda kv: kv[1][: top_n(x2q, kv[0])])
                   | "TagPopular" >> beam.Map(lambda c: (*c, SELECTED_POPULAR)))
        cold = (candidates
                | "Cold" >> beam.Filter(lambda kv: kv[0] == SELECTED_COLD)
                | "ColdItems" >> beam.Map(lambda kv: kv[1])
                | "NewestCold" >> beam.combiners.Top.Of(x2q.max_cold_items, key=_newest_first)
                | "ExplodeCold" >> beam.FlatMap(lambda top: [(*c, SELECTED_COLD) for c in top]))
        selected = ((popular, cold) | "AllSelected" >> beam.Flatten()
                    | "KeySelected" >> beam.Map(lambda c: ((c[0], c[1]), c)))
        neighbours = (signals[PAIRS]
                      | "CountPairs" >> beam.combiners.Count.PerElement()
                      | "KeyByTrigger" >> beam.MapTuple(lambda pair, n: (pair[0], (pair[1], n)))
                      | "TopNeighbours" >> beam.combiners.Top.PerKey(
                          _NEIGHBOUR_POOL, key=lambda nb: (nb[1], text_desc_key("\x00".join(
                              str(x) for x in nb[0])))))
        return ({"selected": selected, "neighbours": neighbours}
                | "JoinNeighbours" >> beam.CoGroupByKey()
                | "Describe" >> beam.ParDo(_DescribeFn(x2q)))
