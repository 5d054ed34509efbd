"""The input contract on disk: reading one input file into rows the contract names.

Plain Python (no Beam): the pipeline's ReadInputPartition and the evaluation both read
input files through `conformed_rows`; `read_input_day` gives one whole day as the nightly
job sees it (validated, joined to its catalog, de-duplicated and capped), for the
history channels, the ranker's labels and the evaluation.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import posixpath
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.core.config import HintQConfig
from pipelines.core.profile import dedupe_and_cap
from pipelines.core.records import EnrichedEvent, Event, Item, Rejection
from pipelines.core.validate import pick_catalog_winner, validate_event, validate_item
from schemas.inputs import INPUT_SCHEMAS, OPTIONAL_COLUMNS


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


def open_parquet(f, path: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(f)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputFileUnreadable(f"{path}: not a readable Parquet file ({exc})") from None


def _decode(values: list) -> list:
    # Strings are read as bytes and decoded here, so invalid UTF-8 in one value becomes
    # U+FFFD in that value (rejected or cleaned by validate) instead of failing the file.
    return [None if v is None else v.decode("utf-8", "replace") for v in values]


class SchemaNote(str):
    """A note on how one input file differs from the contract (for the manifest)."""


def conformed_rows(f, path: str, table: str):
    """Yields one dict per row with `_file`/`_row` provenance, columns as the contract
    names them. Extra columns are ignored and noted; a missing optional column is null;
    a missing required column raises InputSchemaError naming file and column. Values keep
    their file's type (a drifted `ts` string is cast by validate, per its rules).
    Each schema note is yielded as a SchemaNote, in between the rows."""
    name = posixpath.basename(path)
    expected = INPUT_SCHEMAS[table]
    parquet = open_parquet(f, path)
    present = set(parquet.schema_arrow.names)
    for column in sorted(present - set(expected.names)):
        yield SchemaNote(f"{table}/{name}: extra column {column!r} ignored")
    id_casts = {}
    for column in INPUT_ID_COLUMNS[table]:
        if column not in present:
            continue
        kind = parquet.schema_arrow.field(column).type
        if pa.types.is_integer(kind):
            id_casts[column] = pa.string()
            yield SchemaNote(
                f"{table}/{name}: id column {column!r} is {kind}: cast to its decimal string")
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            yield SchemaNote(
                f"{table}/{name}: id column {column!r} is {kind}: its rows are rejected "
                              "as id_wrong_type")
    for field in expected:
        if field.name not in present:
            if field.name not in OPTIONAL_COLUMNS[table]:
                raise InputSchemaError(f"{path}: required column {field.name!r} is missing")
            yield SchemaNote(
                f"{table}/{name}: missing column {field.name!r} read as null")
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


def input_files(root: str | Path, table: str, day: str) -> list[Path]:
    return sorted((Path(root) / table / f"dt={day}").glob("*.parquet"))


def read_input_partition(root: str | Path, table: str, day: str) -> list[dict] | None:
    """Every conformed row of a local input partition (notes dropped), or None if the
    partition has no files. The plain reader of the evaluation."""
    files = input_files(root, table, day)
    if not files:
        return None
    rows = []
    for path in files:
        with open(path, "rb") as f:
            rows.extend(r for r in conformed_rows(f, str(path), table) if not isinstance(r, SchemaNote))
    return rows


@dataclass
class InputDay:
    """One day of inputs after validate, join and de-duplication: the nightly job's view."""

    day: str
    users: dict[str, list[EnrichedEvent]]
    items: dict[str, Item]
    rejected: Counter = dataclasses.field(default_factory=Counter)


def read_input_day(input_root: str | Path, day: str, cfg: HintQConfig) -> InputDay | None:
    """The day's used events per user and its catalog, or None if its events are missing."""
    raw_events = read_input_partition(input_root, "events", day)
    if raw_events is None:
        return None
    rejected: Counter = Counter()
    by_id: dict[str, list[Item]] = defaultdict(list)
    for row in read_input_partition(input_root, "catalog", day) or []:
        checked = validate_item(row, cfg.validate)
        if isinstance(checked, Rejection):
            rejected[f"catalog.{checked.reason}"] += 1
        else:
            by_id[checked[0].item_id].append(checked[0])
    items = {item_id: pick_catalog_winner(found)[0] for item_id, found in by_id.items()}
    per_user: dict[str, list[Event]] = defaultdict(list)
    date = dt.date.fromisoformat(day)
    for row in raw_events:
        ev = validate_event(row, date, cfg.validate)
        if isinstance(ev, Rejection):
            rejected[f"events.{ev.reason}"] += 1
        else:
            per_user[ev.user_id].append(ev)
    users = {}
    for user_id, events in sorted(per_user.items()):
        kept, dropped = dedupe_and_cap(events, cfg.validate)  # capped before the join, as ReadDay does
        rejected.update(f"events.{r.reason}" for r in dropped)
        joined = [EnrichedEvent(event=ev, item=items.get(ev.item_id)) for ev in kept
                  if ev.item_id is None or ev.item_id in items]
        if len(joined) < len(kept):
            rejected["events.unknown_item"] += len(kept) - len(joined)
        if joined:
            users[user_id] = joined
    return InputDay(day=day, users=users, items=items, rejected=rejected)


def history_days(day: str, n: int) -> list[str]:
    """The n days up to and including `day`, oldest first."""
    last = dt.date.fromisoformat(day)
    return [(last - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]
