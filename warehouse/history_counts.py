"""Each day's history counts, kept in the warehouse so that a night reads the days before
it as counts instead of reading, validating and sessionizing their events again.

u2q's history channels count the last `evaluate.history_days` days (pipelines/stages/
channels.py). What one day adds to them depends only on that day's events and catalog
input, the settings that validate, sessionize and clean them, the blocklist and the code:
a day's counts are kept under `_history_counts/dt=D/<fingerprint>/` of all of them
(warehouse/kept.py), so counts found there are the ones re-reading the day would give.
The night of D stores D's counts; a day without stored counts (a first night, a new code
version, a changed setting) is read from its events as before.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from warehouse.files import sha256_file
from warehouse.kept import keep_folder, stored_folder

HISTORY_ROOT = "_history_counts"
SEARCHED_PREFIX, PAIRS_PREFIX, DAY_FILE = "searched", "pairs", "day.json"


def day_fingerprint(files: dict[str, list[Path]], *, settings: dict, blocklist: frozenset[str], code: str) -> str:
    """What a day's counts are computed from, hashed: its input files' contents (`files`:
    table → the day's files; by table and name, sorted), the settings, the blocklist and
    the code."""
    inputs = sorted((table, Path(f).name, sha256_file(f)) for table, paths in files.items() for f in paths)
    text = json.dumps({"inputs": inputs, "settings": settings, "blocklist": sorted(blocklist), "code": code},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def stored_counts(warehouse: str | Path, day: str, fingerprint: str) -> str | None:
    """The folder of this day's stored counts of this fingerprint, or None."""
    folder = stored_folder(Path(warehouse) / HISTORY_ROOT, day, fingerprint)
    return str(folder) if folder else None


def keep_counts(built_dir: str | Path, warehouse: str | Path, day: str, fingerprint: str, keep_days: int) -> str | None:
    """Stores the counts a night wrote for its day (`built_dir`, moved); the days more than
    `keep_days` before the newest are removed. None where nothing was written."""
    if not (Path(built_dir) / DAY_FILE).exists():
        return None
    return str(keep_folder(built_dir, Path(warehouse) / HISTORY_ROOT, day, fingerprint, keep_days))
