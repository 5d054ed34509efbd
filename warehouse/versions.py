"""Versions of published nights: roll a night's day back, expire old snapshots, remove the
files no kept snapshot needs. The Iceberg mechanics are in warehouse/iceberg.py; this
module knows what a night is (a table and its parts, the table committed last)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from warehouse import iceberg
from warehouse.files import MANIFEST
from warehouse.publish import commit_part
from warehouse.staging import run_in_progress
from warehouse.tables import NIGHTLY, PUBLISHED_SCHEMAS, owner_of

log = logging.getLogger(__name__)


def rollback_night(warehouse: str, table: str, day: str, to_snapshot: int | None = None, retries: int = 4
                   ) -> dict:
    """Restores `table`'s day as it was before its latest change (or at `to_snapshot` of
    `table`), with the same run's parts (u2q: rejected, profiles, candidates), the table
    itself last, each by a new snapshot. Raises iceberg.NoEarlierVersion, committing
    nothing, when the table or one of the parts has no such version kept."""
    restore = iceberg.plan_rollback(warehouse, table, day, to_snapshot)
    run_id = json.loads((restore.files[0].parent / MANIFEST).read_text())["run_id"]
    folders = {}
    for part in NIGHTLY[table].parts:
        files = (restore.files if part == table else
                 iceberg.day_files(warehouse, part, day, run_id=run_id))
        if files is None:
            raise iceberg.NoEarlierVersion(f"{part}/dt={day} of run {run_id} is no longer kept: "
                                           "nothing was rolled back")
        folders[part] = files[0].parent
    for part, folder in folders.items():  # NIGHTLY's order: the table itself last
        body = json.loads((folder / MANIFEST).read_text())
        commit_part(warehouse, part, day, folder, body, retries, operation="rollback",
                    extra_summary={iceberg.RESTORED: str(restore.restored)} if part == table else None)
    log.info("rolled %s/dt=%s back to run %s (snapshot %d)", table, day, run_id, restore.restored)
    return {"table": table, "dt": day, "run_id": run_id, "undone_snapshot": restore.undone,
            "restored_snapshot": restore.restored, "parts": list(folders)}


def maintain(warehouse: str, retention_days: float, orphan_min_age_h: float, now: float | None = None) -> dict:
    """Expires every published table's snapshots older than the retention (never the
    current one or the one before it), then removes the files no kept snapshot needs,
    sparing the days a run is writing. Returns what it did, per table."""
    out = {}
    for table in PUBLISHED_SCHEMAS:
        expired = iceberg.expire_snapshots(warehouse, table, retention_days, now)
        owner = owner_of(table).name
        removed = iceberg.remove_orphans(warehouse, table, orphan_min_age_h * 3600,
                                         lambda day, o=owner: run_in_progress(warehouse, o, day), now)
        out[table] = {"expired_snapshots": len(expired), "removed": [str(Path(r)) for r in removed]}
    return out
