"""The manifest of a published partition, declared once: what publish writes and what
every reader (summary, export, evaluation, backfill, u2q's own inputs) may rely on.

A table's manifest (u2q, x2q) accounts for the night; a part's manifest (rejected,
profiles) lists its files. Both carry `manifest_version`; a reader refuses a version it
does not know instead of misreading it. Manifests written before the version existed
are version 1.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """A manifest this code cannot read: an unknown version, or a declared field missing."""


@dataclass(frozen=True)
class PublishedFile:
    path: str  # relative to the partition folder
    rows: int
    sha256: str
    bytes: int


@dataclass
class PartManifest:
    """rejected/ and profiles/: the files, and the run that wrote them."""
    table: str
    dt: str
    files: list[PublishedFile]
    run_id: str | None = None
    manifest_version: int = MANIFEST_VERSION


@dataclass
class TableManifest:
    """u2q/ and x2q/: the night's accounting, checks, models, config and timings."""
    table: str
    dt: str
    rows: int
    files: list[PublishedFile]
    inputs: dict  # per input table: read, used, rejected, rejected_by_stage_reason
    stages: dict  # per DESIGN stage: its counts
    checks: list[str]  # the publish checks passed, in words
    rejected: dict  # where the rejected rows of this day are
    run_id: str | None = None
    model: dict | None = None
    code_version: str | None = None
    config: dict | None = None
    blocklist: dict | None = None
    timings: dict | None = None
    profiles: dict | None = None  # u2q: the profile memory passed on
    profile_memory: dict | None = None  # u2q: the memory read
    x2q_fill: dict | None = None  # u2q: the x2q partition read for fills
    ranking: dict | None = None  # u2q: learned (which ranker) or hand-weighted (why)
    catalog_index: dict | None = None  # the day's catalog index: its fingerprint, reused or built, where kept
    passes: dict | None = None  # u2q: the user passes it ran in (pipelines/core/passes.py)
    history_counts: dict | None = None  # u2q: the history days read from kept counts, and where the day's were kept
    clean_day: dict | None = None  # the day as stages 1–2 left it: its fingerprint, reused or read, where kept
    query_rows: dict | None = None  # the query rows carried from an earlier night (how many), and where the night's were kept
    manifest_version: int = MANIFEST_VERSION


def to_dict(manifest: TableManifest | PartManifest) -> dict:
    """The JSON body: declared fields, unset optional ones left out."""
    return {k: v for k, v in dataclasses.asdict(manifest).items() if v is not None}


def from_dict(body: dict) -> TableManifest | PartManifest:
    """Reads a manifest body, refusing an unknown version or a missing declared field."""
    version = body.get("manifest_version", 1)
    if version != MANIFEST_VERSION:
        raise ManifestError(f"manifest of {body.get('table')}/dt={body.get('dt')} has version {version}; "
                            f"this code reads version {MANIFEST_VERSION}")
    kind = TableManifest if "stages" in body else PartManifest
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(body) - names)
    if unknown:
        raise ManifestError(f"manifest of {body.get('table')}/dt={body.get('dt')} has undeclared fields {unknown}")
    try:
        files = [PublishedFile(**f) for f in body["files"]]
        return kind(**{**body, "files": files})
    except (KeyError, TypeError) as exc:
        raise ManifestError(f"manifest of {body.get('table')}/dt={body.get('dt')} is incomplete: {exc}") from None
