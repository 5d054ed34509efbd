"""The pipeline's edges: reading input partitions and writing deterministic Parquet shards."""
from __future__ import annotations

import hashlib
import io
import logging
import posixpath

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io import fileio
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.fileio import EmptyMatchTreatment

from pipelines.core.text import stable_hash
from schemas.inputs import INPUT_SCHEMAS, OPTIONAL_COLUMNS

log = logging.getLogger(__name__)
SCHEMA_NOTES = "schema_notes"


class InputSchemaError(ValueError):
    """An input file lacks a required column: names the file and the column."""


class InputFileUnreadable(ValueError):
    """An input file is not readable Parquet (truncated, not Parquet at all): names the file."""


class EmptyInputPartition(ValueError):
    """An input partition has files but no rows: nothing to compute, nothing published."""


# Id columns are strings in the contract. A file whose id column has another type is
# handled by one rule per file, noted in the manifest's schema notes:
#   integer → cast to its decimal string (lossless: 555 and "555" are the same shopper);
#   anything else (float, bool, ...) → left as it is, so validate rejects every row of
#   that file as `id_wrong_type` (555.0 is not silently a shopper of its own, and a float
#   id may already have lost digits).
INPUT_ID_COLUMNS = {"events": ("user_id", "item_id"), "catalog": ("item_id",)}


def _open_parquet(f, path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(f)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputFileUnreadable(f"{path}: not a readable Parquet file ({exc})") from None


def partition_row_counts(root: str, table: str, dt: str) -> dict[str, int]:
    """Rows per file of an input partition, read from the Parquet footers only (cheap).
    Raises InputFileUnreadable naming a file whose footer cannot be read."""
    counts = {}
    for meta in FileSystems.match([partition_glob(root, table, dt)])[0].metadata_list:
        with FileSystems.open(meta.path) as f:
            counts[meta.path] = _open_parquet(f, meta.path).metadata.num_rows
    return dict(sorted(counts.items()))


def partition_glob(root: str, table: str, dt: str) -> str:
    return posixpath.join(root, table, f"dt={dt}", "*.parquet")


def _decode(values: list) -> list:
    # Strings are read as bytes and decoded here, so invalid UTF-8 in one value becomes
    # U+FFFD in that value (rejected or cleaned by validate) instead of failing the file.
    return [None if v is None else v.decode("utf-8", "replace") for v in values]


def read_conformed_rows(readable, table: str):
    """Yields one dict per row with `_file`/`_row` provenance, columns as the contract
    names them. Extra columns are ignored and noted; a missing optional column is null;
    a missing required column raises InputSchemaError naming file and column. Values keep
    their file's type (a drifted `ts` string is cast by validate, per its rules)."""
    path = readable.metadata.path
    name = posixpath.basename(path)
    expected = INPUT_SCHEMAS[table]
    with readable.open() as f:
        parquet = _open_parquet(f, path)
        present = set(parquet.schema_arrow.names)
        for column in sorted(present - set(expected.names)):
            yield beam.pvalue.TaggedOutput(SCHEMA_NOTES, f"{table}/{name}: extra column {column!r} ignored")
        id_casts = {}
        for column in INPUT_ID_COLUMNS[table]:
            if column not in present:
                continue
            kind = parquet.schema_arrow.field(column).type
            if pa.types.is_integer(kind):
                id_casts[column] = pa.string()
                yield beam.pvalue.TaggedOutput(
                    SCHEMA_NOTES, f"{table}/{name}: id column {column!r} is {kind}: cast to its decimal string")
            elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
                yield beam.pvalue.TaggedOutput(
                    SCHEMA_NOTES, f"{table}/{name}: id column {column!r} is {kind}: its rows are rejected "
                                  "as id_wrong_type")
        for field in expected:
            if field.name not in present:
                if field.name not in OPTIONAL_COLUMNS[table]:
                    raise InputSchemaError(f"{path}: required column {field.name!r} is missing")
                yield beam.pvalue.TaggedOutput(
                    SCHEMA_NOTES, f"{table}/{name}: missing column {field.name!r} read as null")
        columns = [c for c in expected.names if c in present]
        row = 0
        for batch in _batches(parquet, path, columns):
            data = {}
            for col_name in expected.names:
                if col_name not in present:
                    data[col_name] = [None] * batch.num_rows
                    continue
                col = batch.column(col_name)
                if col_name in id_casts:
                    col = col.cast(id_casts[col_name])
                if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
                    data[col_name] = _decode(col.cast(pa.binary()).to_pylist())
                else:
                    data[col_name] = col.to_pylist()
            for i in range(batch.num_rows):
                record = {k: v[i] for k, v in data.items()}
                record["_file"] = name
                record["_row"] = row
                row += 1
                yield record


def _batches(parquet: pq.ParquetFile, path: str, columns: list[str]):
    try:
        yield from parquet.iter_batches(batch_size=65536, columns=columns)
    except (pa.ArrowException, OSError) as exc:  # a file damaged past its footer
        raise InputFileUnreadable(f"{path}: not a readable Parquet file ({exc})") from None


class ReadInputPartition(beam.PTransform):
    """All rows of `<root>/<table>/dt=<dt>/*.parquet`. Fails clearly if the partition has
    no files: the DAG waits for inputs, so an empty partition here is an upstream fault."""

    def __init__(self, root: str, table: str, dt: str):
        super().__init__()
        self.root, self.table, self.dt = root, table, dt

    def expand(self, pbegin):
        rows = (
            pbegin
            | "MatchFiles" >> fileio.MatchFiles(partition_glob(self.root, self.table, self.dt),
                                                empty_match_treatment=EmptyMatchTreatment.DISALLOW)
            | "ReadMatches" >> fileio.ReadMatches()
            | "Reshuffle" >> beam.Reshuffle()
            | "ReadRows" >> beam.FlatMap(read_conformed_rows, self.table).with_outputs(
                SCHEMA_NOTES, main="rows")
        )
        return rows


def write_parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    """Serializes rows with fixed writer settings, so equal rows give equal bytes."""
    table = pa.Table.from_pylist(rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", compression_level=3,
                   write_statistics=True, use_dictionary=True)
    return buffer.getvalue()


class _WriteShard(beam.DoFn):
    def __init__(self, out_dir, schema, n_shards, sort_key, to_row):
        self.out_dir, self.schema, self.n_shards = out_dir, schema, n_shards
        self.sort_key, self.to_row = sort_key, to_row

    def process(self, element):
        shard, values = element
        records = sorted((v for v in values if v is not None), key=self.sort_key)
        data = write_parquet_bytes([self.to_row(r) for r in records], self.schema)
        name = f"part-{shard:05d}-of-{self.n_shards:05d}.parquet"
        path = posixpath.join(self.out_dir, name)
        with FileSystems.create(path) as f:
            f.write(data)
        yield {"path": name, "rows": len(records), "sha256": hashlib.sha256(data).hexdigest(),
               "bytes": len(data)}


class WriteShardedParquet(beam.PTransform):
    """Writes a PCollection as exactly `n_shards` Parquet files, rows sorted in each.

    Beam's WriteToParquet writes rows in bundle order, which differs between runs; a
    re-run of a day must give byte-identical files, so rows go to a shard by a stable
    hash of their key and are sorted inside it. Every shard is written, empty or not, so
    the file list does not depend on the data either. Returns one dict per file.
    """

    def __init__(self, out_dir: str, schema: pa.Schema, n_shards: int, key, sort_key, to_row):
        super().__init__()
        self.out_dir, self.schema, self.n_shards = out_dir, schema, n_shards
        self.key, self.sort_key, self.to_row = key, sort_key, to_row

    def expand(self, pcoll):
        n = self.n_shards
        keyed = pcoll | "KeyByShard" >> beam.Map(lambda r, key=self.key: (stable_hash(key(r)) % n, r))
        every_shard = pcoll.pipeline | "EveryShard" >> beam.Create([(i, None) for i in range(n)])
        return (
            (keyed, every_shard)
            | "Flatten" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self.out_dir, self.schema, n, self.sort_key,
                                                     self.to_row))
        )


def write_json_file(path: str, payload) -> str:
    import json

    data = json.dumps(payload, indent=1, sort_keys=True, default=str).encode()
    try:
        with FileSystems.create(path) as f:
            f.write(data)
    except BeamIOError as exc:
        raise OSError(f"cannot write {path}: {exc}") from exc
    return path
