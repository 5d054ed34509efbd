"""The model registry of the warehouse: learned rankers, published like tables, and the
fine-tuned generators, versioned (below).

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

from warehouse.files import MANIFEST, SUCCESS, sha256_file, swap_into_place

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


# --- the generators' registry ------------------------------------------------------------
#
#     <warehouse>/models/generator/<task>/v=<N>/          weights, config, tokenizer
#     <warehouse>/models/generator/<task>/v=<N>/MODEL_CARD.json
#     <warehouse>/models/generator/<task>/v=<N>/_SUCCESS
#     <warehouse>/models/generator/<task>/_PROMOTED.json  the version nights serve, and why
#
# Versions count up per task and are never overwritten. A version is staged and renamed
# into place whole. Promotion is one atomic replace of `_PROMOTED.json`, which keeps the
# history of every promotion; a version the gate refused stays in the registry, not served.

GENERATOR_ROOT = Path("models") / "generator"
CARD = "MODEL_CARD.json"
PROMOTED = "_PROMOTED.json"
WEIGHTS = "model.safetensors"
CARD_VERSION = 1
REGISTRY_PREFIX = "registry:"


class GeneratorVersionUnusable(ValueError):
    """A registry reference that names no complete version, or a version whose weights do
    not match its card: nothing is generated or published with it."""


@dataclass(frozen=True)
class GeneratorVersion:
    task: str
    version: int
    path: Path
    card: dict

    @property
    def weights_sha256(self) -> str:
        return self.card["weights_sha256"]

    @property
    def name(self) -> str:
        return f"{REGISTRY_PREFIX}{self.task}@v{self.version}"

    def describe(self) -> dict:
        return {"name": self.name, "path": str(GENERATOR_ROOT / self.task / f"v={self.version}"),
                "weights_sha256": self.weights_sha256, "base": self.card.get("base")}


def generator_root(warehouse: str | Path, task: str) -> Path:
    return Path(warehouse) / GENERATOR_ROOT / task


def generator_versions(warehouse: str | Path, task: str) -> list[int]:
    """Complete (`_SUCCESS`) versions of `task`, oldest first."""
    root = generator_root(warehouse, task)
    return sorted(int(p.name[2:]) for p in root.glob("v=*") if p.name[2:].isdigit() and (p / SUCCESS).exists())


def publish_generator(warehouse: str | Path, task: str, trained_dir: Path, card: dict) -> GeneratorVersion:
    """Moves a trained model folder into the registry as the next version of `task`, with
    its card (adding the weights' sha256); staged and renamed whole."""
    root = generator_root(warehouse, task)
    root.mkdir(parents=True, exist_ok=True)
    sha = sha256_file(trained_dir / WEIGHTS)
    existing = [int(p.name[2:]) for p in root.glob("v=*") if p.name[2:].isdigit()]
    version = max(existing, default=0) + 1
    body = {**card, "task": task, "version": version, "weights_file": WEIGHTS, "weights_sha256": sha,
            "card_version": CARD_VERSION}
    (trained_dir / CARD).write_text(json.dumps(body, indent=1, sort_keys=True, default=str) + "\n")
    (trained_dir / SUCCESS).write_text("")
    target = root / f"v={version}"
    os.rename(trained_dir, target)  # a new name: never replaces a version
    return GeneratorVersion(task, version, target, body)


def read_generator(warehouse: str | Path, task: str, version: int, check_weights: bool = True) -> GeneratorVersion:
    """A version and its card; GeneratorVersionUnusable if it is incomplete or its weights
    do not match the card's sha256."""
    folder = generator_root(warehouse, task) / f"v={version}"
    if not (folder / SUCCESS).exists():
        raise GeneratorVersionUnusable(f"{folder} is not a complete model version (no {SUCCESS}); "
                                       f"versions of {task}: {generator_versions(warehouse, task) or 'none'}")
    try:
        card = json.loads((folder / CARD).read_text())
        if check_weights and sha256_file(folder / card["weights_file"]) != card["weights_sha256"]:
            raise GeneratorVersionUnusable(f"{folder}: {card['weights_file']} does not match the sha256 of its card")
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, GeneratorVersionUnusable):
            raise
        raise GeneratorVersionUnusable(f"{folder}: {type(exc).__name__}: {exc}") from None
    return GeneratorVersion(task, version, folder, card)


def promoted(warehouse: str | Path, task: str) -> dict | None:
    """`_PROMOTED.json` of `task` ({version, history}), or None if nothing was promoted."""
    path = generator_root(warehouse, task) / PROMOTED
    return json.loads(path.read_text()) if path.exists() else None


def promote_generator(warehouse: str | Path, task: str, version: int, why: dict) -> dict:
    """Makes `version` the one nights serve (atomic replace), recording why in the history."""
    read_generator(warehouse, task, version)
    path = generator_root(warehouse, task) / PROMOTED
    before = promoted(warehouse, task) or {"history": []}
    body = {"task": task, "version": version,
            "history": [*before["history"], {"version": version, **why}]}
    tmp = path.with_name(f".{PROMOTED}.{os.getpid()}")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)
    return body


def resolve_registry(warehouse: str | Path | None, reference: str, default_task: str | None = None
                     ) -> GeneratorVersion:
    """`registry:<task>@<N|vN|latest|promoted>` (or `registry:promoted`, the task of the job)
    → the version it names, checked. GeneratorVersionUnusable otherwise."""
    body = reference[len(REGISTRY_PREFIX):]
    task, _, which = body.rpartition("@") if "@" in body else (default_task, "", body)
    task = task or default_task
    if warehouse is None:
        raise GeneratorVersionUnusable(f"{reference}: no warehouse given to find the registry in")
    if not task:
        raise GeneratorVersionUnusable(f"{reference}: name the task (registry:direct@promoted)")
    versions = generator_versions(warehouse, task)
    if which == "latest":
        if not versions:
            raise GeneratorVersionUnusable(f"{reference}: {generator_root(warehouse, task)} holds no version")
        version = versions[-1]
    elif which == "promoted":
        chosen = promoted(warehouse, task)
        if chosen is None:
            raise GeneratorVersionUnusable(f"{reference}: no version of {task} was promoted in {warehouse} "
                                           f"(versions: {versions or 'none'})")
        version = chosen["version"]
    elif which.lstrip("v").isdigit():
        version = int(which.lstrip("v"))
    else:
        raise GeneratorVersionUnusable(f"{reference}: expected @<N>, @latest or @promoted")
    return read_generator(warehouse, task, version)
