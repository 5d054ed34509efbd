import json

import pytest

from pathlib import Path

from datasets.published import stage_partition, u2q_rows, x2q_rows
from warehouse.files import data_dir, published_days, read_published, read_published_table
from warehouse.iceberg import history
from warehouse.publish import PublishCheckFailed, publish


def _stage(tmp_path, rows=2, active=2, extra_counts=None, run_id="r1", day="2026-11-01"):
    counts = {"users.active": active, "events.read": 10, "events.used": 9}
    counts.update(extra_counts or {})
    return stage_partition(tmp_path, day, run_id, u2q_rows(rows), counts, shards=1)


def _published(tmp_path, table, day="2026-11-01"):
    return read_published(tmp_path, table, day)


def test_publish_commits_the_run_files_with_their_manifest_and_a_rerun_replaces_the_day(tmp_path):
    manifest = publish(_stage(tmp_path), str(tmp_path), "2026-11-01", "u2q", 30, {"run_id": "r1"})
    on_disk, files = _published(tmp_path, "u2q")
    assert on_disk == manifest and files[0].parent == data_dir(tmp_path, "u2q", "2026-11-01", "r1")
    assert on_disk["inputs"]["events"] == {"read": 10, "used": 9, "rejected": 1,
                                           "rejected_by_stage_reason": {"validate.bad_timestamp": 1}}
    assert on_disk["rows"] == 2 and manifest["files"][0]["rows"] == 2
    assert _published(tmp_path, "rejected")[0]["run_id"] == "r1"
    assert not (tmp_path / "_staging" / "u2q" / "dt=2026-11-01" / "run=r1").exists()
    publish(_stage(tmp_path, rows=3, active=3, run_id="r2"), str(tmp_path), "2026-11-01", "u2q", 30,
            {"run_id": "r2"})
    assert _published(tmp_path, "u2q")[0]["run_id"] == "r2" and _published(tmp_path, "profiles")[0]["run_id"] == "r2"
    assert read_published_table(tmp_path, "u2q", "2026-11-01").num_rows == 3


@pytest.mark.parametrize("kwargs, needle", [
    ({"rows": 2, "active": 3}, "u2q rows 2 == active users 3"),
    ({"extra_counts": {"events.used": 5}}, "events: read 10 == used 5 + rejected 1"),
    ({"extra_counts": {"check.list_over_k": 1}}, "list_over_k == 0"),
])
def test_failed_checks_publish_nothing(tmp_path, kwargs, needle):
    with pytest.raises(PublishCheckFailed) as err:
        publish(_stage(tmp_path, **kwargs), str(tmp_path), "2026-11-01", "u2q", 30, {"run_id": "r"})
    assert any(needle in f for f in err.value.failures)
    assert _published(tmp_path, "u2q") is None and _published(tmp_path, "rejected") is None
    assert not (tmp_path / "catalog.db").exists(), "nothing was committed, no table was created"


def test_tampered_file_is_caught(tmp_path):
    staging = _stage(tmp_path)
    (Path(staging.table("u2q")) / "part-00000-of-00001.parquet").write_bytes(b"garbage")
    with pytest.raises(PublishCheckFailed):
        publish(staging, str(tmp_path), "2026-11-01", "u2q", 30, {"run_id": "r"})


def test_x2q_publishes_its_table_only_and_checks_one_row_per_selected_trigger(tmp_path):
    staged = stage_partition(tmp_path, "2026-11-01", "r1", x2q_rows(3),
                             {"triggers.popular.item": 2, "triggers.cold.item": 1}, shards=1, table="x2q")
    manifest = publish(staged, str(tmp_path), "2026-11-01", "x2q", 10, {"run_id": "r1"})
    assert _published(tmp_path, "x2q")[0] == manifest
    assert history(tmp_path, "rejected") == [], "input rejections are u2q's to publish"
    assert manifest["rows"] == 3 and manifest["stages"]["triggers"]["selected"]["cold"] == {"item": 1}
    short = stage_partition(tmp_path, "2026-11-02", "r2", x2q_rows(2), {"triggers.popular.item": 3},
                            shards=1, table="x2q")
    with pytest.raises(PublishCheckFailed, match="x2q rows 2 == selected triggers 3"):
        publish(short, str(tmp_path), "2026-11-02", "x2q", 10, {"run_id": "r2"})
    assert _published(tmp_path, "x2q", "2026-11-02") is None and published_days(tmp_path, "x2q") == ["2026-11-01"]


def test_published_manifests_are_the_declared_schema_and_a_reader_refuses_an_unknown_version(tmp_path):
    from warehouse.manifest import MANIFEST_VERSION, ManifestError, PartManifest, TableManifest, from_dict

    publish(_stage(tmp_path), str(tmp_path), "2026-11-01", "u2q", 30, {"run_id": "r1"})
    path = data_dir(tmp_path, "u2q", "2026-11-01", "r1") / "_MANIFEST.json"
    table = json.loads(path.read_text())
    part = json.loads((data_dir(tmp_path, "rejected", "2026-11-01", "r1") / "_MANIFEST.json").read_text())
    assert isinstance(from_dict(table), TableManifest) and table["manifest_version"] == MANIFEST_VERSION
    assert isinstance(from_dict(part), PartManifest) and part["run_id"] == "r1"
    with pytest.raises(TypeError):  # an undeclared field cannot be published
        publish(_stage(tmp_path, run_id="r", day="2026-11-02"), str(tmp_path), "2026-11-02", "u2q", 30,
                {"run_id": "r", "surprise": 1})
    path.write_text(json.dumps({**table, "manifest_version": MANIFEST_VERSION + 1}))
    with pytest.raises(ManifestError, match="has version 2"):
        read_published(tmp_path, "u2q", "2026-11-01")
    from hintq.cli import main

    assert main(["summary", "--warehouse", str(tmp_path), "--date", "2026-11-01"]) == 1  # a message, no traceback
    assert main(["show", "u2q", "--warehouse", str(tmp_path), "--date", "2026-11-01", "--user", "U1"]) == 2
    path.write_text(json.dumps({k: v for k, v in table.items() if k != "manifest_version"}))
    assert read_published(tmp_path, "u2q", "2026-11-01")[0]["rows"] == 2  # written before versions: 1


def test_counter_families_name_and_group_the_same_strings():
    from pipelines.core import counters as c

    counts = {c.REJECTED("events", "validate", "bad_ts"): 2, c.REJECTED("catalog", "validate", "x"): 1,
              c.TRIGGERS("cold", "item"): 3, c.TRIGGERS_SKIPPED(c.EMPTY_TRIGGER_TEXT): 1}
    assert c.REJECTED.group(counts, "events") == {"validate.bad_ts": 2}
    assert c.TRIGGERS.total(counts, "cold") == 3 and c.TRIGGERS_SKIPPED.group(counts) == {"empty_trigger_text": 1}
    assert c.TableCounters("u2q").source("generated") == "u2q.source.generated"
