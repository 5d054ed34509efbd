"""The model registry of the warehouse: learned rankers, published like tables.

    <warehouse>/models/ranker/dt=<D>/model.txt        LightGBM's text model
    <warehouse>/models/ranker/dt=<D>/_MANIFEST.json   what it learned from and how well
    <warehouse>/models/ranker/dt=<D>/_SUCCESS

`dt=D` is the day of the candidates it learned from; their labels are day D+1's
behaviour. The night of day N ranks with the newest ranker whose labels day is at most N
(so D < N): it never sees a day after the night it ranks, and the evaluation of night N
(against N+1) is of a model that never saw N+1. A ranker is staged and renamed into place
with its manifest and `_SUCCESS`, so a reader sees all of it or none.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from warehouse.files import MANIFEST, SUCCESS, swap_into_place

RANKER_ROOT = Path("models") / "ranker"
MODEL_FILE = "model.txt"
RANKER_MANIFEST_VERSION = 1


class RankerCorrupt(ValueError):
    """A published ranker whose files are missing, altered or unreadable."""


@dataclass(frozen=True)
class PublishedRanker:
    dt: str  # the candidates' day
    path: Path
    manifest: dict
    model_text: str

    @property
    def labels_dt(self) -> str:
        return self.manifest["labels_dt"]

    @property
    def diversity(self) -> float | None:
        """The diversity weight its training chose on validation users, if it chose one."""
        return ((self.manifest.get("report") or {}).get("diversity") or {}).get("chosen")

    def describe(self) -> dict:
        return {"path": str(RANKER_ROOT / f"dt={self.dt}"), "dt": self.dt, "labels_dt": self.labels_dt,
                "model_sha256": self.manifest["model_sha256"]}


def ranker_dir(warehouse: str | Path, day: str) -> Path:
    return Path(warehouse) / RANKER_ROOT / f"dt={day}"


def ranker_days(warehouse: str | Path) -> list[str]:
    """Days with a complete (`_SUCCESS`) ranker, oldest first."""
    root = Path(warehouse) / RANKER_ROOT
    return sorted(p.name[3:] for p in root.glob("dt=*") if (p / SUCCESS).exists())


def publish_ranker(warehouse: str | Path, day: str, model_text: str, manifest: dict) -> Path:
    """Writes model and manifest (adding the model's sha256 and the format version) into a
    staging folder and renames it into place."""
    target = ranker_dir(warehouse, day)
    staged = target.parent / f"_staging-dt={day}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    data = model_text.encode()
    (staged / MODEL_FILE).write_bytes(data)
    body = {**manifest, "dt": day, "model_file": MODEL_FILE, "model_sha256": hashlib.sha256(data).hexdigest(),
            "manifest_version": RANKER_MANIFEST_VERSION}
    (staged / MANIFEST).write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    (staged / SUCCESS).write_text("")
    swap_into_place(staged, target, Path(warehouse) / "_trash")
    return target


def read_ranker(warehouse: str | Path, day: str) -> PublishedRanker:
    """The ranker of `day`; RankerCorrupt if a file is missing, altered or unreadable."""
    folder = ranker_dir(warehouse, day)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        data = (folder / manifest.get("model_file", MODEL_FILE)).read_bytes()
    except (OSError, ValueError) as exc:
        raise RankerCorrupt(f"ranker {folder}: {exc}") from None
    if manifest.get("manifest_version") != RANKER_MANIFEST_VERSION:
        raise RankerCorrupt(f"ranker {folder}: manifest version {manifest.get('manifest_version')}, "
                            f"this code reads {RANKER_MANIFEST_VERSION}")
    if hashlib.sha256(data).hexdigest() != manifest.get("model_sha256"):
        raise RankerCorrupt(f"ranker {folder}: {MODEL_FILE} does not match the sha256 of its manifest")
    return PublishedRanker(dt=day, path=folder, manifest=manifest, model_text=data.decode())


def ranker_for_night(warehouse: str | Path, night: str) -> PublishedRanker | None:
    """The newest ranker trained strictly before the night's day (its labels day at most
    the night's), or None if there is none yet. RankerCorrupt if that newest one is
    damaged: an older one is not silently used instead."""
    day = dt.date.fromisoformat(night)
    before = [d for d in ranker_days(warehouse) if dt.date.fromisoformat(d) < day]
    if not before:
        return None
    ranker = read_ranker(warehouse, before[-1])
    if dt.date.fromisoformat(ranker.labels_dt) > day:
        raise RankerCorrupt(f"ranker dt={ranker.dt} learned from labels of {ranker.labels_dt}, "
                            f"after the night {night} it would rank")
    return ranker
