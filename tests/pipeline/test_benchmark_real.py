"""`hintq benchmark-real`: every dataset imported, its nights run and evaluated; a missing
dataset is skipped and a damaged one reported, while the others still run."""
from __future__ import annotations

import json

import pytest

from jobs import benchmark_real
from tests.conftest import SHARED_DATA
from tests.fakes import FakeGeneratorSpec

JOURNEY = SHARED_DATA / "complete_journey"
pytestmark = pytest.mark.skipif(not JOURNEY.exists(), reason="../shared/data is not mounted beside the repo")


def test_one_command_scores_each_dataset_and_survives_a_broken_or_missing_one(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "complete_journey").symlink_to(JOURNEY)
    broken = root / "online_retail_uci"
    broken.mkdir()
    (broken / "events.parquet").write_text("user_id,item_id\nU1,I1\n")  # not Parquet
    (broken / "catalog.parquet").write_text("")
    out = tmp_path / "out"
    summary = benchmark_real.run([f"--src-root={root}", f"--out={out}", "--users=12",
                                  "--set=evaluate.bootstrap_samples=200", "--set=evaluate.random_seeds=2"],
                                 generator=FakeGeneratorSpec())
    sets = summary["datasets"]
    assert sets["real_queries_wands_esci"]["status"] == "skipped"
    assert sets["online_retail_uci"]["status"] == "failed" and sets["online_retail_uci"]["step"] == "import"
    assert "events.parquet is not readable Parquet" in sets["online_retail_uci"]["error"]
    journey = sets["complete_journey"]
    assert journey["status"] == "ok", journey
    # Two nights (memory carried), the ranker trained between them on night 1's candidates
    # labelled by day 2, the second night ranked by it and scored against the third day.
    assert [s for s in journey["steps"] if s.startswith(("night", "train"))] == [
        "night 2017-12-29 x2q", "night 2017-12-29 u2q", "train ranker 2017-12-29",
        "night 2017-12-30 x2q", "night 2017-12-30 u2q"]
    assert journey["ranking"]["method"] == "learned" and journey["ranking"]["ranker"]["labels_dt"] == "2017-12-30"
    assert set(journey["rankers"]) == {"2017-12-29"}
    assert journey["population"]["evaluated"] == 12
    systems = {r["system"] for r in journey["rows"]}
    assert {"hintq_u2q", "hintq_hand_weighted", "hintq_ranked_no_generated", "category_popular", "cooccurrence",
            "random"} <= systems
    # A real taxonomy: Category HR@K is defined for every household that bought on day 3.
    category = [r for r in journey["rows"] if r["metric"] == "category_hr" and r["system"] == "hintq_u2q"]
    assert category and all(r["n"] == 12 and "ci_low" in r for r in category)
    assert json.loads((out / "summary.json").read_text())["datasets"]["complete_journey"]["status"] == "ok"
    assert (out / "complete_journey" / "eval" / "report.html").exists()
    text = benchmark_real.format_summary(summary)
    assert "## online_retail_uci: failed" in text and "| hintq_u2q |" in text
