"""The day's input as stages 1–2 leave it (each shopper's kept events, the items, the rows
set aside, the counts and schema notes), kept in the warehouse so that the night's other
table and re-runs of the day start from it instead of reading, validating, capping and
joining the day's events again (x2q and u2q read the same day: on the 1k world's 8th
night that was ~3 s of each table, most of it the over-cap shopper's 48,000 events).

It depends only on the day's events and catalog files, the `validate` settings and the
code: its folder is `_clean_day/dt=D/<fingerprint>/` of all of them (warehouse/kept.py),
stored by one rename after the pipeline that wrote it has finished, so a folder found
there holds what reading the day again would give (pipelines/stages/read_day.py: KeepDay,
StoredDay). Days more than `publish.shared_day_days` before the newest are removed.
"""
from __future__ import annotations

from pathlib import Path

from warehouse.history_counts import day_fingerprint
from warehouse.kept import keep_folder, stored_folder

CLEAN_DAY_ROOT = "_clean_day"
# Its files, `<name>.<i>.pkl`: the shoppers, one pickle each in user_id order, in files
# of about `publish.users_per_pass` shoppers (every one written, empty or not); the
# items, the rejections (a file per check), the counts and the schema notes as pickled
# lists, a file for each part that holds any (none for an empty one).
SHOPPERS, ITEMS, REJECTED, COUNTS, NOTES = "shoppers", "items", "rejected", "counts", "notes"


def clean_day_fingerprint(files: dict[str, list[Path]], *, validate: dict, code: str) -> str:
    """What the day's clean input is computed from, hashed: its input files' contents
    (`files`: table → the day's files), the `validate` settings and the code."""
    return day_fingerprint(files, settings={"validate": validate}, blocklist=frozenset(), code=code)


def stored_day(warehouse: str | Path, day: str, fingerprint: str) -> str | None:
    """The folder of this day's kept clean input of this fingerprint, or None."""
    folder = stored_folder(Path(warehouse) / CLEAN_DAY_ROOT, day, fingerprint)
    return str(folder) if folder else None


def keep_day(built_dir: str | Path, warehouse: str | Path, day: str, fingerprint: str, keep_days: int) -> str | None:
    """Stores the clean day a night wrote (`built_dir`, moved). None when sharing is off or
    nothing was written."""
    if keep_days <= 0 or not stored_files(built_dir, SHOPPERS):
        return None
    return str(keep_folder(built_dir, Path(warehouse) / CLEAN_DAY_ROOT, day, fingerprint, keep_days))


def stored_files(folder: str | Path, name: str) -> list[str]:
    """The files of one of a kept day's outputs (`name`: SHOPPERS, ITEMS, ...), by number."""
    return [str(f) for f in sorted(Path(folder).glob(f"{name}.*.pkl"), key=lambda f: int(f.suffixes[-2][1:]))]
