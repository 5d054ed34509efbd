import json

import pytest

from pipelines.io import write_parquet_bytes
from pipelines.publish import PublishCheckFailed, publish
from schemas import REJECTED_SCHEMA, U2Q_SCHEMA


def _stage(tmp_path, rows=2, active=2, extra_counts=None):
    import hashlib

    staging = tmp_path / "_staging" / "run=1"
    (staging / "u2q").mkdir(parents=True)
    (staging / "rejected").mkdir()
    u2q = [{"user_id": f"U{i}", "queries": [], "prompt_tokens": 1, "n_generated": 0, "n_verified": 0}
           for i in range(rows)]
    rej = [{"table": "events", "stage": "validate", "reason": "bad_timestamp", "source_file": "f",
            "source_row": 0, "detail": None, "original": "{}"}]
    files = []
    for table, data, schema in (("u2q", u2q, U2Q_SCHEMA), ("rejected", rej, REJECTED_SCHEMA)):
        blob = write_parquet_bytes(data, schema)
        (staging / table / "part-00000-of-00001.parquet").write_bytes(blob)
        files.append({"table": table, "path": "part-00000-of-00001.parquet", "rows": len(data),
                      "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})
    counts = {"events.read": 10, "events.used": 9, "rejected.events.validate.bad_timestamp": 1,
              "catalog.read": 3, "catalog.used": 3, "users.active": active, "u2q.rows": rows}
    counts.update(extra_counts or {})
    (staging / "_stats.json").write_text(json.dumps({"counts": counts}))
    (staging / "_files.json").write_text(json.dumps(files))
    return staging


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
