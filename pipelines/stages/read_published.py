"""What u2q reads of earlier published partitions: yesterday's profile memory and the
day's x2q lists (for the fill step), and what the manifest says of each.
"""
from __future__ import annotations

import datetime as dt
import logging

import apache_beam as beam

from pipelines.core.memory import CarriedProfile
from warehouse.files import published_days, read_published, read_rows

log = logging.getLogger(__name__)


class ProfileMemoryMissing(RuntimeError):
    """Yesterday's profiles are not published though earlier days are: today would start
    from empty memory without anyone asking for it. Nothing is published."""


def read_x2q_fills(p, warehouse: str, day: str) -> tuple[object, dict]:
    """The day's published x2q rows for u2q's fill step, and what the manifest says of them."""
    found = read_published(warehouse, "x2q", day)
    if found is None:
        log.warning("x2q/dt=%s is not published: u2q lists are filled from popular queries only", day)
        return None, {"used": False, "reason": f"x2q/dt={day} is not published"}
    manifest, files = found
    rows = (p | "X2QFiles" >> beam.Create([str(f) for f in files])
            | "ReadX2Q" >> beam.FlatMap(read_rows, ["trigger_type", "trigger_id", "queries"]))
    return rows, {"used": True, "partition": f"x2q/dt={day}", "run_id": manifest["run_id"],
                  "rows": manifest["rows"]}


def read_profile_memory(p, warehouse: str, day: str, bootstrap: bool) -> tuple[object, dict]:
    """Yesterday's profile memory, and what the manifest says of it.

    Day D reads profiles/dt=D-1. If that is missing while an earlier day has profiles, the
    run fails (ProfileMemoryMissing) rather than start from empty memory, unless
    `--bootstrap` asks for exactly that; a warehouse with no earlier profiles at all is a
    first day, which starts empty and says so.
    """
    previous = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    found = read_published(warehouse, "profiles", previous)
    if found is not None:
        manifest, files = found
        carried = (p | "MemoryFiles" >> beam.Create([str(f) for f in files])
                   | "ReadMemory" >> beam.FlatMap(read_rows)
                   | "ToCarried" >> beam.Map(CarriedProfile.from_row))
        return carried, {"read": f"profiles/dt={previous}", "run_id": manifest["run_id"],
                         "rows": sum(f["rows"] for f in manifest["files"]),
                         "sha256": [f["sha256"] for f in manifest["files"]]}
    earlier = [d for d in published_days(warehouse, "profiles") if d < day]
    if earlier and not bootstrap:
        raise ProfileMemoryMissing(
            f"profiles/dt={previous} is not published (the latest earlier profiles are dt={earlier[-1]}): "
            f"day {day} would start from empty memory. Run {previous} first "
            f"(hintq backfill --start {previous} --end {day}) or pass --bootstrap to start from "
            f"empty memory on purpose. Nothing was published.")
    reason = ("--bootstrap: started from empty memory on purpose" if earlier
              else "no earlier profiles in the warehouse: a first day starts from empty memory")
    log.warning("profile memory for dt=%s: %s", day, reason)
    return None, {"read": None, "reason": reason}
