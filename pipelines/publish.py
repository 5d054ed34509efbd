"""Stage 9, publish: check the staged partition, write its manifest, rename it into place.

A partition is published by one directory rename, with `_MANIFEST.json` and `_SUCCESS`
already inside it, so readers see either the old partition or the whole new one. A run
that fails any check raises PublishCheckFailed and publishes nothing.

This module does local-filesystem renames (the embedded default). On an object store,
where a rename is a copy, `_SUCCESS` written last is the commit marker readers wait for.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.files import sha256_file
from pipelines.u2q import FILES_FILE, STATS_FILE

log = logging.getLogger(__name__)
MANIFEST = "_MANIFEST.json"
SUCCESS = "_SUCCESS"


class PublishCheckFailed(RuntimeError):
    def __init__(self, failures: list[str]):
        super().__init__("publish checks failed: " + "; ".join(failures))
        self.failures = failures


def _input_accounting(counts: dict, table: str) -> dict:
    reasons = {k.split(".", 2)[2]: v for k, v in counts.items() if k.startswith(f"rejected.{table}.")}
    return {"read": counts.get(f"{table}.read", 0), "used": counts.get(f"{table}.used", 0),
            "rejected": sum(reasons.values()), "rejected_by_stage_reason": dict(sorted(reasons.items()))}


def _group(counts: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sorted(counts.items()) if k.startswith(prefix)}


def run_checks(staging: Path, counts: dict, files: list[dict], k: int) -> tuple[list[str], list[str]]:
    """Returns (passed, failed) descriptions of every publish check."""
    passed, failed = [], []

    def check(ok: bool, text: str) -> None:
        (passed if ok else failed).append(text)

    for table in ("events", "catalog"):
        acc = _input_accounting(counts, table)
        check(acc["read"] == acc["used"] + acc["rejected"],
              f"{table}: read {acc['read']} == used {acc['used']} + rejected {acc['rejected']}")
    rows = counts.get("u2q.rows", 0)
    active = counts.get("users.active", 0)
    check(rows == active, f"u2q rows {rows} == active users {active}")
    check(active > 0, f"active users {active} > 0")
    for name in ("null_user_id", "list_over_k", "unknown_source", "entry_without_evidence", "null_query"):
        n = counts.get(f"check.{name}", 0)
        check(n == 0, f"{name} == 0 (found {n}; K={k})")
    for table in ("u2q", "rejected"):
        table_files = [f for f in files if f["table"] == table]
        for f in table_files:
            path = staging / table / f["path"]
            ok = path.exists() and sha256_file(path) == f["sha256"] \
                and pq.ParquetFile(path).metadata.num_rows == f["rows"]
            check(ok, f"{table}/{f['path']}: exists, sha256 and {f['rows']} rows match")
        total = sum(f["rows"] for f in table_files)
        expected = rows if table == "u2q" else sum(
            _input_accounting(counts, t)["rejected"] for t in ("events", "catalog"))
        check(total == expected, f"{table} files hold {total} rows == {expected}")
    return passed, failed


def _swap_into_place(staged: Path, target: Path, trash: Path) -> None:
    """Renames `staged` to `target`; an existing `target` (a re-run) is moved aside first
    and deleted after, so the old partition is readable until the new one replaces it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        trash.mkdir(parents=True, exist_ok=True)
        old = trash / f"{target.parent.name}-{target.name}-{os.getpid()}"
        os.rename(target, old)
    os.rename(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def publish(staging_root: str, warehouse: str, dt: str, k: int, manifest_extra: dict) -> dict:
    """Checks the staged run and publishes `u2q/dt=<dt>` and `rejected/dt=<dt>`.

    Returns the manifest. Raises PublishCheckFailed (nothing published) if a check fails.
    """
    staging = Path(staging_root)
    stats = json.loads((staging / STATS_FILE).read_text())
    counts = stats["counts"]
    files = json.loads((staging / FILES_FILE).read_text())
    passed, failed = run_checks(staging, counts, files, k)
    if failed:
        raise PublishCheckFailed(failed)

    u2q_files = [{"path": f["path"], "rows": f["rows"], "sha256": f["sha256"], "bytes": f["bytes"]}
                 for f in files if f["table"] == "u2q"]
    rejected_files = [{"path": f["path"], "rows": f["rows"], "sha256": f["sha256"]}
                      for f in files if f["table"] == "rejected"]
    manifest = {
        "table": "u2q",
        "dt": dt,
        "inputs": {t: _input_accounting(counts, t) for t in ("events", "catalog")},
        "rows": counts.get("u2q.rows", 0),
        "files": u2q_files,
        "rejected": {"path": f"rejected/dt={dt}", "files": rejected_files},
        "stages": {
            "validate": {"catalog_fixed": _group(counts, "catalog.fixed."),
                         "schema_notes": stats.get("schema_notes", [])},
            "profile": {"active_users": counts.get("users.active", 0), "events_used": counts.get("events.used", 0)},
            "compress": {"prompt_tokens_total": counts.get("prompts.tokens", 0),
                         "prompt_tokens_mean": round(counts.get("prompts.tokens", 0) / max(1, counts.get(
                             "users.active", 0)), 1)},
            "generate": {"finish": _group(counts, "generate.finish."),
                         "output_tokens": counts.get("generate.output_tokens", 0)},
            "normalize": {"raw_queries": counts.get("normalize.raw_queries", 0),
                          "kept": counts.get("normalize.kept", 0),
                          "discarded": _group(counts, "normalize.discarded."),
                          "popular_discarded": _group(counts, "popular.discarded.")},
            "verify": {"distinct_queries": counts.get("verify.passed", 0) + sum(
                _group(counts, "verify.failed.").values()), "passed": counts.get("verify.passed", 0),
                "failed": _group(counts, "verify.failed.")},
            "rank_fill": {"entries": counts.get("u2q.entries", 0), "by_source": _group(counts, "u2q.source."),
                          "full_lists": counts.get("u2q.full_lists", 0),
                          "users_with_generated": counts.get("u2q.users_with_generated", 0)},
        },
        "checks": passed,
        **manifest_extra,
    }
    for table, body in (("u2q", manifest), ("rejected", {"table": "rejected", "dt": dt, "files": rejected_files,
                                                         "run_id": manifest_extra.get("run_id")})):
        (staging / table / MANIFEST).write_text(json.dumps(body, indent=1, sort_keys=True, default=str))
        (staging / table / SUCCESS).write_text("")
    root = Path(warehouse)
    trash = root / "_trash"
    # rejected first: the u2q partition, published last, is the commit point of the night.
    _swap_into_place(staging / "rejected", root / "rejected" / f"dt={dt}", trash)
    _swap_into_place(staging / "u2q", root / "u2q" / f"dt={dt}", trash)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("published %s", root / "u2q" / f"dt={dt}")
    return manifest
