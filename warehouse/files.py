"""Small file helpers shared by the launcher-side steps and the CLI (no Beam): checksums,
the layout of a published day, and reading it at a snapshot."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.manifest import ManifestError, from_dict

# A run's files of one table and day lie in one folder beside that run's manifest. The
# nightly tables are Iceberg tables (warehouse/iceberg.py): a folder is published when a
# snapshot references its files. Folders published by rename (eval, samples, models) hold
# `_SUCCESS`, written last inside staging before the rename.
MANIFEST = "_MANIFEST.json"
SUCCESS = "_SUCCESS"


def partition_dir(warehouse: str | Path, table: str, day: str) -> Path:
    """A day's folder of a table published by rename (eval)."""
    return Path(warehouse) / table / f"dt={day}"


def data_dir(warehouse: str | Path, table: str, day: str, run_id: str) -> Path:
    """Where a run writes its files of an Iceberg table's day, with its `_MANIFEST.json`."""
    return Path(warehouse) / table / "data" / f"dt={day}" / f"run={run_id}"


def read_published(warehouse: str | Path, table: str, day: str, choice=None) -> tuple[dict, list[Path]] | None:
    """The manifest and file paths of `table`'s day at a snapshot (`choice`, an
    iceberg.SnapshotChoice; the current one by default), or None if the day is not
    published there.

    A part of u2q's night (rejected, profiles, candidates) is read at the version written by
    the run whose u2q is read (now, or as of the time asked), so a reader never mixes two
    nights' parts (u2q commits last; a night killed between its commits is invisible). Raises
    ManifestError when the snapshot's files and the run's manifest disagree.
    """
    from warehouse import iceberg
    from warehouse.tables import owner_of

    choice = choice or iceberg.CURRENT
    run_id = None
    owner = owner_of(table).name
    if owner != table and choice.snapshot_id is None:  # a snapshot id names a snapshot of `table` itself
        found = read_published(warehouse, owner, day, choice)
        if found is None:
            return None
        run_id = found[0]["run_id"]
    files = iceberg.day_files(warehouse, table, day, choice, run_id=run_id)
    if files is None:
        return None
    folders = sorted({f.parent for f in files})
    if len(folders) != 1:
        raise ManifestError(f"{table}/dt={day} holds files of {len(folders)} runs: {folders}")
    manifest = run_manifest(folders[0])
    paths = [folders[0] / f["path"] for f in manifest["files"]]
    if sorted(paths) != sorted(files):
        raise ManifestError(f"{table}/dt={day}: the snapshot's files {sorted(p.name for p in files)} are not "
                            f"the run's manifest's {sorted(p.name for p in paths)}")
    return manifest, paths


def run_manifest(folder: str | Path) -> dict:
    """The `_MANIFEST.json` a run wrote beside its files, refused if this code cannot read it."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    from_dict(manifest)
    return manifest


def read_published_table(warehouse: str | Path, table: str, day: str, choice=None) -> pa.Table | None:
    """The rows of a published day as one Arrow table (small tables: CLI, tests)."""
    found = read_published(warehouse, table, day, choice)
    if found is None:
        return None
    return pa.concat_tables([pq.read_table(p) for p in found[1]])


def published_days(warehouse: str | Path, table: str) -> list[str]:
    """Days the current snapshot of `table` holds, in date order."""
    from warehouse import iceberg

    return iceberg.days(warehouse, table)


def read_rows(path: str | Path, columns: list[str] | None = None, batch_size: int = 8192):
    """The rows of one published Parquet file as dicts, batch by batch (the one row reader
    of published tables: u2q's fill and memory inputs, the export, the evaluation)."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=columns):
        yield from batch.to_pylist()


def write_parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    """Serializes rows with fixed writer settings, so equal rows give equal bytes."""
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", compression_level=3,
                   write_statistics=True, use_dictionary=True)
    return buffer.getvalue()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def swap_into_place(staged: Path, target: Path, trash: Path) -> None:
    """Renames `staged` to `target`; an existing `target` (a re-run) is moved aside first
    and deleted after, so the old partition is readable until the new one replaces it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        trash.mkdir(parents=True, exist_ok=True)
        old = trash / f"{target.parent.name}-{target.name}-{os.getpid()}"
        os.rename(target, old)
    os.rename(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
