"""The day's catalog index, kept in the warehouse so that the night's other table and
re-runs of the day reuse it instead of embedding the whole catalog again (at 30k items
that is most of a night's non-generation work, and it grows with the catalog).

An index depends only on the day's catalog input, how catalog rows are validated, the
embedder, the index settings and the code. Its folder is named by a fingerprint of all of
them (`_catalog_index/dt=D/<fingerprint>/`), so a folder found there is byte for byte the
index this night would build. A built index is stored by one rename, `_SUCCESS` inside, after
the pipeline that built it has finished; indexes of days more than
`verify.shared_index_days` before the newest stored day are removed (not the day being
stored: a backfill of an old day runs its other table next). A run whose stored index is
removed under it (a far older day re-run while newer nights prune) fails and is not
published; its retry finds no index and builds one.

A day's index is new only where its catalog is: a night that builds one carries over the
rows of the newest kept index (of any day) whose rows were embedded as its own would be
(the same embedder and code: `embedding_key`, kept beside each index), and embeds only
the titles that index lacks. A title's row depends on the title alone (the embedder's
passes: pipelines/engines/embedder.py), so the index is the same bytes as one built from
nothing, and a backfill builds what the night built.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from warehouse.files import SUCCESS, sha256_file
from warehouse.kept import keep_folder, stored_folder

INDEX_ROOT = "_catalog_index"
INDEX_FILE = "catalog.faiss"
EMBEDDING_FILE = "embedding.txt"


def index_fingerprint(catalog_files: list[Path], *, validate: dict, verify: dict, embedder: dict, code: str) -> str:
    """What the day's index is built from, hashed: the catalog files' contents (by name
    relative to their partition, sorted), the settings that choose and embed its rows, the
    embedder's revision and the code version."""
    inputs = sorted((Path(f).name, sha256_file(f)) for f in catalog_files)
    text = json.dumps({"catalog": inputs, "validate": validate, "verify": verify, "embedder": embedder,
                       "code": code}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def embedding_key(embedder: dict, code: str) -> str:
    """What a catalog row is a function of besides its title: the embedder's revision and
    the code that embeds (hashed)."""
    text = json.dumps({"embedder": embedder, "code": code}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def index_to_carry(warehouse: str | Path, embedding: str) -> str | None:
    """The newest kept index, of any day, whose rows have this `embedding_key`, or None."""
    root = Path(warehouse) / INDEX_ROOT
    for day_dir in sorted(root.glob("dt=*"), reverse=True):
        for folder in sorted(day_dir.iterdir()):
            key = folder / EMBEDDING_FILE
            if (folder / SUCCESS).exists() and key.exists() and key.read_text() == embedding:
                return str(folder / INDEX_FILE)
    return None


def stored_index(warehouse: str | Path, day: str, fingerprint: str) -> str | None:
    """The stored index file of this day and fingerprint, or None where there is none."""
    folder = stored_folder(Path(warehouse) / INDEX_ROOT, day, fingerprint)
    return str(folder / INDEX_FILE) if folder else None


def keep_index(built_dir: str | Path, warehouse: str | Path, day: str, fingerprint: str, keep_days: int,
               embedding: str) -> str | None:
    """Stores the index a night built (its folder `built_dir`, moved) for reuse, with the
    `embedding_key` of its rows (warehouse/kept.py: the day's other fingerprints and the
    days more than `keep_days` before the newest are removed). Returns the stored index
    file, or None when sharing is off or nothing was built."""
    built = Path(built_dir)
    if keep_days <= 0 or not (built / INDEX_FILE).exists():
        return None
    (built / EMBEDDING_FILE).write_text(embedding)
    return str(keep_folder(built, Path(warehouse) / INDEX_ROOT, day, fingerprint, keep_days) / INDEX_FILE)
