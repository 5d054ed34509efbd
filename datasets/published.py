"""Small published partitions built without the nightly job, through the real publish step:
for the tests and benchmarks of what comes after it (export, serving, evaluation)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from warehouse.files import write_parquet_bytes
from warehouse.publish import publish
from warehouse.staging import StagingLayout
from warehouse.tables import PUBLISHED_SCHEMAS


def u2q_rows(n: int, tag: str = "q", k: int = 3) -> list[dict]:
    return [{"user_id": f"U{i:06d}", "prompt_tokens": 10, "n_generated": k, "n_verified": k,
             "queries": [{"query": f"{tag} {i} {j}", "score": 1.0 - j / 10, "rank": j + 1, "category": "Shoes",
                          "source": "generated", "evidence": ["I1"]} for j in range(k)]}
            for i in range(n)]


def x2q_rows(n: int, k: int = 3) -> list[dict]:
    return [{"trigger_type": "item", "trigger_id": f"I{i:06d}", "trigger_text": f"Item {i}", "reasoning": "Why.",
             "selected_as": "popular", "users": 2, "prompt_tokens": 10, "n_generated": k, "n_verified": k,
             "queries": u2q_rows(1, tag=f"t{i}", k=k)[0]["queries"]} for i in range(n)]


def stage_partition(warehouse: Path, day: str, run_id: str, rows: list[dict], counts: dict | None = None,
                    shards: int = 2, table: str = "u2q") -> StagingLayout:
    """Writes a run the way the pipeline does: shards into the tables' data folders,
    _stats.json and _files.json into the run's staging folder. Returns its layout."""
    staging = StagingLayout.for_night(str(warehouse), table, day, run_id)
    rejected = [{"table": "events", "stage": "validate", "reason": "bad_timestamp", "source_file": "f",
                 "source_row": 0, "detail": None, "original": "{}"}]
    files = []
    parts = {table: [rows[i::shards] for i in range(shards)], "rejected": [rejected]}
    if table == "u2q":
        parts["profiles"] = [[]]  # no memory carried in these hand-made partitions
        parts["candidates"] = [[]]  # nor candidates to learn from
    for part, chunks in parts.items():
        folder = Path(staging.table(part))
        folder.mkdir(parents=True)
        for i, chunk in enumerate(chunks):
            blob = write_parquet_bytes(chunk, PUBLISHED_SCHEMAS[part])
            name = f"part-{i:05d}-of-{len(chunks):05d}.parquet"
            (folder / name).write_bytes(blob)
            files.append({"table": part, "path": name, "rows": len(chunk),
                          "sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)})
    stats = {"events.read": 10 + len(rows), "events.used": 9 + len(rows),
             "rejected.events.validate.bad_timestamp": 1, "catalog.read": 3, "catalog.used": 3,
             "users.active": len(rows), f"{table}.rows": len(rows)}
    stats.update(counts or {})
    Path(staging.root).mkdir(parents=True)
    Path(staging.stats).write_text(json.dumps({"counts": stats}))
    Path(staging.files).write_text(json.dumps(files))
    return staging


def published_partition(warehouse: Path, day: str, rows: list[dict], run_id: str, table: str = "u2q") -> dict:
    counts = {"triggers.popular.item": len(rows)} if table == "x2q" else {}
    staging = stage_partition(warehouse, day, run_id, rows, counts, table=table)
    return publish(staging, str(warehouse), day, table, 30, {"run_id": run_id})
