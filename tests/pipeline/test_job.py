"""The whole job on the tiny world with a fake model: accounting, publish rules, re-runs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.nightly import run
from pipelines.core.ranking import SOURCES
from pipelines.engines.model_store import ModelUnavailable
from tests.conftest import REPO, TINY_DAY
from tests.fakes import (BrokenGeneratorSpec, FakeGeneratorSpec, SlowStartGeneratorSpec, reader_that_exits,
                         reader_that_hangs)
from warehouse.files import published_days, read_published, read_published_table
from warehouse.staging import StagingLock, staging_dir


def _argv(world, warehouse):
    return [f"--dt={TINY_DAY}", f"--input={world}", f"--warehouse={warehouse}", "--labels=airflow-version=v3"]


def _checksums(manifest):
    return [(f["path"], f["sha256"]) for f in manifest["files"]]


def test_job_publishes_a_complete_partition_and_reruns_identically(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    _, first = run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    manifest, _ = read_published(warehouse, "u2q", TINY_DAY)
    for table in ("events", "catalog"):
        acc = manifest["inputs"][table]
        assert acc["read"] == acc["used"] + acc["rejected"] > 0
    rows = read_published_table(warehouse, "u2q", TINY_DAY).to_pylist()
    assert len(rows) == manifest["rows"] == manifest["stages"]["profile"]["active_users"]
    assert len({r["user_id"] for r in rows}) == len(rows), "exactly one row per active user"
    for r in rows:
        assert len(r["queries"]) <= 30
        assert [q["rank"] for q in r["queries"]] == list(range(1, len(r["queries"]) + 1))
        assert all(q["source"] in SOURCES and q["evidence"] for q in r["queries"])
    reasons = set(manifest["inputs"]["events"]["rejected_by_stage_reason"])
    for expected in ("validate.missing_user_id", "validate.unknown_event_type", "validate.bad_timestamp",
                     "validate.outside_partition", "validate.unknown_item", "validate.empty_query",
                     "validate.query_too_long", "validate.invalid_encoding", "validate.missing_item_id",
                     "sessionize.duplicate_event", "sessionize.over_user_cap"):
        assert expected in reasons
    rejected = read_published_table(warehouse, "rejected", TINY_DAY).to_pylist()
    assert len(rejected) == manifest["inputs"]["events"]["rejected"] + manifest["inputs"]["catalog"]["rejected"]
    assert all(r["reason"] and r["original"] for r in rejected)
    published_text = json.dumps(rows)
    for secret in ("jane.doe@example.com", "4111", "555 0199", "hacked", "counterfeit"):
        assert secret not in published_text.lower()
    assert any("extra column 'client_version'" in n for n in manifest["stages"]["validate"]["schema_notes"])
    assert {"name", "revision"} <= set(manifest["model"]["generator"]) and manifest["code_version"]
    assert manifest["config"]["rank"]["k"] == 30
    # the engine's start is timed apart from generation (fixed cost of a worker)
    assert {"engine_start", "generate"} <= set(first["timings"]["stage_s"])

    _, second = run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    assert _checksums(first) == _checksums(second)
    # the re-run read the catalog index the first run kept, and published the same bytes
    assert not first["catalog_index"]["reused"] and first["catalog_index"]["kept"]
    assert first["catalog_index"]["titles_embedded"] > 0
    assert second["catalog_index"] == {**first["catalog_index"], "reused": True, "titles_embedded": 0}
    # ... and the day as stages 1-2 left it (warehouse/clean_day.py): the same rows set aside
    assert not first["clean_day"]["reused"] and first["clean_day"]["kept"]
    assert second["clean_day"] == {**first["clean_day"], "reused": True}
    assert second["inputs"] == first["inputs"]
    assert second["run_id"] != first["run_id"]
    assert not list((warehouse / "_staging").glob("*/*/run=*"))


def test_a_night_reads_its_day_beside_a_slow_engine_start_and_publishes_what_reading_it_itself_gives(
        tiny_world, tmp_path, monkeypatch, caplog):
    def night(name, *flags):
        _, manifest = run([*_argv(tiny_world, tmp_path / name), "--table=x2q", *flags],
                          generator=SlowStartGeneratorSpec())
        return manifest

    beside = night("beside")
    assert beside["clean_day"]["read_beside_start"] and not beside["clean_day"]["reused"]
    assert Path(beside["clean_day"]["kept"], "_SUCCESS").exists() and beside["clean_day"]["waited_s"] >= 0
    assert beside["clean_day"]["reader"]["seconds"] > 0
    assert (beside["clean_day"]["reader"]["peak_rss_mb"] or 0) > 0 or sys.platform != "linux"
    # the engine's start is timed, though it was loaded before the pipeline
    assert beside["timings"]["stage_s"]["engine_start"] >= SlowStartGeneratorSpec.START_S
    itself = night("itself", "--set=publish.read_day_beside_start=false")
    assert not itself["clean_day"]["read_beside_start"] and itself["clean_day"]["kept"]
    # The reading process dies, or outlasts its time (stopped): the night reads the day
    # itself, and says so.
    monkeypatch.setattr("jobs.nightly.read_clean_day", reader_that_exits)
    failed = night("failed")
    assert "reading the day beside the engine's start failed (exit code 3)" in caplog.text
    monkeypatch.setattr("jobs.nightly.read_clean_day", reader_that_hangs)
    stuck = night("stuck", "--set=publish.day_reader_timeout_s=1")
    assert "reading the day beside the engine's start failed (exit code -15)" in caplog.text
    for fallen_back in (failed, stuck):
        assert not fallen_back["clean_day"]["read_beside_start"] and fallen_back["clean_day"]["kept"]
    for other in (itself, failed, stuck):
        assert [f["sha256"] for f in other["files"]] == [f["sha256"] for f in beside["files"]]
        assert other["inputs"] == beside["inputs"] and other["stages"] == beside["stages"]
        assert other["clean_day"]["fingerprint"] == beside["clean_day"]["fingerprint"]


def test_model_that_fails_to_load_publishes_nothing_and_debris_is_cleaned(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    with pytest.raises(Exception, match="weights are corrupt"):
        run(_argv(tiny_world, warehouse), generator=BrokenGeneratorSpec())
    assert not published_days(warehouse, "u2q")
    assert list((warehouse / "_staging").glob("*/*/run=*")), "the failed run left its staging folder"
    run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    assert read_published(warehouse, "u2q", TINY_DAY) is not None
    assert not list((warehouse / "_staging").glob("*/*/run=*"))
    assert issubclass(ModelUnavailable, RuntimeError)


def test_a_second_run_of_the_same_day_is_refused_while_one_runs(tmp_path):
    with StagingLock(str(tmp_path), "u2q", TINY_DAY):
        with pytest.raises(RuntimeError, match="in progress"):
            with StagingLock(str(tmp_path), "u2q", TINY_DAY):
                pass
        with StagingLock(str(tmp_path), "x2q", TINY_DAY):
            pass  # the other table of the same day has a lock of its own


def test_a_run_names_its_staging_folder_from_the_lock_on_and_the_next_run_removes_it(tmp_path):
    day_dir = staging_dir(str(tmp_path), "u2q", TINY_DAY)
    with StagingLock(str(tmp_path), "u2q", TINY_DAY, "killed"):
        assert (day_dir / "run=killed").is_dir(), "there before any stage writes"
    # A kill releases the lock without the publish that removes the folder: debris that names the run.
    assert (day_dir / "run=killed").is_dir()
    with StagingLock(str(tmp_path), "u2q", TINY_DAY, "retry"):
        assert sorted(p.name for p in day_dir.glob("run=*")) == ["run=retry"]


def test_missing_input_partition_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="input partition events/dt=2030-01-01 has no Parquet files"):
        run(["--dt=2030-01-01", f"--input={tmp_path}", f"--warehouse={tmp_path / 'wh'}"],
            generator=FakeGeneratorSpec())
    assert not (Path(tmp_path) / "wh" / "u2q").exists()


def test_x2q_job_gives_every_trigger_a_row_even_with_broken_answers_and_u2q_reads_it(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    # Without an x2q partition u2q still publishes, filled from popular queries, and says so.
    _, alone = run(_argv(tiny_world, tmp_path / "alone"), generator=FakeGeneratorSpec())
    assert alone["x2q_fill"] == {"used": False, "reason": f"x2q/dt={TINY_DAY} is not published"}

    broken = {"query:phone case": "I'd suggest cases!", "category:Toys > Building > Model Kits": '{"reasoning": "Th',
              "item:I000024": json.dumps({"reasoning": "Long. " * 100, "queries": ["phone case"] * 30})}
    argv = [*_argv(tiny_world, warehouse), "--table=x2q"]
    _, first = run(argv, generator=FakeGeneratorSpec(broken))
    rows = {f"{r['trigger_type']}:{r['trigger_id']}": r
            for r in read_published_table(warehouse, "x2q", TINY_DAY).to_pylist()}
    triggers = first["stages"]["triggers"]
    assert len(rows) == first["rows"] == sum(n for sel in triggers["selected"].values() for n in sel.values())
    assert triggers["selected"]["cold"]["item"] > 0
    # Broken answers: counted with their reason, and the trigger still has its row.
    discarded = first["stages"]["normalize"]["discarded"]
    for reason in ("invalid_json", "reasoning_over_bound", "duplicate"):
        assert discarded.get(reason, 0) >= 1, reason
    assert {"query:phone case", "category:Toys > Building > Model Kits", "item:I000024"} <= set(rows)
    assert rows["query:phone case"]["reasoning"] is None
    assert len(rows["item:I000024"]["reasoning"]) == 200 and rows["item:I000024"]["n_generated"] == 30
    # A cold item without a title gets no prompt, and a row from fallbacks; it is listed.
    assert triggers["skipped"]["empty_trigger_text"] >= 1
    blank = [r for r in rows.values() if r["trigger_text"] == ""]
    assert blank and all(r["n_generated"] == 0 and r["reasoning"] is None for r in blank)
    assert all(f"{r['trigger_type']}:{r['trigger_id']}" in triggers["no_verified_queries"]["triggers"] for r in blank)
    assert not published_days(warehouse, "rejected"), "input rejections are published by u2q"

    _, again = run(argv, generator=FakeGeneratorSpec(broken))
    assert _checksums(first) == _checksums(again)

    _, u2q = run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    assert u2q["x2q_fill"]["used"] and u2q["x2q_fill"]["run_id"] == again["run_id"]
    assert u2q["catalog_index"]["reused"] and u2q["catalog_index"]["kept"] == first["catalog_index"]["kept"]
    assert u2q["inputs"] == again["inputs"], "both tables account for the same input rows"
    # u2q started from the day x2q kept, and set aside the rows u2q alone (reading the day) did
    assert u2q["clean_day"] == {**first["clean_day"], "reused": True} and first["clean_day"]["kept"]
    assert not alone["clean_day"]["reused"]
    for part in ("rejected", "profiles"):
        assert [f["sha256"] for f in u2q[part]["files"]] == [f["sha256"] for f in alone[part]["files"]], part

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "hintq.cli", *args, "--warehouse", str(warehouse),
                               "--date", TINY_DAY], cwd=REPO, capture_output=True, text=True)

    shown = cli("show", "x2q", "--trigger", "item:I000024")
    assert shown.returncode == 0 and "trigger item:I000024" in shown.stdout and "reasoning: Long. Long." in shown.stdout
    assert cli("show", "x2q", "--trigger", "item:NOPE").returncode == 1
    assert cli("show", "x2q").returncode == 2, "a trigger is required"
    summary = cli("summary").stdout
    assert "HintQ nightly x2q" in summary and "HintQ nightly u2q" in summary
    assert "cold-start items" in summary and f"x2q fill            read x2q/dt={TINY_DAY}" in summary
