"""Export a published partition to Redis, verify it, then flip the pointer.

    python -m jobs.export_redis --dt 2026-11-01 --warehouse data/warehouse --redis redis://127.0.0.1:6399/0

Readers see the previous version until the single pointer SET at the end; any failure
before it leaves the pointer where it was, and the partial keys are removed by the next
export once the failed load's lease has run out.
"""
from __future__ import annotations

import json
import logging
import time

from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions
from apache_beam.runners.runner import PipelineState

from jobs.options import HintQOptions
from jobs.runner import job_pipeline, run_job
from online.store import (ExportError, apply_retention, begin_load, connect, flip, served_version,
                          verified_partition, verify_load)
from pipelines.core.serving import parse_version, version_of
from pipelines.stages.export import LoadPartition

log = logging.getLogger("hintq.export")


def run(argv=None, save_main_session=True, test_pipeline=None) -> dict:
    """Loads, verifies and flips. Returns a report; raises ExportError (pointer unchanged)."""
    options = PipelineOptions(argv)
    options.view_as(SetupOptions).save_main_session = save_main_session
    o = options.view_as(HintQOptions)
    o.require("dt", "warehouse")
    manifest, files = verified_partition(o.warehouse, o.table, o.dt)
    version = version_of(o.dt, manifest["run_id"])
    client = connect(o.redis)
    started = time.time()
    cleaned = begin_load(client, o.namespace, o.table, version, o.lease_s)
    p = test_pipeline or job_pipeline(options)
    p | "LoadPartition" >> LoadPartition(files, o.redis, o.namespace, o.table, version, o.write_batch, o.lease_s)
    try:
        state = run_job(p).wait_until_finish()
    except Exception as exc:
        raise ExportError(f"loading {version} failed, pointer unchanged: {type(exc).__name__}: {exc}") from exc
    if state not in (PipelineState.DONE, None):
        raise ExportError(f"load pipeline ended in state {state}; pointer unchanged")
    load_s = time.time() - started
    check = verify_load(client, o.namespace, o.table, version, manifest["rows"], files)
    previous = flip(client, o.namespace, o.table, version, manifest["rows"])
    removed = apply_retention(client, o.namespace, o.table, o.keep_days)
    report = {"table": o.table, "dt": o.dt, "version": version, "previous": previous, "rows": manifest["rows"],
              "verified": check, "load_s": round(load_s, 2),
              "rows_per_s": round(manifest["rows"] / max(load_s, 1e-6), 1),
              "cleaned_partial": cleaned, "retention_removed": removed}
    log.info("export: %s", report)
    return report


def verify_served(warehouse: str, table: str, redis_url: str, namespace: str = "hintq") -> dict:
    """Checks the version readers use now against its published manifest, without loading:
    every key present (count == manifest rows) and a stable sample of rows round-trips.
    Returns a report; raises ExportError saying what is wrong and how to recover."""
    client = connect(redis_url)
    version = served_version(client, namespace, table)
    day, run_id = parse_version(version)
    manifest, files = verified_partition(warehouse, table, day)
    if manifest["run_id"] != run_id:
        raise ExportError(f"{table} serves {version}, but {table}/dt={day} in {warehouse} is now run "
                          f"{manifest['run_id']}: export that run to serve it")
    try:
        check = verify_load(client, namespace, table, version, manifest["rows"], files)
    except ExportError as exc:
        raise ExportError(f"{exc}; export the day again: hintq export --table {table} --date {day} ...") from exc
    return {"table": table, "version": version, "verified": check}


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    try:
        report = run(argv)
    except ExportError as exc:
        log.error("%s", exc)
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
