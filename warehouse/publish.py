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
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from warehouse.files import MANIFEST, SUCCESS, sha256_file, swap_into_place
from warehouse.staging import FILES_FILE, STATS_FILE
from pipelines.core.lists import LIST_CHECKS

log = logging.getLogger(__name__)
# What each nightly table publishes, in rename order: the table itself last.
TABLES = {"u2q": ("rejected", "profiles", "u2q"), "x2q": ("x2q",)}
MAX_LISTED = 200


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


def _triggers_selected(counts: dict) -> int:
    return sum(v for k, v in counts.items() if k.startswith(("triggers.popular.", "triggers.cold.")))


def _expected_rows(part: str, table: str, counts: dict) -> int:
    if part == table:
        return counts.get(f"{table}.rows", 0)
    if part == "profiles":
        return sum(_group(counts, "profiles.rows.").values())
    return sum(_input_accounting(counts, t)["rejected"] for t in ("events", "catalog"))


def run_checks(staging: Path, counts: dict, files: list[dict], table: str, k: int) -> tuple[list[str], list[str]]:
    """Returns (passed, failed) descriptions of every publish check of `table`."""
    passed, failed = [], []

    def check(ok: bool, text: str) -> None:
        (passed if ok else failed).append(text)

    for source in ("events", "catalog"):
        acc = _input_accounting(counts, source)
        check(acc["read"] == acc["used"] + acc["rejected"],
              f"{source}: read {acc['read']} == used {acc['used']} + rejected {acc['rejected']}")
    rows = counts.get(f"{table}.rows", 0)
    active = counts.get("users.active", 0)
    check(active > 0, f"active users {active} > 0")
    if table == "u2q":
        check(rows == active, f"u2q rows {rows} == active users {active}")
    else:
        selected = _triggers_selected(counts)
        check(rows == selected, f"x2q rows {rows} == selected triggers {selected}")
        check(rows > 0, f"x2q rows {rows} > 0")
    for name in LIST_CHECKS:
        n = counts.get(f"check.{name}", 0)
        check(n == 0, f"{name} == 0 (found {n}; K={k})")
    for part in TABLES[table]:
        part_files = [f for f in files if f["table"] == part]
        for f in part_files:
            path = staging / part / f["path"]
            ok = path.exists() and sha256_file(path) == f["sha256"] \
                and pq.ParquetFile(path).metadata.num_rows == f["rows"]
            check(ok, f"{part}/{f['path']}: exists, sha256 and {f['rows']} rows match")
        total = sum(f["rows"] for f in part_files)
        expected = _expected_rows(part, table, counts)
        check(total == expected, f"{part} files hold {total} rows == {expected}")
    return passed, failed


def _common_stages(counts: dict, stats: dict, n_prompts_of: str) -> dict:
    return {
        "validate": {"catalog_fixed": _group(counts, "catalog.fixed."),
                     "schema_notes": stats.get("schema_notes", [])},
        "profile": {"active_users": counts.get("users.active", 0), "events_used": counts.get("events.used", 0)},
        "compress": {"prompt_tokens_total": counts.get("prompts.tokens", 0),
                     "prompt_tokens_mean": round(counts.get("prompts.tokens", 0) / max(1, sum(
                         _group(counts, "generate.finish.").values())), 1),
                     "prompts_for": n_prompts_of},
        "generate": {"finish": _group(counts, "generate.finish."),
                     "output_tokens": counts.get("generate.output_tokens", 0)},
        "normalize": {"raw_queries": counts.get("normalize.raw_queries", 0),
                      "kept": counts.get("normalize.kept", 0),
                      "discarded": _group(counts, "normalize.discarded."),
                      "popular_discarded": _group(counts, "popular.discarded.")},
        "verify": {"distinct_queries": counts.get("verify.passed", 0) + sum(
            _group(counts, "verify.failed.").values()), "passed": counts.get("verify.passed", 0),
            "failed": _group(counts, "verify.failed.")},
    }


def _rank_fill(counts: dict, table: str) -> dict:
    return {"entries": counts.get(f"{table}.entries", 0), "by_source": _group(counts, f"{table}.source."),
            "full_lists": counts.get(f"{table}.full_lists", 0),
            "rows_with_generated": counts.get(f"{table}.with_generated", 0),
            "discarded": _group(counts, "rank.discarded.")}


def _stages(table: str, counts: dict, stats: dict) -> dict:
    if table == "u2q":
        stages = _common_stages(counts, stats, "users")
        stages["rank_fill"] = {**_rank_fill(counts, table),
                               "users_with_x2q_fill": counts.get("fill.users_with_x2q", 0)}
        return stages
    stages = _common_stages(counts, stats, "triggers")
    no_verified = sorted(_group(counts, "no_verified.").keys())
    stages["triggers"] = {
        "selected": {sel: _group(counts, f"triggers.{sel}.") for sel in ("popular", "cold")},
        "rows": _group(counts, "x2q.rows."),
        "served": _group(counts, "x2q.served."),
        "with_generated": _group(counts, "x2q.with_generated_by."),
        "skipped": _group(counts, "triggers.skipped."),
        "verified_generated_by_type": _group(counts, "x2q.verified_generated."),
        # Triggers whose list holds no verified generated query (fallbacks only, or empty).
        "no_verified_queries": {"count": len(no_verified), "triggers": no_verified[:MAX_LISTED]},
    }
    stages["rank_fill"] = _rank_fill(counts, table)
    return stages


def _files_of(files: list[dict], part: str) -> list[dict]:
    return [{"path": f["path"], "rows": f["rows"], "sha256": f["sha256"], "bytes": f["bytes"]}
            for f in files if f["table"] == part]


def publish(staging_root: str, warehouse: str, dt: str, table: str, k: int, manifest_extra: dict) -> dict:
    """Checks the staged run and publishes `<table>/dt=<dt>` (u2q also `rejected/dt=<dt>` and
    the profile memory `profiles/dt=<dt>`), the table itself last.

    Returns the manifest. Raises PublishCheckFailed (nothing published) if a check fails.
    """
    staging = Path(staging_root)
    stats = json.loads((staging / STATS_FILE).read_text())
    counts = stats["counts"]
    files = json.loads((staging / FILES_FILE).read_text())
    passed, failed = run_checks(staging, counts, files, table, k)
    if failed:
        raise PublishCheckFailed(failed)

    manifest = {
        "table": table,
        "dt": dt,
        "inputs": {t: _input_accounting(counts, t) for t in ("events", "catalog")},
        "rows": counts.get(f"{table}.rows", 0),
        "files": _files_of(files, table),
        "stages": _stages(table, counts, stats),
        "checks": passed,
        **manifest_extra,
    }
    bodies = {table: manifest}
    for part in TABLES[table]:
        if part != table:
            part_files = _files_of(files, part)
            manifest[part] = {"path": f"{part}/dt={dt}", "files": part_files}
            bodies[part] = {"table": part, "dt": dt, "files": part_files, "run_id": manifest_extra.get("run_id")}
    if "profiles" in manifest:
        manifest["profiles"]["rows"] = _group(counts, "profiles.rows.")
    if "rejected" not in manifest:
        manifest["rejected"] = {"path": f"rejected/dt={dt}", "written_by": "u2q",
                                "note": "the same input rows; counted above"}
    for part, body in bodies.items():
        (staging / part / MANIFEST).write_text(json.dumps(body, indent=1, sort_keys=True, default=str))
        (staging / part / SUCCESS).write_text("")
    root = Path(warehouse)
    trash = root / "_trash"
    # The table itself last: its partition, published last, is the commit point of the run.
    for part in TABLES[table]:
        swap_into_place(staging / part, root / part / f"dt={dt}", trash)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("published %s", root / table / f"dt={dt}")
    return manifest
