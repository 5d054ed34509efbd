"""Folders a night keeps in the warehouse for later nights and re-runs, by day and
fingerprint (`<root>/dt=D/<fingerprint>/`): the day's catalog index
(warehouse/catalog_index.py) and the day's history counts (warehouse/history_counts.py).
A folder is stored by one rename with `_SUCCESS` inside, after the pipeline that wrote it
has finished, so a folder found is whole; the folders of other fingerprints of the day
and of days more than `keep_days` before the newest are removed."""
from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import shutil
from pathlib import Path

from warehouse.files import SUCCESS

log = logging.getLogger(__name__)


def stored_folder(root: str | Path, day: str, fingerprint: str) -> Path | None:
    """The stored folder of this day and fingerprint, or None where there is none."""
    folder = Path(root) / f"dt={day}" / fingerprint
    return folder if (folder / SUCCESS).exists() else None


def keep_folder(built: str | Path, root: str | Path, day: str, fingerprint: str, keep_days: int) -> Path:
    """Moves `built` to `<root>/dt=<day>/<fingerprint>/` (unless another run stored it
    first), removes the day's other fingerprints and the days more than `keep_days` before
    the newest (not `day`: a backfill of an old day runs its other table next)."""
    day_dir = Path(root) / f"dt={day}"
    final = day_dir / fingerprint
    day_dir.mkdir(parents=True, exist_ok=True)
    # x2q and u2q of a day may finish together: one stores, the other finds it stored
    with open(day_dir.parent / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / SUCCESS).exists():
            (Path(built) / SUCCESS).write_text("")
            shutil.rmtree(final, ignore_errors=True)  # debris of a store that was killed midway
            os.replace(built, final)
        for other in day_dir.iterdir():
            if other.name != fingerprint:
                shutil.rmtree(other, ignore_errors=True)
        _remove_old_days(day_dir.parent, keep_days, day)
    return final


def _remove_old_days(root: Path, keep_days: int, stored_day: str) -> None:
    days = sorted(p.name.removeprefix("dt=") for p in root.glob("dt=*"))
    oldest_kept = dt.date.fromisoformat(days[-1]) - dt.timedelta(days=keep_days - 1)
    for day in days:
        if day != stored_day and dt.date.fromisoformat(day) < oldest_kept:
            log.info("removing %s/dt=%s (older than %d days)", root.name, day, keep_days)
            shutil.rmtree(root / f"dt={day}", ignore_errors=True)
