"""Builders of small published partitions for tests that start after the nightly job."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines.io import write_parquet_bytes
from pipelines.publish import publish
from schemas import REJECTED_SCHEMA, U2Q_SCHEMA


def u2q_rows(n: int, tag: str = "q", k: int = 3) -> list[dict]:
    return [{"user_id": f"U{i:06d}", "prompt_tokens": 10, "n_generated": k, "n_verified": k,
             "queries": [{"query": f"{tag} {i} {j}", "score": 1.0 - j / 10, "rank": j + 1, "category": "Shoes",
                          "source": "generated", "evidence": ["I1"]} for j in range(k)]}
            for i in range(n)]


def stage_partition(staging: Path, rows: list[dict], counts: dict | None = None, shards: int = 2) -> Path:
    """Writes a staged run the way the pipeline does: shards, _stats.json, _files.json."""
    (staging / "u2q").mkdir(parents=True)
    (staging / "rejected").mkdir()
    rejected = [{"table": "events", "stage": "validate", "reason": "bad_timestamp", "source_file": "f",
                 "source_row": 0, "detail": None, "original": "{}"}]
    files = []
    parts = {"u2q": [rows[i::shards] for i in range(shards)], "rejected": [rejected]}
    for table, chunks in parts.items():
        schema = U2Q_SCHEMA if table == "u2q" else REJECTED_SCHEMA
        for i, chunk in enumerate(chunks):
            blob = write_parquet_bytes(chunk, schema)
            name = f"part-{i:05d}-of-{len(chunks):05d}.parquet"
            (staging / table / name).write_bytes(blob)
            files.append({"table": table, "path": name, "rows": len(chunk),
                          "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})
    stats = {"events.read": 10 + len(rows), "events.used": 9 + len(rows),
             "rejected.events.validate.bad_timestamp": 1, "catalog.read": 3, "catalog.used": 3,
             "users.active": len(rows), "u2q.rows": len(rows)}
    stats.update(counts or {})
    (staging / "_stats.json").write_text(json.dumps({"counts": stats}))
    (staging / "_files.json").write_text(json.dumps(files))
    return staging


def published_partition(warehouse: Path, day: str, rows: list[dict], run_id: str) -> dict:
    staging = stage_partition(warehouse / "_staging" / f"dt={day}" / f"run={run_id}", rows)
    return publish(str(staging), str(warehouse), day, 30, {"run_id": run_id})
