"""Small file helpers shared by the launcher-side steps and the CLI (no Beam): checksums,
and the layout of a published partition."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.manifest import from_dict

# A published partition `<warehouse>/<table>/dt=<day>/` holds its files, its manifest and,
# written last inside staging before the rename, `_SUCCESS`.
MANIFEST = "_MANIFEST.json"
SUCCESS = "_SUCCESS"


def partition_dir(warehouse: str | Path, table: str, day: str) -> Path:
    return Path(warehouse) / table / f"dt={day}"


def read_published(warehouse: str | Path, table: str, day: str) -> tuple[dict, list[Path]] | None:
    """The manifest and file paths of a published partition, or None if it is not
    published (no `_SUCCESS`)."""
    root = partition_dir(warehouse, table, day)
    if not (root / SUCCESS).exists():
        return None
    manifest = json.loads((root / MANIFEST).read_text())
    from_dict(manifest)  # refuses a manifest this code cannot read
    return manifest, [root / f["path"] for f in manifest["files"]]


def published_days(warehouse: str | Path, table: str) -> list[str]:
    """Days with a published partition of `table`, in date order."""
    return sorted(d.name[3:] for d in (Path(warehouse) / table).glob("dt=*") if (d / SUCCESS).exists())


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
