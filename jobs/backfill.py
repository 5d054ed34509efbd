"""Backfill and re-runs: days in date order, each table of a day after the one it reads.

    python -m jobs.backfill --start 2026-11-01 --end 2026-11-03 --input data/input --warehouse data/warehouse

Each day is run and published like a nightly run (x2q, then u2q), so each is idempotent
and replaces a published day atomically. Days depend on each other through the profile
memory: u2q of day D reads profiles/dt=D-1. So the range runs in date order, and a re-run
of day D makes the later published days stale if D's memory changed (they read the old
one); they are rebuilt, in order, only with `--cascade`, and otherwise named in the report.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging

from jobs import nightly
from pipelines.core.config import NIGHTLY_TABLES
from warehouse.files import published_days, read_published

log = logging.getLogger("hintq.backfill")


def day_range(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise ValueError(f"--end {end} is before --start {start}")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def later_days(warehouse: str, end: str) -> list[str]:
    """Published u2q days after `end`, in date order."""
    return [d for d in published_days(warehouse, "u2q") if d > end]


def memory_checksums(warehouse: str, day: str) -> list[str] | None:
    found = read_published(warehouse, "profiles", day)
    return [f["sha256"] for f in found[0]["files"]] if found else None


def backfill(start: str, end: str, input_root: str, warehouse: str, *, cascade: bool = False,
             bootstrap: bool = False, tables=NIGHTLY_TABLES, extra_args=(), generator=None) -> dict:
    """Runs every day of [start, end] (and, with `cascade`, every later published day) in
    date order. Returns {"ran": [{dt, table, run_id, rows, sha256s}], "stale": [...]}."""
    days = day_range(start, end)
    later = later_days(warehouse, end)
    if cascade:
        days += later
    memory_before = memory_checksums(warehouse, end)
    report = {"ran": [], "stale": []}
    for i, day in enumerate(days):
        for table in tables:
            argv = [f"--table={table}", f"--dt={day}", f"--input={input_root}", f"--warehouse={warehouse}",
                    *(["--bootstrap"] if bootstrap and i == 0 else []), *extra_args]
            _, manifest = nightly.run(argv, generator=generator)
            report["ran"].append({"dt": day, "table": table, "run_id": manifest["run_id"], "rows": manifest["rows"],
                                  "sha256": [f["sha256"] for f in manifest["files"]]})
            log.info("backfill: %s/dt=%s published (run %s)", table, day, manifest["run_id"])
    # Later days are stale only if the memory they read changed (a re-run with the same
    # inputs, model and seed rewrites the same bytes).
    if not cascade and later and memory_checksums(warehouse, end) != memory_before:
        report["stale"] = later
    if report["stale"]:
        log.warning("days after %s read the memory it had before this re-run and are now stale: %s "
                    "(re-run with --cascade to rebuild them in order)", end, ", ".join(report["stale"]))
    return report


def run(argv=None, generator=None) -> dict:
    """Backfills the range its flags name; flags it does not know go to every nightly run."""
    parser = argparse.ArgumentParser(prog="jobs.backfill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--cascade", action="store_true", help="also re-run every later published day, in order")
    parser.add_argument("--bootstrap", action="store_true",
                        help="let the first day start from empty profile memory if the day before has none")
    args, rest = parser.parse_known_args(argv)
    return backfill(args.start, args.end, args.input, args.warehouse, cascade=args.cascade,
                    bootstrap=args.bootstrap, extra_args=rest, generator=generator)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    print(json.dumps(run(argv), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
