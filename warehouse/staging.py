"""Where a run writes its output, and the lock that keeps two runs of a day apart.

A night's published files go straight into their Iceberg tables' data folders
(`<table>/data/dt=<D>/run=<id>/`, files.data_dir), where nothing reads them until publish
commits them; its own bookkeeping (stats, file list, catalog index) lands in one staging
folder of the run. Publishing (checks, manifests, the Iceberg commits) happens after the
pipeline has finished. The samples job stages everything in its run folder.
"""
from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import posixpath
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from warehouse.files import data_dir

log = logging.getLogger(__name__)

STATS_FILE = "_stats.json"
FILES_FILE = "_files.json"


@dataclass(frozen=True)
class StagingLayout:
    root: str  # one folder per run: its stats, file list and catalog index
    # (warehouse, day, run id) when the run's tables are Iceberg tables: their files go to
    # the tables' data folders; else (samples) to `<root>/<table>`.
    published: tuple[str, str, str] | None = None
    # A u2q night run in user passes (pipelines/core/passes.py): each pass's files, and the
    # day-level pipeline's (`day`), carry its name, and its stats and file list are its own
    # until the night sums them.
    pass_name: str | None = None

    def of_pass(self, name: str) -> "StagingLayout":
        return dataclasses.replace(self, pass_name=name)

    @property
    def file_prefix(self) -> str:
        """What a written table file's name starts with (`part`, or `part-<pass>`)."""
        return "part" if self.pass_name is None else f"part-{self.pass_name}"

    @classmethod
    def for_night(cls, warehouse: str, table: str, day: str, run_id: str) -> "StagingLayout":
        return cls(str(run_staging_dir(warehouse, table, day, run_id)), (warehouse, day, run_id))

    def table(self, name: str) -> str:
        if self.published is None:
            return posixpath.join(self.root, name)
        warehouse, day, run_id = self.published
        return str(data_dir(warehouse, name, day, run_id))

    @property
    def index(self) -> str:
        return posixpath.join(self.root, "index")

    @property
    def query_rows(self) -> str:
        """The rows of the queries the night verified, kept for its next night
        (warehouse/query_rows.py); the night's, whichever of its pipelines verified them."""
        return posixpath.join(self.root, "query_rows")

    @property
    def history(self) -> str:
        """What the night's day adds to the history's counts (warehouse/history_counts.py)."""
        return posixpath.join(self.root, "history")

    @property
    def clean_day(self) -> str:
        """The day's input as stages 1–2 leave it, kept for the night's other table and
        re-runs of the day (warehouse/clean_day.py)."""
        return posixpath.join(self.root, "clean_day")

    @property
    def day_level(self) -> str:
        """The day-level counts every pass of a u2q night reads (stages/day_level.py)."""
        return posixpath.join(self.root, "day_level.pkl")

    def pass_shoppers(self, pass_name: str) -> str:
        """The sessionized shoppers of one pass: the day-level pipeline writes them, the
        pass reads them."""
        return posixpath.join(self.root, f"shoppers.{pass_name}.pkl")

    @property
    def pass_checks(self) -> str:
        """The checks of the queries this pass verified, for the passes after it."""
        return posixpath.join(self.root, self._own("checks.pkl"))

    @property
    def stats(self) -> str:
        return posixpath.join(self.root, self._own(STATS_FILE))

    @property
    def files(self) -> str:
        return posixpath.join(self.root, self._own(FILES_FILE))

    def _own(self, name: str) -> str:
        stem, ext = posixpath.splitext(name)
        return name if self.pass_name is None else f"{stem}.{self.pass_name}{ext}"


class StagingLock:
    """One run per table and day at a time: a second run fails fast instead of mixing
    files. While the lock is held, any other staging folder of that table and day is
    debris of a killed run and is removed. With `run_id`, the run's own folder is made
    as soon as it holds the lock (before any stage writes), so a run killed at any point
    leaves a folder that names it, whether or not a stage had written there."""

    def __init__(self, warehouse: str, table: str, day: str, run_id: str | None = None):
        self.dir = staging_dir(warehouse, table, day)
        self.run_dir = None if run_id is None else run_staging_dir(warehouse, table, day, run_id)
        self.fd = None

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.dir / ".lock", os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RuntimeError(f"another run of {self.dir.name} is in progress (lock {self.dir / '.lock'})")
        for stale in self.dir.glob("run=*"):
            log.warning("removing staging debris of an earlier run: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
        if self.run_dir is not None:
            self.run_dir.mkdir()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def run_in_progress(warehouse: str, table: str, day: str) -> bool:
    """True while a run of `table` and `day` holds its lock (checked without waiting)."""
    lock = staging_dir(warehouse, table, day) / ".lock"
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def new_run_id() -> str:
    """A run's id: its UTC start second and process id (names its staging folder and is
    recorded in the manifest)."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"


def staging_dir(warehouse: str, table: str, day: str) -> Path:
    return Path(warehouse) / "_staging" / table / f"dt={day}"


def run_staging_dir(warehouse: str, table: str, day: str, run_id: str) -> Path:
    """One run's staging folder; its siblings are debris once the day's lock is held."""
    return staging_dir(warehouse, table, day) / f"run={run_id}"
