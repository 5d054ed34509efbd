"""Stage 9, publish: check the run's files, write their manifests, commit them to Iceberg.

Each table of the night is published by one Iceberg commit (warehouse/iceberg.py) that
replaces the day's partition with exactly the run's files, the table itself last: its
commit is the night's commit point, and readers of its parts read the version of that run
(files.read_published). Readers see the old day or the whole new one, on a local disk or
an object store alike. A run that fails any check raises PublishCheckFailed and commits
nothing; its files are orphans for iceberg.remove_orphans.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.core import counters as c
from pipelines.core.lists import LIST_CHECKS
from pipelines.core.triggers import SELECTED_COLD, SELECTED_POPULAR
from warehouse import iceberg
from warehouse.files import MANIFEST, sha256_file
from warehouse.manifest import PartManifest, PublishedFile, TableManifest, to_dict
from warehouse.staging import StagingLayout
from warehouse.tables import NIGHTLY

log = logging.getLogger(__name__)
MAX_LISTED = 200


class PublishCheckFailed(RuntimeError):
    def __init__(self, failures: list[str]):
        super().__init__("publish checks failed: " + "; ".join(failures))
        self.failures = failures


def _input_accounting(counts: dict, table: str) -> dict:
    reasons = c.REJECTED.group(counts, table)
    return {"read": counts.get(c.read(table), 0), "used": counts.get(c.used(table), 0),
            "rejected": sum(reasons.values()), "rejected_by_stage_reason": dict(sorted(reasons.items()))}


def _triggers_selected(counts: dict) -> int:
    return sum(c.TRIGGERS.total(counts, how) for how in (SELECTED_POPULAR, SELECTED_COLD))


def _expected_rows(part: str, table: str, counts: dict) -> int:
    if part == table:
        return c.TableCounters(table).rows.of(counts)
    if part == "profiles":
        return c.PROFILES_ROWS.total(counts)
    if part == "candidates":
        return c.CANDIDATES_ROWS.of(counts)
    return sum(_input_accounting(counts, t)["rejected"] for t in ("events", "catalog"))


def run_checks(staging: StagingLayout, counts: dict, files: list[dict], table: str, k: int
               ) -> tuple[list[str], list[str]]:
    """Returns (passed, failed) descriptions of every publish check of `table`."""
    passed, failed = [], []

    def check(ok: bool, text: str) -> None:
        (passed if ok else failed).append(text)

    for source in ("events", "catalog"):
        acc = _input_accounting(counts, source)
        check(acc["read"] == acc["used"] + acc["rejected"],
              f"{source}: read {acc['read']} == used {acc['used']} + rejected {acc['rejected']}")
    rows = c.TableCounters(table).rows.of(counts)
    active = c.USERS_ACTIVE.of(counts)
    check(active > 0, f"active users {active} > 0")
    if table == "u2q":
        check(rows == active, f"u2q rows {rows} == active users {active}")
    else:
        selected = _triggers_selected(counts)
        check(rows == selected, f"x2q rows {rows} == selected triggers {selected}")
        check(rows > 0, f"x2q rows {rows} > 0")
    for name in LIST_CHECKS:
        n = counts.get(c.LIST_CHECK(name), 0)
        check(n == 0, f"{name} == 0 (found {n}; K={k})")
    for part in NIGHTLY[table].parts:
        for ok, text in part_file_checks(Path(staging.table(part)), files, part,
                                         _expected_rows(part, table, counts)):
            check(ok, text)
    return passed, failed


def part_file_checks(folder: Path, files: list[dict], part: str, expected_rows: int) -> list[tuple[bool, str]]:
    """(ok, what) for each file of `part` the run wrote to `folder` (present, its sha256 and
    row count as listed) and for the part's rows against the count the run's counters expect."""
    out = []
    part_files = [f for f in files if f["table"] == part]
    for f in part_files:
        path = folder / f["path"]
        ok = path.exists() and sha256_file(path) == f["sha256"] \
            and pq.ParquetFile(path).metadata.num_rows == f["rows"]
        out.append((ok, f"{part}/{f['path']}: exists, sha256 and {f['rows']} rows match"))
    total = sum(f["rows"] for f in part_files)
    out.append((total == expected_rows, f"{part} files hold {total} rows == {expected_rows}"))
    return out


def _common_stages(counts: dict, stats: dict, n_prompts_of: str) -> dict:
    prompt_tokens = c.PROMPT_TOKENS.of(counts)
    return {
        "validate": {"catalog_fixed": c.CATALOG_FIXED.group(counts),
                     "schema_notes": stats.get("schema_notes", [])},
        "profile": {"active_users": c.USERS_ACTIVE.of(counts), "events_used": c.EVENTS_USED.of(counts)},
        "compress": {"prompt_tokens_total": prompt_tokens,
                     "prompt_tokens_mean": round(prompt_tokens / max(1, c.GENERATE_FINISH.total(counts)), 1),
                     "prompts_for": n_prompts_of},
        "generate": {"finish": c.GENERATE_FINISH.group(counts), "output_tokens": c.OUTPUT_TOKENS.of(counts)},
        "normalize": {"raw_queries": c.RAW_QUERIES.of(counts),
                      "kept": c.KEPT_QUERIES.of(counts),
                      "discarded": c.NORMALIZE_DISCARDED.group(counts),
                      "popular_discarded": c.POPULAR_DISCARDED.group(counts)},
        "verify": {"distinct_queries": c.VERIFY_PASSED.of(counts) + c.VERIFY_FAILED.total(counts),
                   "passed": c.VERIFY_PASSED.of(counts), "failed": c.VERIFY_FAILED.group(counts)},
    }


def _rank_fill(counts: dict, table: str) -> dict:
    lists = c.TableCounters(table)
    return {"entries": lists.entries.of(counts), "by_source": lists.source.group(counts),
            "full_lists": lists.full_lists.of(counts),
            "rows_with_generated": lists.with_generated.of(counts),
            "discarded": c.RANK_DISCARDED.group(counts)}


def _stages(table: str, counts: dict, stats: dict) -> dict:
    if table == "u2q":
        stages = _common_stages(counts, stats, "users")
        stages["rank_fill"] = {**_rank_fill(counts, table),
                               "users_with_x2q_fill": c.USERS_WITH_X2Q_FILL.of(counts),
                               "candidates": c.CANDIDATES_ROWS.of(counts),
                               "candidates_by_channel": c.CANDIDATES_BY_CHANNEL.group(counts)}
        return stages
    stages = _common_stages(counts, stats, "triggers")
    no_verified = sorted(c.NO_VERIFIED.group(counts).keys())
    stages["triggers"] = {
        "selected": {how: c.TRIGGERS.group(counts, how) for how in (SELECTED_POPULAR, SELECTED_COLD)},
        "rows": c.X2Q_ROWS_BY.group(counts),
        "served": c.X2Q_SERVED_BY.group(counts),
        "with_generated": c.X2Q_WITH_GENERATED_BY.group(counts),
        "skipped": c.TRIGGERS_SKIPPED.group(counts),
        "verified_generated_by_type": c.X2Q_VERIFIED_GENERATED.group(counts),
        # Triggers whose list holds no verified generated query (fallbacks only, or empty).
        "no_verified_queries": {"count": len(no_verified), "triggers": no_verified[:MAX_LISTED]},
    }
    stages["rank_fill"] = _rank_fill(counts, table)
    return stages


def _files_of(files: list[dict], part: str) -> list[PublishedFile]:
    return [PublishedFile(path=f["path"], rows=f["rows"], sha256=f["sha256"], bytes=f["bytes"])
            for f in files if f["table"] == part]


def publish(staging: StagingLayout, warehouse: str, dt: str, table: str, k: int, manifest_extra: dict,
            commit_retries: int = 4) -> dict:
    """Checks the run and publishes `<table>/dt=<dt>` (u2q also its parts: `rejected`, the
    profile memory `profiles` and the ranker's `candidates`), the table itself last.

    Returns the manifest. Raises PublishCheckFailed (nothing published) if a check fails.
    """
    stats = json.loads(Path(staging.stats).read_text())
    counts = stats["counts"]
    files = json.loads(Path(staging.files).read_text())
    passed, failed = run_checks(staging, counts, files, table, k)
    if failed:
        raise PublishCheckFailed(failed)

    parts = {part: _files_of(files, part) for part in NIGHTLY[table].parts if part != table}
    manifest = TableManifest(
        table=table, dt=dt, rows=c.TableCounters(table).rows.of(counts), files=_files_of(files, table),
        inputs={t: _input_accounting(counts, t) for t in ("events", "catalog")},
        stages=_stages(table, counts, stats), checks=passed,
        rejected=({"path": f"rejected/dt={dt}", "files": parts["rejected"]} if "rejected" in parts else
                  {"path": f"rejected/dt={dt}", "written_by": "u2q", "note": "the same input rows; counted above"}),
        profiles=({"path": f"profiles/dt={dt}", "files": parts["profiles"], "rows": c.PROFILES_ROWS.group(counts)}
                  if "profiles" in parts else None),
        **manifest_extra)
    bodies = {part: to_dict(PartManifest(table=part, dt=dt, files=part_files, run_id=manifest.run_id))
              for part, part_files in parts.items()}
    bodies[table] = to_dict(manifest)
    # The table itself last: its commit is the commit point of the night.
    for part in NIGHTLY[table].parts:
        commit_part(warehouse, part, dt, Path(staging.table(part)), bodies[part], commit_retries)
    shutil.rmtree(staging.root, ignore_errors=True)
    log.info("published %s/dt=%s (run %s)", table, dt, manifest.run_id)
    return bodies[table]


def commit_part(warehouse: str, part: str, dt: str, folder: Path, body: dict, retries: int,
                operation: str = "publish", extra_summary: dict | None = None) -> int:
    """Commits the run's files in `folder` (listed by its manifest `body`, written there
    first) as `part`'s day; the snapshot summary carries the manifest."""
    manifest_file = folder / MANIFEST
    text = json.dumps(body, indent=1, sort_keys=True, default=str)
    if not manifest_file.exists() or manifest_file.read_text() != text:
        manifest_file.write_text(text)
    return iceberg.commit_day(warehouse, part, dt, [str(folder / f["path"]) for f in body["files"]], {
        iceberg.OPERATION: operation, iceberg.RUN_ID: str(body["run_id"]),
        iceberg.MANIFEST_PROPERTY: json.dumps(body, sort_keys=True, separators=(",", ":"), default=str),
        **(extra_summary or {})}, retries=retries)
