"""The evaluation job on the tiny world, with the real embedder: a hand-made published u2q
whose hits are known, every system × metric × K written, a self-contained escaped report,
same metrics on a re-run, and a skip when there is nothing to evaluate yet."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from datasets.published import published_partition
from pipelines.core.channels import next_day_of
from warehouse.inputs import read_input_day
from jobs import evaluate
from pipelines.core.baselines import BASELINES, RANDOM
from pipelines.core.config import HintQConfig
from pipelines.core.normalize import QueryCleaner
from tests.conftest import TINY_DAY

NEXT_DAY = "2026-11-02"
HOSTILE = "<img src=x onerror=alert(1)>"


def _suggestion(query: str, rank: int, source: str = "generated") -> dict:
    return {"query": query, "score": 1.0, "rank": rank, "category": None, "source": source, "evidence": []}


@pytest.fixture(scope="module")
def evaluated(tiny_world, tmp_path_factory):
    """u2q of day 1 for every shopper active on day 1: users at even positions get one of
    their own day-2 queries at rank 2, so Query HR@10 of hintq_u2q is known in advance."""
    cfg = HintQConfig()
    clean = QueryCleaner(cfg.normalize, frozenset())
    day1, day2 = read_input_day(str(tiny_world), TINY_DAY, cfg), read_input_day(str(tiny_world), NEXT_DAY, cfg)
    next_day = {u: next_day_of(evs, clean) for u, evs in day2.users.items()}
    rows, expected_hits, searchers = [], 0, 0
    for i, user_id in enumerate(sorted(day1.users)):
        queries = [_suggestion(HOSTILE, 1)]  # must reach the report escaped
        nd = next_day.get(user_id)
        if nd and nd.active and nd.queries:
            searchers += 1
            if i % 2 == 0:
                queries.append(_suggestion(sorted(nd.queries)[0], 2, "popular:global"))
                expected_hits += 1
        rows.append({"user_id": user_id, "queries": queries, "prompt_tokens": 1, "n_generated": 1, "n_verified": 1})
    warehouse = tmp_path_factory.mktemp("eval_wh")
    published_partition(warehouse, TINY_DAY, rows, run_id="r1")
    args = [f"--dt={TINY_DAY}", f"--input={tiny_world}", f"--warehouse={warehouse}", "--labels=ignored"]
    assert evaluate.main(args) == 0
    first = (warehouse / "eval" / f"dt={TINY_DAY}" / "metrics.json").read_text()
    assert evaluate.main(args) == 0
    return {"warehouse": warehouse, "first": first, "expected_hr": expected_hits / searchers,
            "metrics": json.loads((warehouse / "eval" / f"dt={TINY_DAY}" / "metrics.json").read_text()),
            "html": (warehouse / "eval" / f"dt={TINY_DAY}" / "report.html").read_text()}


def test_every_system_has_every_metric_at_every_k(evaluated):
    m = evaluated["metrics"]
    assert m["systems"] == ["hintq_u2q", "hintq_generated", *BASELINES, RANDOM]
    for system in m["systems"]:
        for k in (10, 30):
            got = {r["metric"] for r in m["rows"] if r["system"] == system and r["k"] == k}
            assert {"query_hr", "query_mrr", "category_hr", "semantic_similarity", "unique_categories",
                    "list_length", "coverage", "verified_share"} <= got, system
    assert all("n" in r for r in m["rows"])


def test_every_per_user_metric_has_a_bootstrap_interval_and_chance_is_averaged_over_seeds(evaluated):
    m = evaluated["metrics"]
    for r in m["rows"]:
        if r["metric"] in ("query_hr", "query_mrr", "category_hr", "semantic_similarity", "coverage") \
                and r["value"] is not None and r["n"] >= 2:
            assert r["ci_low"] <= r["value"] <= r["ci_high"], r
    chance = [r for r in m["rows"] if r["system"] == RANDOM]
    assert chance and all(r["averaged_over"] == 5 for r in chance)
    assert {r["metric"] for r in chance} >= {"query_hr", "category_hr", "semantic_similarity", "coverage"}
    # K random catalog titles: full lists, every entry a real title of D's catalog.
    rows = {(r["system"], r["metric"], r["k"]): r["value"] for r in m["rows"]}
    assert rows[(RANDOM, "coverage", 10)] == 1.0 and rows[(RANDOM, "share:random", 10)] == 1.0
    assert "bootstrap 95% interval" in evaluated["html"]


def test_query_hit_rate_matches_the_hits_planted_in_the_table(evaluated):
    rows = {(r["system"], r["metric"], r["k"]): r for r in evaluated["metrics"]["rows"]}
    hr = rows[("hintq_u2q", "query_hr", 10)]
    assert hr["value"] == pytest.approx(evaluated["expected_hr"], abs=1e-6)
    assert rows[("hintq_u2q", "query_mrr", 10)]["value"] == pytest.approx(evaluated["expected_hr"] / 2, abs=1e-6)
    # The planted hits come from popular fills, so the generated-only view has none.
    assert rows[("hintq_generated", "query_hr", 10)]["value"] == 0.0
    # Popular gives everyone the same list: as long as the history has distinct queries.
    past = evaluated["metrics"]["inputs"]["past_queries"]
    assert rows[("popular", "list_length", 10)]["value"] == min(10, past)


def test_a_rerun_writes_the_same_metrics(evaluated):
    assert (evaluated["warehouse"] / "eval" / f"dt={TINY_DAY}" / "metrics.json").read_text() == evaluated["first"]


class _Fetches(HTMLParser):
    """Collects everything in a page that a browser would fetch."""

    def __init__(self):
        super().__init__()
        self.fetches, self.tags = [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, val in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action", "xlink:href") and val:
                self.fetches.append((tag, name, val))

    def handle_data(self, data):
        if "url(" in data or "@import" in data:
            self.fetches.append(("text", "css", data[:80]))


def test_the_report_is_self_contained_and_escapes_data(evaluated):
    html = evaluated["html"]
    page = _Fetches()
    page.feed(html)
    assert page.fetches == []
    assert not page.tags & {"script", "link", "img", "iframe", "object", "embed"}
    assert "svg" in page.tags  # the charts are inline
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_nothing_to_evaluate_is_a_skip_not_a_failure(tiny_world, tmp_path):
    assert evaluate.main([f"--dt={TINY_DAY}", f"--input={tiny_world}", f"--warehouse={tmp_path}"]) \
        == evaluate.SKIP_EXIT
    assert not (tmp_path / "eval").exists()
