"""What u2q reads of earlier published partitions: yesterday's profile memory and the
day's x2q lists (for the fill step), and what the manifest says of each; the samples job
reads the same memory and the day's u2q lists.
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


def _published_rows(p, warehouse: str, table: str, day: str, columns: list[str], without: str
                    ) -> tuple[object, dict]:
    """The rows of a published partition (`columns`), and what its manifest says of them;
    (None, why) if it is not published, logging what the job does `without` it."""
    found = read_published(warehouse, table, day)
    if found is None:
        log.warning("%s/dt=%s is not published: %s", table, day, without)
        return None, {"used": False, "reason": f"{table}/dt={day} is not published"}
    manifest, files = found
    name = table.upper()
    rows = (p | f"{name}Files" >> beam.Create([str(f) for f in files])
            | f"Read{name}" >> beam.FlatMap(read_rows, columns))
    return rows, {"used": True, "partition": f"{table}/dt={day}", "run_id": manifest["run_id"],
                  "rows": manifest["rows"]}


def read_x2q_fills(p, warehouse: str, day: str) -> tuple[object, dict]:
    """The day's published x2q rows for u2q's fill step, and what the manifest says of them."""
    return _published_rows(p, warehouse, "x2q", day, ["trigger_type", "trigger_id", "queries"],
                           "u2q lists are filled from popular queries only")


def read_u2q_lists(p, warehouse: str, day: str) -> tuple[object, dict]:
    """The day's published u2q lists (Direct samples' top-up), and what the manifest says."""
    return _published_rows(p, warehouse, "u2q", day, ["user_id", "queries"], "Direct answers get no top-up")


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
