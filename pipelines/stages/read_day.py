"""Stages 1–2 shared by both nightly tables: read the day's inputs, validate, fold
duplicates and cap each user, join the catalog. u2q and x2q start from the same clean day, so
both manifests account for every input row the same way."""
from __future__ import annotations

import posixpath

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems

from pipelines.beam.routing import REJECTED
from pipelines.beam.stats import CountBy, SumBy
from pipelines.core import counters as c
from pipelines.core.config import HintQConfig
from pipelines.core.passes import pass_count
from pipelines.stages.day_level import WritePassShoppers, dump_pickle, load_pickle, read_shoppers
from pipelines.stages.sessionize import USED_EVENTS, CapUsers, UserDays
from pipelines.stages.validate import JoinCatalog, ValidateCatalog, ValidateEvents
from warehouse.clean_day import COUNTS, ITEMS, NOTES, REJECTED, SHOPPERS, stored_files
from warehouse.inputs import EmptyInputPartition, SchemaNote, conformed_rows, open_parquet

SCHEMA_NOTES = "schema_notes"


class InputPartitionMissing(FileNotFoundError):
    """The day's events or catalog partition is absent: nothing to compute, nothing published."""


def check_input_day(root: str, day: str) -> None:
    """Refuses, in seconds, a day whose events or catalog partition is absent, has a file
    whose footer cannot be read, or holds no rows."""
    for table in ("events", "catalog"):
        rows = partition_row_counts(root, table, day)
        if not rows:
            raise InputPartitionMissing(f"input partition {table}/dt={day} has no Parquet files "
                                        f"({partition_glob(root, table, day)})")
        if sum(rows.values()) == 0:
            raise EmptyInputPartition(f"input partition {table}/dt={day} has {len(rows)} file(s) and 0 rows: "
                                      "an empty day is an upstream fault, not a night to publish. "
                                      "Nothing was run or published.")


def partition_row_counts(root: str, table: str, dt: str) -> dict[str, int]:
    """Rows per file of an input partition, read from the Parquet footers only (cheap).
    Raises InputFileUnreadable naming a file whose footer cannot be read."""
    counts = {}
    for meta in FileSystems.match([partition_glob(root, table, dt)])[0].metadata_list:
        with FileSystems.open(meta.path) as f:
            counts[meta.path] = open_parquet(f, meta.path).metadata.num_rows
    return dict(sorted(counts.items()))


def distinct_shoppers(root: str, dt: str) -> int:
    """The distinct user_id values of the day's event files, valid or not (how many passes
    a u2q night takes: pipelines/core/passes.py). A file whose user_id column cannot be read
    as ids counts each of its rows as a shopper: more passes, never fewer."""
    ids: set = set()
    extra = 0
    for meta in FileSystems.match([partition_glob(root, "events", dt)])[0].metadata_list:
        with FileSystems.open(meta.path) as f:
            parquet = open_parquet(f, meta.path)
            try:
                column = parquet.read(columns=["user_id"]).column(0)
                if pa.types.is_integer(column.type):
                    column = column.cast(pa.string())
                ids.update(pc.unique(column).to_pylist())
            except (pa.ArrowException, KeyError, ValueError):
                extra += parquet.metadata.num_rows
    return len(ids) + extra


def partition_glob(root: str, table: str, dt: str) -> str:
    return posixpath.join(root, table, f"dt={dt}", "*.parquet")


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
            | "ReadRows" >> beam.FlatMap(_read_file, self.table).with_outputs(SCHEMA_NOTES, main="rows")
        )
        return rows


def _read_file(readable, table: str):
    """One matched input file's rows, and its schema notes on the SCHEMA_NOTES output."""
    with readable.open() as f:
        for out in conformed_rows(f, readable.metadata.path, table):
            yield beam.pvalue.TaggedOutput(SCHEMA_NOTES, str(out)) if isinstance(out, SchemaNote) else out


class ReadDay(beam.PTransform):
    """PBegin → {"users": (user_id, kept events), "events": kept EnrichedEvents,
    "items": Items, "rejected": the Rejections of each check (a tuple of PCollections),
    "counts": (name, n), "notes": schema notes}.

    The rejections come as each check's own, counted there: a table that writes them
    flattens them (u2q); one that only counts them (x2q, the history's past days) moves
    none of them again: the embedded runner reads every Flatten back as a stage of its own
    (48,000 rows of the 1k world's over-cap shopper a night)."""

    def __init__(self, input_root: str, dt: str, cfg: HintQConfig):
        super().__init__()
        self.input_root, self.dt, self.cfg = input_root, dt, cfg

    def expand(self, pbegin):
        raw_events = pbegin | "ReadEvents" >> ReadInputPartition(self.input_root, "events", self.dt)
        raw_catalog = pbegin | "ReadCatalog" >> ReadInputPartition(self.input_root, "catalog", self.dt)

        events, events_rejected = raw_events.rows | "ValidateEvents" >> ValidateEvents(self.dt, self.cfg.validate)
        items, catalog_rejected = raw_catalog.rows | "ValidateCatalog" >> ValidateCatalog(self.cfg.validate)
        capped = events | "CapUsers" >> CapUsers(self.cfg.validate)
        joined = (capped.events, items) | "JoinCatalog" >> JoinCatalog()
        users = joined["events"] | "UserDays" >> UserDays()

        rejected = {"Validate": events_rejected, "ValidateCatalog": catalog_rejected, "Cap": capped[REJECTED],
                    "Join": joined["rejected"]}
        counts = (
            raw_events.rows | "CountEventsRead" >> CountBy(lambda _: c.read("events")),
            raw_catalog.rows | "CountCatalogRead" >> CountBy(lambda _: c.read("catalog")),
            *(part | f"CountRejected[{check}]" >> CountBy(lambda r: c.REJECTED(r.table, r.stage, r.reason))
              for check, part in rejected.items()),
            joined["items"] | "CountCatalogUsed" >> CountBy(lambda _: c.CATALOG_USED()),
            joined["item_fixes"] | "CountItemFixes" >> CountBy(lambda f: c.CATALOG_FIXED(f)),
            users[USED_EVENTS] | "CountEventsUsed" >> SumBy(lambda n: (c.EVENTS_USED(), n)),
        ) | "DayCounts" >> beam.Flatten()
        notes = (raw_events.schema_notes, raw_catalog.schema_notes) | "AllNotes" >> beam.Flatten()
        kept = users.users | "KeptEvents" >> beam.FlatMap(lambda kv: kv[1])
        return {"users": users.users, "events": kept, "items": joined["items"], "rejected": tuple(rejected.values()),
                "counts": counts, "notes": notes}


def _write_collected(parts: list, folder: str, name: str, order):
    """The elements of each of `parts` (PCollections) → a pickled list, sorted by `order`,
    at `folder/<name>.<i>.pkl` (none for a part without elements). Each part is collected
    in its own stages' bundles (a combine), so its elements cross into the write as one
    list per bundle instead of one by one (48,000 rejections of the 1k world's over-cap
    shopper), and once: no Flatten, no side input (which the runner measures object by
    object)."""
    return [part
            | f"Collect{name.title()}{i}" >> (beam.Map(lambda x: (0, x))
                                              | beam.CombinePerKey(beam.combiners.ToListCombineFn()))
            | f"Write{name.title()}{i}" >> beam.MapTuple(
                lambda _, xs, path=posixpath.join(folder, f"{name}.{i}.pkl"): dump_pickle(sorted(xs, key=order), path))
            for i, part in enumerate(parts)]


class KeepDay(beam.PTransform):
    """ReadDay's outputs → the same, written to `folder` (warehouse/clean_day.py's files)
    for StoredDay to read back: the night's other table and a re-run of the day start from
    them instead of reading, validating, capping and joining the day again. Returns the
    written paths."""

    def __init__(self, folder: str, shopper_files: int = 1):
        super().__init__()
        self.folder, self.shopper_files = folder, shopper_files

    def expand(self, day):
        # The shoppers in files of about `publish.users_per_pass` each, split as the passes
        # are (pipelines/core/passes.py): no one file, write or group holds the whole day.
        shoppers = [posixpath.join(self.folder, f"{SHOPPERS}.{i}.pkl") for i in range(self.shopper_files)]
        written = [
            day["users"] | "WriteShoppers" >> WritePassShoppers(shoppers),
            *_write_collected([day["items"]], self.folder, ITEMS, lambda i: i.item_id),
            *_write_collected(list(day["rejected"]), self.folder, REJECTED, lambda r: r.sort_key()),
            *_write_collected([day["counts"]], self.folder, COUNTS, lambda kv: kv),
            *_write_collected([day["notes"]], self.folder, NOTES, lambda n: n),
        ]
        return written | "Written" >> beam.Flatten()


class StoredDay(beam.PTransform):
    """PBegin → ReadDay's outputs, as KeepDay wrote them to `folder`: the same elements
    (the rejections as one PCollection), so the rest of a night's graph cannot tell."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def _read(self, pbegin, name: str, read=load_pickle):
        return (pbegin | f"{name.title()}Files" >> beam.Create(stored_files(self.folder, name))
                | f"Read{name.title()}" >> beam.FlatMap(read))

    def expand(self, pbegin):
        users = self._read(pbegin, SHOPPERS, read_shoppers)
        return {"users": users, "events": users | "KeptEvents" >> beam.FlatMap(lambda kv: kv[1]),
                "items": self._read(pbegin, ITEMS), "rejected": (self._read(pbegin, REJECTED),),
                "counts": self._read(pbegin, COUNTS), "notes": self._read(pbegin, NOTES)}


def the_day(p, input_root: str, dt: str, cfg: HintQConfig, stored: str | None = None,
            keep_to: str | None = None) -> dict:
    """Stages 1–2 of a night: the day as `stored` (a folder KeepDay wrote) holds it, or
    read from `input_root` (and written to `keep_to` where given). ReadDay's outputs."""
    if stored:
        return p | "StoredDay" >> StoredDay(stored)
    day = p | "ReadDay" >> ReadDay(input_root, dt, cfg)
    if keep_to:
        day | "KeepDay" >> KeepDay(keep_to, pass_count(distinct_shoppers(input_root, dt), cfg.publish.users_per_pass))
    return day
