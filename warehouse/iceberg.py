"""The published tables as Apache Iceberg tables (pyiceberg): the catalog, one commit per
table and day, a day read at a snapshot, history, rollback, snapshot expiry and orphan files.

Every published table (u2q, x2q and u2q's parts rejected, profiles, candidates) is the
Iceberg table `hintq.<name>`, partitioned by `dt` (identity). A night's Beam workers write
its Parquet files straight into the table's data folder, `<table>/data/dt=<D>/run=<id>/`,
beside the run's `_MANIFEST.json`; publishing is one Iceberg OVERWRITE snapshot per table
that replaces the day's files with exactly those files (`commit_day`). That commit is atomic
on any store Iceberg supports (the catalog swaps one metadata pointer), a reader plans its
scan on one snapshot, and a killed run commits nothing: its files are orphans, removed by
`remove_orphans`.

The Parquet files carry no `dt` column: `dt` is the identity partition and Iceberg readers
(pyiceberg, polars, Spark, Trino) take its value from the partition metadata, as the Iceberg
spec's column-projection rules say. The files stay plain Parquet, byte for byte what the
run wrote (so a re-run's files have the same sha256).

The catalog: pyiceberg's SQL catalog on `<warehouse>/catalog.db` (SQLite) by default; or any
catalog pyiceberg can load (REST, Glue, Hive), named by `HINTQ_ICEBERG_CATALOG` and
configured the pyiceberg way (`.pyiceberg.yaml` or `PYICEBERG_CATALOG__<NAME>__*`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.tables import PUBLISHED_SCHEMAS

log = logging.getLogger(__name__)


class _NoNestedStatisticsWarning(logging.Filter):
    """pyiceberg warns once per file and column that has no min/max statistics; the list
    columns of these tables never have any (Parquet keeps none for them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("PyArrow statistics missing for column")


logging.getLogger("pyiceberg.io.pyarrow").addFilter(_NoNestedStatisticsWarning())

NAMESPACE = "hintq"
CATALOG_FILE = "catalog.db"
CATALOG_ENV = "HINTQ_ICEBERG_CATALOG"
PARTITION = "dt"
# Snapshot summary properties HintQ writes (Iceberg's own, such as added-records, stay beside them).
DAY = "hintq.dt"
RUN_ID = "hintq.run-id"
OPERATION = "hintq.operation"  # publish | rollback
RESTORED = "hintq.restored-snapshot"
MANIFEST_PROPERTY = "hintq.manifest"  # the run's whole _MANIFEST.json


class CatalogError(RuntimeError):
    """The warehouse's Iceberg catalog is missing (while tables exist) or unreadable."""


class CommitConflict(RuntimeError):
    """Other commits to the table kept winning; nothing of this run was committed."""


class SnapshotNotFound(LookupError):
    """The snapshot asked for does not exist (never did, or was expired)."""


class NoEarlierVersion(LookupError):
    """A rollback found no earlier version of the day to restore."""


@dataclass(frozen=True)
class SnapshotChoice:
    """Which snapshot a reader reads: the current one (both None), a snapshot id of the
    table read, or the snapshot that was current at a time (`as_of`, ISO 8601, UTC unless
    it says otherwise)."""
    snapshot_id: int | None = None
    as_of: str | None = None

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id}" if self.snapshot_id is not None else f"as of {self.as_of}"

    def as_of_ms(self) -> int | None:
        if self.as_of is None:
            return None
        moment = dt.datetime.fromisoformat(self.as_of)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
        return int(moment.timestamp() * 1000)


CURRENT = SnapshotChoice()


def catalog_path(warehouse: str | Path) -> Path:
    return Path(warehouse) / CATALOG_FILE


def table_dir(warehouse: str | Path, table: str) -> Path:
    """The table's Iceberg location: `data/` and `metadata/` below it."""
    return Path(warehouse) / table


def data_uri(path: str | Path) -> str:
    text = str(path)
    return text if "://" in text else f"file://{os.path.abspath(text)}"


def local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    if "://" in uri:
        raise CatalogError(f"{uri}: HintQ's readers read local files only; read object stores through an engine")
    return Path(uri)


def open_catalog(warehouse: str | Path, create: bool = False):
    """The warehouse's catalog, or None when nothing was ever published there (no catalog
    file, no table folders) and `create` is False. Raises CatalogError when the catalog file
    is missing while tables exist, or cannot be read."""
    from pyiceberg.catalog import load_catalog

    name = os.environ.get(CATALOG_ENV)
    if name:
        return load_catalog(name)
    path = catalog_path(warehouse)
    if not path.exists() and not create:
        orphaned = sorted(t for t in PUBLISHED_SCHEMAS if (table_dir(warehouse, t) / "metadata").is_dir())
        if orphaned:
            raise CatalogError(
                f"the Iceberg catalog {path} is missing, but tables {orphaned} have metadata in {warehouse}: "
                f"restore {CATALOG_FILE} from a backup; nothing can be read or published until then")
        return None
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import SQLAlchemyError

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog(NAMESPACE, uri=f"sqlite:///{path.resolve()}",
                          warehouse=data_uri(Path(warehouse).resolve()))
    except SQLAlchemyError as exc:
        raise _unreadable(exc, f" {path}") from None


def _unreadable(exc: Exception, where: str = "") -> CatalogError:
    return CatalogError(f"the Iceberg catalog{where} cannot be read ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0]}): restore it from a backup")


def _identifier(table: str) -> str:
    return f"{NAMESPACE}.{table}"


def load_table(catalog, table: str):
    """The Iceberg table, or None if it was never created."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
    from sqlalchemy.exc import SQLAlchemyError

    if catalog is None:
        return None
    try:
        loaded = catalog.load_table(_identifier(table))
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
    except SQLAlchemyError as exc:
        raise _unreadable(exc) from None
    expected = None if os.environ.get(CATALOG_ENV) else catalog.properties.get("warehouse")
    if expected and not loaded.location().rstrip("/").startswith(expected.rstrip("/") + "/"):
        raise CatalogError(f"hintq.{table} lives at {loaded.location()}, outside this catalog's warehouse "
                           f"{expected}: the warehouse was copied as plain folders (copy it with "
                           "hintq copy-warehouse) or the catalog belongs to another warehouse")
    return loaded


def table_arrow_schema(table: str) -> pa.Schema:
    """The table's columns as written in its files, plus the partition column `dt`."""
    return PUBLISHED_SCHEMAS[table].append(pa.field(PARTITION, pa.string(), nullable=True))


def _create_table(catalog, warehouse: str | Path, table: str):
    from pyiceberg.catalog import Catalog
    from pyiceberg.exceptions import NamespaceAlreadyExistsError, TableAlreadyExistsError
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    schema = Catalog._convert_schema_if_needed(table_arrow_schema(table))
    spec = PartitionSpec(PartitionField(source_id=schema.find_field(PARTITION).field_id, field_id=1000,
                                        transform=IdentityTransform(), name=PARTITION))
    try:
        catalog.create_namespace(NAMESPACE)
    except NamespaceAlreadyExistsError:
        pass
    try:
        created = catalog.create_table(_identifier(table), schema=schema, partition_spec=spec,
                                       location=data_uri(table_dir(warehouse, table).resolve()))
    except TableAlreadyExistsError:  # another run created it first
        return catalog.load_table(_identifier(table))
    # The files carry no Iceberg field ids: readers map their columns by name.
    with created.transaction() as tx:
        tx.set_properties(**{"schema.name-mapping.default": created.schema().name_mapping.model_dump_json()})
    return catalog.load_table(_identifier(table))


def _data_file(table, path: str, day: str):
    """The Iceberg DataFile of one Parquet file of `day`: column statistics from its footer,
    the partition from the day (the file has no `dt` column to infer it from)."""
    from pyiceberg.io.pyarrow import (_check_pyarrow_schema_compatible, compute_statistics_plan,
                                      data_file_statistics_from_parquet_metadata, parquet_path_to_id_mapping)
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
    from pyiceberg.typedef import Record

    metadata = table.metadata
    footer = pq.read_metadata(local_path(path))
    schema = metadata.schema()
    _check_pyarrow_schema_compatible(schema, footer.schema.to_arrow_schema(), format_version=metadata.format_version)
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer, stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema))
    return DataFile.from_args(
        content=DataFileContent.DATA, file_path=path, file_format=FileFormat.PARQUET, partition=Record(day),
        file_size_in_bytes=os.path.getsize(local_path(path)), sort_order_id=None,
        spec_id=metadata.default_spec_id, equality_ids=None, key_metadata=None,
        **statistics.to_serialized_dict())


def _snapshot_files(table, snapshot):
    """Every data file a snapshot holds, empty ones included (a scan's planning skips files
    of zero rows, but a day's file list is what its manifest lists)."""
    if snapshot is None:
        return []
    return [entry.data_file for manifest in snapshot.manifests(table.io)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)]


def _day_files(table, day: str, snapshot_id: int | None):
    """The DataFiles of partition `day` at a snapshot (the current one if None)."""
    snapshot = table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
    return sorted((f for f in _snapshot_files(table, snapshot) if f.partition[0] == day), key=lambda f: f.file_path)


def commit_day(warehouse: str | Path, table: str, day: str, paths: list[str], summary: dict[str, str],
               retries: int = 4) -> int:
    """Replaces partition `day` of `table` with exactly the files `paths`, in one OVERWRITE
    snapshot whose summary carries `summary`. Returns the new snapshot's id.

    Iceberg commits are optimistic: when another commit lands first, this one is planned
    again on the new snapshot (the day's files are then whatever that commit left) and
    retried, up to `retries` times; then CommitConflict, with nothing of this run committed.
    """
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    catalog = open_catalog(warehouse, create=True)
    uris = [data_uri(p) for p in paths]
    for attempt in range(retries + 1):
        table_ = load_table(catalog, table) or _create_table(catalog, warehouse, table)
        old = _day_files(table_, day, None)
        if sorted(f.file_path for f in old) == sorted(uris):  # already the day's files (a repeated rollback)
            return table_.current_snapshot().snapshot_id
        new = [_data_file(table_, uri, day) for uri in uris]
        tx = table_.transaction()
        with tx.update_snapshot(snapshot_properties={**summary, DAY: day}).overwrite() as overwrite:
            for f in old:
                overwrite.delete_data_file(f)
            for f in new:
                overwrite.append_data_file(f)
        try:
            committed = tx.commit_transaction()
        except (CommitFailedException, ValidationException) as exc:  # pyiceberg's own retry may end in either
            log.warning("%s/dt=%s: commit %d lost to another commit (%s); planning again", table, day,
                        attempt + 1, exc)
            time.sleep(0.05 * (attempt + 1))
            continue
        snapshot = committed.current_snapshot()
        log.info("committed %s/dt=%s as snapshot %d (%d files replaced %d)", table, day, snapshot.snapshot_id,
                 len(new), len(old))
        return snapshot.snapshot_id
    raise CommitConflict(f"{table}/dt={day}: {retries + 1} commits in a row lost to other commits; "
                         "nothing of this run was committed")


def _chosen_snapshot(table, choice: SnapshotChoice):
    """The snapshot a reader reads, or None for an empty table. Raises SnapshotNotFound."""
    if choice.snapshot_id is not None:
        snapshot = table.snapshot_by_id(choice.snapshot_id)
        if snapshot is None:
            raise SnapshotNotFound(f"{table.name()[-1]} has no snapshot {choice.snapshot_id} "
                                   "(hintq history lists the ones kept)")
        return snapshot
    if choice.as_of is not None:
        snapshot = table.snapshot_as_of_timestamp(choice.as_of_ms())
        if snapshot is None:
            raise SnapshotNotFound(f"{table.name()[-1]} has no snapshot at or before {choice.as_of}")
        return snapshot
    return table.current_snapshot()


def day_files(warehouse: str | Path, table: str, day: str, choice: SnapshotChoice = CURRENT,
              run_id: str | None = None) -> list[Path] | None:
    """The local paths of partition `day` of `table` at the chosen snapshot, or None when
    the day is not published there.

    With `run_id`, the day's version written by that run: the chosen snapshot's if it is
    that run's, else the latest earlier snapshot of the day by that run (u2q's parts are
    read at the version of the night whose u2q a reader reads), or None.
    """
    table_ = load_table(open_catalog(warehouse), table)
    if table_ is None:
        return None
    snapshot = _chosen_snapshot(table_, choice)
    if snapshot is None:
        return None
    if run_id is not None:
        snapshot = _snapshot_of_run(table_, snapshot, day, run_id)
        if snapshot is None:
            return None
    files = _day_files(table_, day, snapshot.snapshot_id)
    return [local_path(f.file_path) for f in files] or None


def _changes_of_day(table, start, day: str):
    """The snapshots from `start` back to the oldest kept ancestor that changed `day`."""
    from pyiceberg.table.snapshots import ancestors_of

    for snapshot in ancestors_of(start, table.metadata):
        if snapshot.summary is not None and snapshot.summary.get(DAY) == day:
            yield snapshot


def _snapshot_of_run(table, start, day: str, run_id: str):
    for snapshot in _changes_of_day(table, start, day):
        if snapshot.summary.get(RUN_ID) == run_id:
            return snapshot
    return None


def days(warehouse: str | Path, table: str) -> list[str]:
    """The days the current snapshot of `table` holds, in date order."""
    table_ = load_table(open_catalog(warehouse), table)
    if table_ is None:
        return []
    return sorted({f.partition[0] for f in _snapshot_files(table_, table_.current_snapshot())})


def history(warehouse: str | Path, table: str) -> list[dict]:
    """Every kept snapshot of `table`, oldest first: what it changed and whether it is current."""
    table_ = load_table(open_catalog(warehouse), table)
    if table_ is None:
        return []
    current = table_.current_snapshot()
    out = []
    for snapshot in sorted(table_.snapshots(), key=lambda s: (s.timestamp_ms, s.sequence_number)):
        summary = snapshot.summary
        out.append({
            "snapshot_id": snapshot.snapshot_id, "parent_id": snapshot.parent_snapshot_id,
            "committed_at": dt.datetime.fromtimestamp(snapshot.timestamp_ms / 1000, dt.timezone.utc)
            .isoformat(timespec="milliseconds"),
            "operation": summary.get(OPERATION) or summary.operation.value,
            "dt": summary.get(DAY), "run_id": summary.get(RUN_ID),
            "restored_snapshot": summary.get(RESTORED),
            "added_records": int(summary.get("added-records") or 0),
            "deleted_records": int(summary.get("deleted-records") or 0),
            "current": current is not None and snapshot.snapshot_id == current.snapshot_id,
        })
    return out


def snapshot_manifest(warehouse: str | Path, table: str, snapshot_id: int) -> dict | None:
    """The run manifest a snapshot's summary carries (None for a snapshot without one)."""
    table_ = load_table(open_catalog(warehouse), table)
    snapshot = table_.snapshot_by_id(snapshot_id) if table_ is not None else None
    if snapshot is None:
        raise SnapshotNotFound(f"{table} has no snapshot {snapshot_id}")
    body = snapshot.summary.get(MANIFEST_PROPERTY)
    return json.loads(body) if body else None


@dataclass(frozen=True)
class Restore:
    """What a rollback of one table's day puts back."""
    table: str
    day: str
    undone: int  # the snapshot whose change of the day is undone
    restored: int  # the snapshot whose files of the day come back
    files: list[Path]


def plan_rollback(warehouse: str | Path, table: str, day: str, to_snapshot: int | None = None) -> Restore:
    """The files of `day` to restore: as they were before the latest change of the day (or
    at `to_snapshot`). Raises NoEarlierVersion when there is none."""
    table_ = load_table(open_catalog(warehouse), table)
    current = table_.current_snapshot() if table_ is not None else None
    latest = next(_changes_of_day(table_, current, day), None) if current is not None else None
    if latest is None:
        raise NoEarlierVersion(f"{table}/dt={day} was never published here")
    target = to_snapshot if to_snapshot is not None else latest.parent_snapshot_id
    if target is None or table_.snapshot_by_id(target) is None:
        raise NoEarlierVersion(f"{table}/dt={day} has no earlier version kept (snapshot {latest.snapshot_id} "
                               "first published it, or what came before was expired)")
    files = _day_files(table_, day, target)
    if not files:
        raise NoEarlierVersion(f"{table}/dt={day} has no earlier version: it was not published at snapshot {target}")
    return Restore(table=table, day=day, undone=latest.snapshot_id, restored=target,
                   files=[local_path(f.file_path) for f in files])


def expire_snapshots(warehouse: str | Path, table: str, retention_days: float, now: float | None = None
                     ) -> list[int]:
    """Expires the snapshots of `table` older than `retention_days`, never the current one
    nor the one before it. Returns the expired ids. Their files are left to remove_orphans."""
    table_ = load_table(open_catalog(warehouse), table)
    current = table_.current_snapshot() if table_ is not None else None
    if current is None:
        return []
    keep = {current.snapshot_id, current.parent_snapshot_id}
    cutoff_ms = ((now if now is not None else time.time()) - retention_days * 86400) * 1000
    expired = sorted(s.snapshot_id for s in table_.snapshots()
                     if s.timestamp_ms < cutoff_ms and s.snapshot_id not in keep)
    if expired:
        table_.maintenance.expire_snapshots().by_ids(expired).commit()
        log.info("%s: expired %d snapshots older than %s days", table, len(expired), retention_days)
    return expired


def _referenced(table_) -> tuple[set[str], set[str]]:
    """(data files, metadata files) any kept snapshot of the table needs, as local paths."""
    io = table_.io
    data, meta = set(), {str(local_path(table_.metadata_location))}
    meta.update(str(local_path(entry.metadata_file)) for entry in table_.metadata.metadata_log)
    for snapshot in table_.snapshots():
        meta.add(str(local_path(snapshot.manifest_list)))
        for manifest in snapshot.manifests(io):
            meta.add(str(local_path(manifest.manifest_path)))
            data.update(str(local_path(e.data_file.file_path))
                        for e in manifest.fetch_manifest_entry(io, discard_deleted=True))
    return data, meta


def remove_orphans(warehouse: str | Path, table: str, min_age_s: float, run_in_progress,
                   now: float | None = None) -> list[str]:
    """Removes what no kept snapshot of `table` needs: run folders under `data/` none of
    whose files a snapshot references (killed runs, expired versions), and unreferenced
    files under `metadata/`. Spares anything younger than `min_age_s` and the days for which
    `run_in_progress(day)` is true (a run holds that day's lock). Returns what it removed."""
    table_ = load_table(open_catalog(warehouse), table)
    if table_ is None:
        return []
    now = now if now is not None else time.time()
    data, meta = _referenced(table_)
    root = table_dir(warehouse, table).resolve()
    if not str(local_path(table_.metadata_location)).startswith(f"{root}/"):
        # Never delete by comparing paths of two different spellings of the folder.
        raise CatalogError(f"hintq.{table}'s metadata {table_.metadata_location} is not under {root}: "
                           "no orphan files removed")
    removed = []

    def old_enough(path: Path) -> bool:
        return now - path.stat().st_mtime >= min_age_s

    for run_dir in sorted((root / "data").glob(f"{PARTITION}=*/run=*")):
        files = [f for f in run_dir.rglob("*") if f.is_file()]
        if any(str(f) in data for f in files) or not all(old_enough(f) for f in files + [run_dir]):
            continue
        if run_in_progress(run_dir.parent.name[len(PARTITION) + 1:]):
            continue
        shutil.rmtree(run_dir)
        removed.append(str(run_dir))
    for day_dir in (root / "data").glob(f"{PARTITION}=*"):
        if day_dir.is_dir() and not any(day_dir.iterdir()):
            day_dir.rmdir()
    for f in sorted((root / "metadata").glob("*")):
        if f.is_file() and str(f) not in meta and old_enough(f):
            f.unlink()
            removed.append(str(f))
    if removed:
        log.info("%s: removed %d orphan folders/files", table, len(removed))
    return removed
