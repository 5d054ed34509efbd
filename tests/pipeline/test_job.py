"""The whole job on the tiny world with a fake model: accounting, publish rules, re-runs."""
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from jobs.nightly_u2q import StagingLock, run
from pipelines.core.ranking import SOURCES
from pipelines.model_store import ModelUnavailable
from tests.conftest import TINY_DAY
from tests.fakes import BrokenGeneratorSpec, FakeGeneratorSpec


def _argv(world, warehouse):
    return [f"--dt={TINY_DAY}", f"--input={world}", f"--warehouse={warehouse}", "--labels=airflow-version=v3"]


def _checksums(manifest):
    return [(f["path"], f["sha256"]) for f in manifest["files"]]


def test_job_publishes_a_complete_partition_and_reruns_identically(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    _, first = run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    part = warehouse / "u2q" / f"dt={TINY_DAY}"
    assert (part / "_SUCCESS").exists()
    manifest = json.loads((part / "_MANIFEST.json").read_text())
    for table in ("events", "catalog"):
        acc = manifest["inputs"][table]
        assert acc["read"] == acc["used"] + acc["rejected"] > 0
    rows = pq.read_table(part).to_pylist()
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
    rejected = pq.read_table(warehouse / "rejected" / f"dt={TINY_DAY}").to_pylist()
    assert len(rejected) == manifest["inputs"]["events"]["rejected"] + manifest["inputs"]["catalog"]["rejected"]
    assert all(r["reason"] and r["original"] for r in rejected)
    published_text = json.dumps(rows)
    for secret in ("jane.doe@example.com", "4111", "555 0199", "hacked", "counterfeit"):
        assert secret not in published_text.lower()
    assert any("extra column 'client_version'" in n for n in manifest["stages"]["validate"]["schema_notes"])
    assert {"name", "revision"} <= set(manifest["model"]["generator"]) and manifest["code_version"]
    assert manifest["config"]["rank"]["k"] == 30

    _, second = run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    assert _checksums(first) == _checksums(second)
    assert second["run_id"] != first["run_id"]
    assert not list((warehouse / "_staging").glob("*/run=*"))


def test_model_that_fails_to_load_publishes_nothing_and_debris_is_cleaned(tiny_world, tmp_path):
    warehouse = tmp_path / "wh"
    with pytest.raises(Exception, match="weights are corrupt"):
        run(_argv(tiny_world, warehouse), generator=BrokenGeneratorSpec())
    assert not (warehouse / "u2q").exists()
    assert list((warehouse / "_staging").glob("*/run=*")), "the failed run left its staging folder"
    run(_argv(tiny_world, warehouse), generator=FakeGeneratorSpec())
    assert (warehouse / "u2q" / f"dt={TINY_DAY}" / "_SUCCESS").exists()
    assert not list((warehouse / "_staging").glob("*/run=*"))
    assert issubclass(ModelUnavailable, RuntimeError)


def test_a_second_run_of_the_same_day_is_refused_while_one_runs(tmp_path):
    with StagingLock(str(tmp_path), TINY_DAY):
        with pytest.raises(RuntimeError, match="in progress"):
            with StagingLock(str(tmp_path), TINY_DAY):
                pass


def test_missing_input_partition_fails_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="input partition events/dt=2030-01-01 has no Parquet files"):
        run([f"--dt=2030-01-01", f"--input={tmp_path}", f"--warehouse={tmp_path / 'wh'}"],
            generator=FakeGeneratorSpec())
    assert not (Path(tmp_path) / "wh" / "u2q").exists()
