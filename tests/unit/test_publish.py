import json

import pytest

from pipelines.publish import PublishCheckFailed, publish
from tests.helpers import stage_partition, u2q_rows


def _stage(tmp_path, rows=2, active=2, extra_counts=None):
    counts = {"users.active": active, "events.read": 10, "events.used": 9}
    counts.update(extra_counts or {})
    return stage_partition(tmp_path / "_staging" / "run=1", u2q_rows(rows), counts, shards=1)


def test_publish_writes_manifest_and_success_and_replaces_atomically(tmp_path):
    manifest = publish(str(_stage(tmp_path)), str(tmp_path), "2026-11-01", 30, {"run_id": "r1"})
    part = tmp_path / "u2q" / "dt=2026-11-01"
    assert (part / "_SUCCESS").exists() and (tmp_path / "rejected" / "dt=2026-11-01" / "_SUCCESS").exists()
    on_disk = json.loads((part / "_MANIFEST.json").read_text())
    assert on_disk["inputs"]["events"] == {"read": 10, "used": 9, "rejected": 1,
                                           "rejected_by_stage_reason": {"validate.bad_timestamp": 1}}
    assert on_disk["rows"] == 2 and manifest["files"][0]["rows"] == 2
    assert not (tmp_path / "_staging" / "run=1").exists()
    publish(str(_stage(tmp_path, rows=3, active=3)), str(tmp_path), "2026-11-01", 30, {"run_id": "r2"})
    assert json.loads((part / "_MANIFEST.json").read_text())["run_id"] == "r2"


@pytest.mark.parametrize("kwargs, needle", [
    ({"rows": 2, "active": 3}, "u2q rows 2 == active users 3"),
    ({"extra_counts": {"events.used": 5}}, "events: read 10 == used 5 + rejected 1"),
    ({"extra_counts": {"check.list_over_k": 1}}, "list_over_k == 0"),
])
def test_failed_checks_publish_nothing(tmp_path, kwargs, needle):
    with pytest.raises(PublishCheckFailed) as err:
        publish(str(_stage(tmp_path, **kwargs)), str(tmp_path), "2026-11-01", 30, {"run_id": "r"})
    assert any(needle in f for f in err.value.failures)
    assert not (tmp_path / "u2q").exists() and not (tmp_path / "rejected").exists()


def test_tampered_file_is_caught(tmp_path):
    staging = _stage(tmp_path)
    (staging / "u2q" / "part-00000-of-00001.parquet").write_bytes(b"garbage")
    with pytest.raises(PublishCheckFailed):
        publish(str(staging), str(tmp_path), "2026-11-01", 30, {"run_id": "r"})
