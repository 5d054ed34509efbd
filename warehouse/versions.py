"""Versions of published nights: roll a night's day back, expire old snapshots, remove the
files no kept snapshot needs. The Iceberg mechanics are in warehouse/iceberg.py; this
module knows what a night is (a table and its parts, the table committed last)."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from warehouse import iceberg
from warehouse.files import MANIFEST, SUCCESS, data_dir, partition_dir, published_days, read_published, run_manifest
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
    run_id = run_manifest(restore.files[0].parent)["run_id"]
    folders = {}
    for part in NIGHTLY[table].parts:
        files = (restore.files if part == table else
                 iceberg.day_files(warehouse, part, day, run_id=run_id))
        if files is None:
            raise iceberg.NoEarlierVersion(f"{part}/dt={day} of run {run_id} is no longer kept: "
                                           "nothing was rolled back")
        folders[part] = files[0].parent
    for part, folder in folders.items():  # NIGHTLY's order: the table itself last
        commit_part(warehouse, part, day, folder, run_manifest(folder), retries, operation="rollback",
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


def copy_warehouse(src: str | Path, dst: str | Path, skip: tuple[str, ...] = (), skip_days: tuple[str, ...] = ()
                   ) -> None:
    """A new warehouse `dst` holding `src`'s folders (less `skip`) and, in its own catalog,
    the current version of every day of every published table (less `skip_days`), without
    their history. An Iceberg table's metadata names absolute paths, so a plain copy of the
    folders would be a second catalog writing the first warehouse's tables."""
    src, dst = Path(src), Path(dst)
    tables = set(PUBLISHED_SCHEMAS)
    shutil.copytree(src, dst, ignore=lambda folder, names: [
        n for n in names if Path(folder) == src and (n in tables or n in skip or n == iceberg.CATALOG_FILE
                                                      or n.startswith("_"))])
    for owner in NIGHTLY.values():
        for day in published_days(src, owner.name):
            if day in skip_days:
                continue
            for part in owner.parts:  # the table itself last, as a night commits
                body, files = read_published(src, part, day)
                folder = data_dir(dst, part, day, body["run_id"])
                folder.mkdir(parents=True)
                for f in [*files, files[0].parent / MANIFEST]:
                    shutil.copy2(f, folder / f.name)
                commit_part(str(dst), part, day, folder, body, retries=0, operation="copy")


def migrate_renamed_partitions(warehouse: str | Path) -> list[str]:
    """Commits the partitions an earlier HintQ published by rename (`<table>/dt=<D>/` with
    `_SUCCESS` and `_MANIFEST.json`) as Iceberg snapshots of their tables, in date order,
    each night's parts before its table; their files stay where they are. Days the table
    already holds are left alone. Returns the partitions committed."""
    done = []
    for owner in NIGHTLY.values():
        legacy = sorted(d.name[3:] for d in (Path(warehouse) / owner.name).glob("dt=*") if (d / SUCCESS).exists())
        held = set(published_days(warehouse, owner.name))
        for day in (d for d in legacy if d not in held):
            for part in owner.parts:
                folder = partition_dir(warehouse, part, day)
                commit_part(str(warehouse), part, day, folder, run_manifest(folder), retries=0, operation="migrate")
                done.append(f"{part}/dt={day}")
    return done
