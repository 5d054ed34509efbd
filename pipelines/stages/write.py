"""Stage 9's staged write: deterministic Parquet shards and small JSON files."""
from __future__ import annotations

import hashlib
import math
import posixpath

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems

from pipelines.core.text import stable_hash
from warehouse.files import write_parquet_bytes


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir, schema, sort_key, to_row, prefix):
        self.out_dir, self.schema = out_dir, schema
        self.sort_key, self.to_row, self.prefix = sort_key, to_row, prefix

    def write(self, shard: int, records: list, n_shards: int) -> dict:
        data = write_parquet_bytes([self.to_row(r) for r in records], self.schema)
        name = f"{self.prefix}-{shard:05d}-of-{n_shards:05d}.parquet"
        path = posixpath.join(self.out_dir, name)
        with FileSystems.create(path) as f:
            f.write(data)
        return {"path": name, "rows": len(records), "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data)}

    def process(self, element, n_shards):
        shard, values = element
        yield shard, self.write(shard, sorted(values, key=self.sort_key), n_shards)


class _WriteBatchedShard(_WriteShard):
    def process(self, element, n_shards):
        shard, batches = element
        yield from super().process((shard, [r for batch in batches for r in batch]), n_shards)


class _WriteEmptyShards(_WriteShard):
    """[(shard, its file's dict)] of the shards written → every shard's dict, each shard no
    row fell in written as an empty file."""

    def process(self, written, n_shards):
        files = dict(written)
        for shard in range(n_shards):
            yield files[shard] if shard in files else self.write(shard, [], n_shards)


def shard_count(rows: int, min_shards: int, max_rows_per_shard: int | None) -> int:
    """At least `min_shards`, and enough that no shard holds more than about
    `max_rows_per_shard` rows: a shard is sorted and written in memory, so its size, not
    the table's, bounds the writer's memory."""
    return max(min_shards, math.ceil(rows / max_rows_per_shard)) if max_rows_per_shard else min_shards


class WriteShardedParquet(beam.PTransform):
    """Writes a PCollection as Parquet shards, rows sorted in each: `n_shards`, or more
    where the rows would exceed `max_rows_per_shard` a shard (see shard_count).

    Beam's WriteToParquet writes rows in bundle order, which differs between runs; a
    re-run of a day must give byte-identical files, so rows go to a shard by a stable
    hash of their key and are sorted inside it. Every shard is written, empty or not, so
    the file list depends on nothing but the number of rows. Files are named
    `<prefix>-<shard>-of-<shards>.parquet`. Returns one dict per file.

    With `batched`, each element is a non-empty list of rows of one key (a user's
    candidates): the same files as from its rows one by one, with one element, not one per
    row, for the runner to move (59k candidate rows of a 1k-shopper night in 1k elements).
    """

    def __init__(self, out_dir: str, schema: pa.Schema, n_shards: int, key, sort_key, to_row,
                 max_rows_per_shard: int | None = None, prefix: str = "part", batched: bool = False):
        super().__init__()
        self.out_dir, self.schema, self.n_shards = out_dir, schema, n_shards
        self.key, self.sort_key, self.to_row = key, sort_key, to_row
        self.max_rows_per_shard, self.prefix, self.batched = max_rows_per_shard, prefix, batched

    def expand(self, pcoll):
        if self.batched:
            rows = pcoll | "RowsInBatch" >> beam.Map(len) | "Count" >> beam.CombineGlobally(sum)
            key, write_shard = (lambda batch, key=self.key: key(batch[0])), _WriteBatchedShard
        else:
            rows = pcoll | "Count" >> beam.combiners.Count.Globally()
            key, write_shard = self.key, _WriteShard
        n = rows | "Shards" >> beam.Map(shard_count, self.n_shards, self.max_rows_per_shard)
        n_shards = beam.pvalue.AsSingleton(n)
        writer = (self.out_dir, self.schema, self.sort_key, self.to_row, self.prefix)
        written = (
            pcoll
            | "KeyByShard" >> beam.Map(lambda r, n, key=key: (stable_hash(key(r)) % n, r), n_shards)
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(write_shard(*writer), n_shards)
        )
        # The shards no row fell in are written after, from the list of the files written
        # (a few dicts), not by grouping the rows with a marker for every shard
        # (batching.GroupEveryIndex): the embedded runner reads a Flatten back as a stage of
        # its own, which moved every row once more (59k candidate rows of a 1k-shopper
        # night: 0.6 s).
        return (written
                | "Written" >> beam.combiners.ToList()
                | "WriteEmptyShards" >> beam.ParDo(_WriteEmptyShards(*writer), n_shards))


def write_json_file(path: str, payload) -> str:
    import json

    data = json.dumps(payload, indent=1, sort_keys=True, default=str).encode()
    try:
        with FileSystems.create(path) as f:
            f.write(data)
    except BeamIOError as exc:
        raise OSError(f"cannot write {path}: {exc}") from exc
    return path


def _to_dict(pairs) -> dict:
    return dict(sorted(pairs))


class WriteStats(beam.PTransform):
    """Sums every (name, n) pair and writes one JSON object to `path`, with the distinct
    schema notes of the readers beside the counts."""

    def __init__(self, path: str, notes):
        super().__init__()
        self.path = path
        self.notes = notes

    def expand(self, counts):
        totals = (
            counts
            | "Sum" >> beam.CombinePerKey(sum)
            | "ToList" >> beam.combiners.ToList()
            | "ToDict" >> beam.Map(_to_dict)
        )
        notes = self.notes | "DistinctNotes" >> beam.Distinct() | "NotesList" >> beam.combiners.ToList()
        return totals | "Write" >> beam.Map(
            lambda d, n, p=self.path: write_json_file(p, {"counts": d, "schema_notes": sorted(n)}),
            beam.pvalue.AsSingleton(notes))


class WriteFileList(beam.PTransform):
    """Collects the per-file dicts of one or more writers into one JSON list."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, files):
        return (files
                | "ToList" >> beam.combiners.ToList()
                | "Write" >> beam.Map(lambda fs, p=self.path: write_json_file(
                    p, sorted(fs, key=lambda f: (f["table"], f["path"])))))


def tag_files(files, table: str):
    return files | f"Tag{table}" >> beam.Map(lambda f, t=table: {**f, "table": t})
