"""The skeleton both nightly chains share: verify against the catalog (stages 6–8's common
part) and the staged write (stage 9). u2q.py and x2q.py differ only in what they generate
from and how they rank; everything else of a night is here, once."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import apache_beam as beam
import pyarrow as pa

from pipelines.beam.stats import Tally
from pipelines.core.config import HintQConfig
from pipelines.core.lists import list_checks, list_counts
from pipelines.engines.embedder import EmbedderSpec
from pipelines.stages.normalize import PopularQueries
from pipelines.stages.rank import BuildFallbackPool
from pipelines.stages.verify import EmbedCatalog, StoredIndex, VerifyQueries, WriteCatalogIndex, WriteQueryRows
from pipelines.stages.write import WriteFileList, WriteShardedParquet, WriteStats, tag_files
from warehouse.staging import StagingLayout
from warehouse.tables import NightlyTable


class VerifyAgainstCatalog(beam.PTransform):
    """{"queries": query texts, "events": the day's kept events, "items": the day's items}
    → {"verified": one VerifiedQuery per distinct query, "pool": the fallback pool,
    "popular_discards": typed queries set aside, "index": the catalog index's path}.

    The day's popular typed queries are verified with the table's own candidates, each
    distinct query once, and the verified ones make the fallback pool of K-long lists.
    The catalog index is built into `index_dir` (carrying the rows of `earlier_index`, an
    earlier night's: EmbedCatalog), or read from `stored_index` (the same day's index kept
    by an earlier run: warehouse/catalog_index.py). Queries take the rows `earlier_rows`
    hold (folders earlier nights kept: warehouse/query_rows.py), and the night's rows are written
    to `rows_dir` for the nights after it.
    """

    def __init__(self, cfg: HintQConfig, embedder: EmbedderSpec, blocklist: frozenset[str], index_dir: str, k: int,
                 stored_index: str | None = None, earlier_index: str | None = None,
                 earlier_rows: tuple[str, ...] = (), rows_dir: str | None = None):
        super().__init__()
        self.cfg, self.embedder, self.blocklist, self.index_dir, self.k = cfg, embedder, blocklist, index_dir, k
        self.stored_index, self.earlier_index = stored_index, earlier_index
        self.earlier_rows, self.rows_dir = earlier_rows, rows_dir

    def expand(self, day):
        cfg = self.cfg
        popular = day["events"] | "PopularQueries" >> PopularQueries(cfg.normalize, self.blocklist,
                                                                      cfg.rank.popular_pool)
        if self.stored_index:
            index_path = day["events"].pipeline | "StoredIndex" >> StoredIndex(self.stored_index)
        else:
            index_path = (day["items"]
                          | "EmbedCatalog" >> EmbedCatalog(self.embedder, self.earlier_index)
                          | "WriteCatalogIndex" >> WriteCatalogIndex(self.index_dir, cfg.verify))
        to_verify = (
            day["queries"],
            popular["popular"] | "PopularTexts" >> beam.FlatMap(lambda top: [q for q, _ in top]),
        ) | "AllQueries" >> beam.Flatten()
        verified = to_verify | "Verify" >> VerifyQueries(self.embedder, cfg.verify, index_path, self.earlier_rows)
        if self.rows_dir and cfg.verify.carried_queries:
            verified | "KeepQueryRows" >> WriteQueryRows(self.rows_dir, cfg.verify.carried_queries)
        pool = (popular["popular"], verified) | "FallbackPool" >> BuildFallbackPool(self.k)
        return {"verified": verified, "pool": pool, "popular_discards": popular["discards"], "index": index_path}


@dataclass(frozen=True)
class PublishedPart:
    """Another partition a night publishes beside its table (u2q: rejected, profiles)."""
    rows: object  # PCollection
    schema: pa.Schema
    key: Callable
    sort_key: Callable
    to_row: Callable
    batched: bool = False  # `rows` holds lists of rows of one key each (see WriteShardedParquet)


class WriteParts(beam.PTransform):
    """(name, n) counter pairs → each part's staged shards, the list of their files, and the
    stats (every counter summed, with the schema notes): what one pipeline of a night leaves
    in its staging folder. WriteNight writes a table with it; the day-level pipeline of a
    u2q night in user passes writes the day's rejected rows and counts with it."""

    def __init__(self, cfg: HintQConfig, staging: StagingLayout, notes, parts: dict[str, PublishedPart]):
        super().__init__()
        self.cfg, self.staging, self.notes, self.parts = cfg, staging, notes, parts

    def expand(self, counts):
        shards, max_rows = self.cfg.publish.shards, self.cfg.publish.max_rows_per_shard
        files = [tag_files(part.rows | f"Write{name.title()}" >> WriteShardedParquet(
            self.staging.table(name), part.schema, shards, key=part.key, sort_key=part.sort_key,
            to_row=part.to_row, max_rows_per_shard=max_rows, prefix=self.staging.file_prefix,
            batched=part.batched), name)
            for name, part in self.parts.items()]
        files | "AllFiles" >> beam.Flatten() | "WriteFileList" >> WriteFileList(self.staging.files)
        return counts | "WriteStats" >> WriteStats(self.staging.stats, notes=self.notes)


class WriteNight(beam.PTransform):
    """Table rows → the staged run: the table's shards and its other parts, the file list,
    and the run's stats (every counter of the night, plus each list counted and checked
    against K, which publish requires)."""

    def __init__(self, table: NightlyTable, cfg: HintQConfig, staging: StagingLayout, counts: list, notes,
                 parts: dict[str, PublishedPart] | None = None):
        super().__init__()
        self.table, self.cfg, self.staging, self.counts, self.notes = table, cfg, staging, counts, notes
        self.parts = parts or {}

    def expand(self, rows):
        table, k = self.table, self.table.k(self.cfg)
        parts = {table.name: PublishedPart(rows, table.schema, key=table.key, sort_key=table.sort_key,
                                           to_row=lambda r: r),
                 **self.parts}
        counts = [
            *self.counts,
            rows | "CountRows" >> Tally(partial(list_counts, table=table.name, k=k)),
            rows | "CheckRows" >> Tally(partial(list_checks, k=k, key_field=table.required_key_field)),
        ]
        return (counts | "AllCounts" >> beam.Flatten()
                | "Staged" >> WriteParts(self.cfg, self.staging, self.notes, parts))
