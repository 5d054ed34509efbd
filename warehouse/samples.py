"""IL-SFT samples in the warehouse, published like a night's table:

    <warehouse>/samples/dt=<D>/samples/part-*.parquet     the samples of both tasks
    <warehouse>/samples/dt=<D>/set_aside/part-*.parquet   prompts without a sample, with the reason
    <warehouse>/samples/dt=<D>/_MANIFEST.json             counts, checks, files and their sha256
    <warehouse>/samples/dt=<D>/_SUCCESS

`dt=D` is the prompts' day; their answers come from D+1 (`labels_dt` in the manifest and
in every row). The partition is checked (every prompt is a sample or set aside, files as
listed) and renamed into place whole, so a reader sees all of it or none.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from pipelines.core import counters as c
from pipelines.core.samples import Sample
from warehouse.files import MANIFEST, SUCCESS, read_rows, sha256_file, swap_into_place
from warehouse.publish import PublishCheckFailed, part_file_checks
from warehouse.staging import FILES_FILE, STATS_FILE, new_run_id, run_staging_dir

SAMPLES_TABLE = "samples"
PARTS = ("samples", "set_aside")
SAMPLES_MANIFEST_VERSION = 1


class SamplesMissing(FileNotFoundError):
    """A training window names a day whose samples are not published (or are damaged)."""


def samples_dir(warehouse: str | Path, day: str) -> Path:
    return Path(warehouse) / SAMPLES_TABLE / f"dt={day}"


def sample_days(warehouse: str | Path) -> list[str]:
    return sorted(p.name[3:] for p in (Path(warehouse) / SAMPLES_TABLE).glob("dt=*") if (p / SUCCESS).exists())


def _checks(staging: Path, counts: dict, files: list[dict]) -> tuple[list[str], list[str]]:
    passed, failed = [], []

    def check(ok: bool, text: str) -> None:
        (passed if ok else failed).append(text)

    for task, prompts in c.SAMPLE_PROMPTS.group(counts).items():
        kept, aside = c.SAMPLES_KEPT.group(counts).get(task, 0), c.SAMPLES_SET_ASIDE.total(counts, task)
        check(prompts == kept + aside, f"{task}: prompts {prompts} == samples {kept} + set aside {aside}")
    expected = {"samples": c.SAMPLES_KEPT.total(counts), "set_aside": c.SAMPLES_SET_ASIDE.total(counts)}
    for part in PARTS:
        for ok, text in part_file_checks(staging / part, files, part, expected[part]):
            check(ok, text)
    return passed, failed


def publish_samples(staging_root: str | Path, warehouse: str | Path, day: str, labels_dt: str,
                    manifest_extra: dict) -> dict:
    """Checks the staged samples run and publishes `samples/dt=<day>`; PublishCheckFailed
    (nothing published) if a check fails. Returns the manifest."""
    staging = Path(staging_root)
    stats = json.loads((staging / STATS_FILE).read_text())
    counts = stats["counts"]
    files = json.loads((staging / FILES_FILE).read_text())
    passed, failed = _checks(staging, counts, files)
    if failed:
        raise PublishCheckFailed(failed)
    manifest = {
        "table": SAMPLES_TABLE, "dt": day, "labels_dt": labels_dt, "manifest_version": SAMPLES_MANIFEST_VERSION,
        "prompts": c.SAMPLE_PROMPTS.group(counts), "samples": c.SAMPLES_KEPT.group(counts),
        "set_aside": {task: c.SAMPLES_SET_ASIDE.group(counts, task) for task in c.SAMPLE_PROMPTS.group(counts)},
        "target_queries_by_origin": {task: c.SAMPLE_QUERIES.group(counts, task)
                                     for task in c.SAMPLE_PROMPTS.group(counts)},
        "next_day_has_typed_queries": bool(c.SAMPLES_SHOP_HAS_QUERIES.of(counts)),
        "schema_notes": stats.get("schema_notes", []), "checks": passed,
        "files": [{k: f[k] for k in ("table", "path", "rows", "sha256", "bytes")} for f in files],
        **manifest_extra,
    }
    for name in (STATS_FILE, FILES_FILE):
        (staging / name).unlink()
    shutil.rmtree(staging / "index", ignore_errors=True)
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    (staging / SUCCESS).write_text("")
    swap_into_place(staging, samples_dir(warehouse, day), Path(warehouse) / "_trash")
    return manifest


def read_samples_manifest(warehouse: str | Path, day: str) -> dict:
    folder = samples_dir(warehouse, day)
    if not (folder / SUCCESS).exists():
        raise SamplesMissing(f"samples/dt={day} is not published in {warehouse} "
                             f"(build it: hintq build-samples --date {day})")
    return json.loads((folder / MANIFEST).read_text())


def read_samples(warehouse: str | Path, day: str, task: str) -> list[Sample]:
    """The samples of one task and prompt day, in (key) order; SamplesMissing if the day is
    not published or a file does not match its manifest's sha256."""
    manifest = read_samples_manifest(warehouse, day)
    folder = samples_dir(warehouse, day)
    out = []
    for f in manifest["files"]:
        if f["table"] != "samples":
            continue
        path = folder / "samples" / f["path"]
        if not path.exists() or sha256_file(path) != f["sha256"]:
            raise SamplesMissing(f"samples/dt={day}: {f['path']} is missing or does not match its manifest")
        out.extend(Sample.from_row(r) for r in read_rows(path) if r["task"] == task)
    return sorted(out, key=lambda s: s.key)


def training_window(holdout: str, days: int) -> list[str]:
    """The prompt days a model held out on `holdout` may learn from: the `days` days before
    it. Their answers come from at most `holdout` itself, whose behaviour is the held-out
    day's prompt, never its answer (the held-out answers are of holdout+1)."""
    end = dt.date.fromisoformat(holdout)
    return [(end - dt.timedelta(days=i)).isoformat() for i in range(days, 0, -1)]


def publish_sample_rows(warehouse: str | Path, day: str, labels_dt: str, samples: list[Sample], set_aside: list,
                        manifest_extra: dict) -> dict:
    """Publishes samples built outside Beam (a real-queries table's classes) through the same
    staged layout, counts and checks as the samples job."""
    import hashlib

    from schemas import SAMPLES_SCHEMA, SAMPLES_SET_ASIDE_SCHEMA
    from warehouse.files import write_parquet_bytes

    staging = run_staging_dir(str(warehouse), SAMPLES_TABLE, day, new_run_id())
    shutil.rmtree(staging, ignore_errors=True)
    files = []
    for part, rows, schema in (("samples", samples, SAMPLES_SCHEMA), ("set_aside", set_aside, SAMPLES_SET_ASIDE_SCHEMA)):
        data = write_parquet_bytes([r.to_row() for r in sorted(rows, key=lambda r: (r.task, r.key))], schema)
        (staging / part).mkdir(parents=True)
        (staging / part / "part-00000-of-00001.parquet").write_bytes(data)
        files.append({"table": part, "path": "part-00000-of-00001.parquet", "rows": len(rows),
                      "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    counts: dict[str, int] = {}
    for s in samples:
        for name in (c.SAMPLE_PROMPTS(s.task), c.SAMPLES_KEPT(s.task), *(c.SAMPLE_QUERIES(s.task, o) for o in s.origins)):
            counts[name] = counts.get(name, 0) + 1
    for a in set_aside:
        for name in (c.SAMPLE_PROMPTS(a.task), c.SAMPLES_SET_ASIDE(a.task, a.reason)):
            counts[name] = counts.get(name, 0) + 1
    (staging / STATS_FILE).write_text(json.dumps({"counts": dict(sorted(counts.items())), "schema_notes": []}))
    (staging / FILES_FILE).write_text(json.dumps(files))
    return publish_samples(staging, warehouse, day, labels_dt, manifest_extra)
