"""Stage 7, verify: embed each distinct query once and search the catalog index."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import posixpath
from typing import NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from pipelines.beam.batching import StableBatches
from pipelines.beam.progress import stage_timer
from pipelines.core.progress import ProgressLine
from pipelines.core.config import VerifyConfig
from pipelines.core.records import Item
from pipelines.core.text import stable_hash
from pipelines.engines.embedder import EmbedderSpec, TextVectors, catalog_index, judge_queries
from warehouse.query_rows import QUERIES_FILE, ROWS_FILE

log = logging.getLogger(__name__)
_INDEXES = shared.Shared()
_ROWS = shared.Shared()
# Counters of the catalog's distinct titles (per call): rows carried from an earlier
# night's index, or embedded.
INDEX_COUNTERS = "hintq.index"
# Counters of the distinct queries verified: rows carried from an earlier night, or embedded.
QUERY_ROW_COUNTERS = "hintq.query_rows"


class _EmbedItemsFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec, earlier_index: str | None):
        self.spec, self.earlier_index = spec, earlier_index

    def setup(self):
        self.vectors = TextVectors(self.spec, self.spec.acquire(), remember=False)
        self.earlier = _loaded_index(self.earlier_index) if self.earlier_index else None

    def process(self, batch):
        _, items = batch
        with stage_timer("index"):
            titles = [i.title for i in items]
            carried = self.earlier.rows_of_titles(titles) if self.earlier else {}
            vectors = self.vectors(titles, known=carried)  # embeds only the titles not carried
        Metrics.counter(INDEX_COUNTERS, "titles_carried").inc(len(carried))
        Metrics.counter(INDEX_COUNTERS, "titles_embedded").inc(len(set(titles) - carried.keys()))
        for item, vector in zip(items, vectors):
            yield CatalogVector(item.item_id, item.leaf, item.title, vector)


def _write_index(entries, out_dir: str, cfg: VerifyConfig) -> str:
    """Builds the catalog index over the item vectors (sorted by id, so the same catalog
    gives the same index; exact or HNSW by size) and writes it with its id/leaf table."""
    import faiss

    with stage_timer("index"):
        entries = sorted(entries, key=lambda e: e.item_id)
        index = catalog_index(np.stack([e.vector for e in entries]) if entries else np.zeros((0, 384), dtype="float32"),
                              cfg)
        index_path = posixpath.join(out_dir, "catalog.faiss")
        with FileSystems.create(index_path) as f:
            f.write(faiss.serialize_index(index).tobytes())
        with FileSystems.create(posixpath.join(out_dir, "catalog_items.json")) as f:
            f.write(json.dumps({"item_ids": [e.item_id for e in entries], "leaves": [e.leaf for e in entries],
                                "titles": [e.title for e in entries]}).encode())
    log.info("catalog index: %d items (%s)", len(entries), type(index).__name__)
    return index_path


class CatalogVector(NamedTuple):
    """An item's title embedding, as the catalog index holds it."""
    item_id: str
    leaf: str
    title: str
    vector: np.ndarray


class EmbedCatalog(beam.PTransform):
    """Items with a title → CatalogVector, in stable batches (the same calls on every run;
    a title's row does not depend on its call: EmbedderSpec.encode). With `earlier_index`
    (an index kept by an earlier night, its rows embedded alike: warehouse/catalog_index.py)
    a title it holds takes its row from there instead of being embedded again."""

    def __init__(self, spec: EmbedderSpec, earlier_index: str | None = None):
        super().__init__()
        self.spec, self.earlier_index = spec, earlier_index

    def expand(self, items):
        return (
            items
            | "WithTitle" >> beam.Filter(lambda i: isinstance(i, Item) and bool(i.title))
            | "StableBatches" >> StableBatches(lambda i: i.item_id, self.spec.batch_size)
            | "EmbedTitles" >> beam.ParDo(_EmbedItemsFn(self.spec, self.earlier_index))
        )


class WriteCatalogIndex(beam.PTransform):
    """CatalogVector → a faiss index file in `out_dir` (see catalog_index); returns its
    path (one element)."""

    def __init__(self, out_dir: str, cfg: VerifyConfig):
        super().__init__()
        self.out_dir, self.cfg = out_dir, cfg

    def expand(self, vectors):
        return (vectors
                | "Collect" >> beam.combiners.ToList()
                | "WriteIndex" >> beam.Map(_write_index, self.out_dir, self.cfg))


class StoredIndex(beam.PTransform):
    """PBegin → the path of a catalog index built by an earlier pipeline (one element), as
    WriteCatalogIndex returns the path of the index it builds."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        return pbegin | "Path" >> beam.Create([self.path])


class BuildCatalogIndex(beam.PTransform):
    """Items with a title → a faiss index file in `out_dir`; returns its path. (`earlier_index`:
    see EmbedCatalog.)"""

    def __init__(self, spec: EmbedderSpec, out_dir: str, cfg: VerifyConfig, earlier_index: str | None = None):
        super().__init__()
        self.spec, self.out_dir, self.cfg, self.earlier_index = spec, out_dir, cfg, earlier_index

    def expand(self, items):
        return (items | "Embed" >> EmbedCatalog(self.spec, self.earlier_index)
                | "Index" >> WriteCatalogIndex(self.out_dir, self.cfg))


class _LoadedIndex:
    def __init__(self, path: str):
        import faiss

        with FileSystems.open(path) as f:
            self.index = faiss.deserialize_index(np.frombuffer(f.read(), dtype="uint8"))
        with FileSystems.open(posixpath.join(posixpath.dirname(path), "catalog_items.json")) as f:
            meta = json.load(io.TextIOWrapper(f, encoding="utf-8"))
        self.item_ids, self.leaves, self.titles = meta["item_ids"], meta["leaves"], meta["titles"]
        self.position = {item_id: i for i, item_id in enumerate(self.item_ids)}
        self._position_of_title: dict[str, int] | None = None

    def rows_of_titles(self, titles) -> dict[str, np.ndarray]:
        """The rows this index holds for those of `titles` it has (both index types keep
        the vectors as added)."""
        if self._position_of_title is None:
            self._position_of_title = {t: i for i, t in enumerate(self.titles)}
        at = {t: self._position_of_title[t] for t in titles if t in self._position_of_title}
        return {t: self.index.reconstruct(i) for t, i in at.items()}


def _loaded_index(index_path: str) -> _LoadedIndex:
    """The index at `index_path`, loaded once per worker process and shared by its DoFns."""
    return _INDEXES.acquire(lambda: _LoadedIndex(index_path), tag=index_path)


class _ReadsIndex:
    """A DoFn that reads the index its side input names: held here once loaded (the shared
    cache returns the same one; holding it spares a lock per element)."""

    def _index(self, index_path: str) -> _LoadedIndex:
        if getattr(self, "_loaded_path", None) != index_path:
            self._loaded, self._loaded_path = _loaded_index(index_path), index_path
        return self._loaded


class _IndexRowsFn(_ReadsIndex, beam.DoFn):
    def process(self, item_id: str, index_path: str):
        with stage_timer("index"):
            loaded = self._index(index_path)
            i = loaded.position.get(item_id)
            row = None if i is None else CatalogVector(  # both index types keep the vectors as added
                item_id, loaded.leaves[i], loaded.titles[i], loaded.index.reconstruct(i))
        if row is not None:
            yield row


class IndexRows(beam.PTransform):
    """item_ids → the CatalogVector of each the index at `index_path` (a one-element
    PCollection) holds: the rows EmbedCatalog gave for those items, read back instead of
    embedded again, and only the items asked for (not the whole catalog's rows)."""

    def __init__(self, index_path):
        super().__init__()
        self.index_path = index_path

    def expand(self, item_ids):
        return item_ids | "Lookup" >> beam.ParDo(_IndexRowsFn(), beam.pvalue.AsSingleton(self.index_path))


class _CarriedRows:
    """Query rows earlier nights kept (warehouse/query_rows.py: a folder each), by query
    text; a query's row is the same bytes in every folder that holds it."""

    def __init__(self, folders: tuple[str, ...]):
        self.rows, self.position = [], {}
        for n, folder in enumerate(folders):
            with FileSystems.open(posixpath.join(folder, QUERIES_FILE)) as f:
                queries = json.load(io.TextIOWrapper(f, encoding="utf-8"))
            with FileSystems.open(posixpath.join(folder, ROWS_FILE)) as f:
                self.rows.append(np.load(io.BytesIO(f.read())))
            for i, q in enumerate(queries):
                self.position.setdefault(q, (n, i))

    def rows_of(self, queries) -> dict[str, np.ndarray]:
        at = {q: self.position[q] for q in queries if q in self.position}
        return {q: self.rows[n][i] for q, (n, i) in at.items()}


class _VerifyFn(_ReadsIndex, beam.DoFn):
    def __init__(self, spec: EmbedderSpec, cfg: VerifyConfig, earlier_rows: tuple[str, ...]):
        self.spec, self.cfg, self.earlier_rows = spec, cfg, earlier_rows

    def setup(self):
        self.vectors = TextVectors(self.spec, self.spec.acquire(), remember=False)
        self.earlier = (_ROWS.acquire(lambda: _CarriedRows(self.earlier_rows), tag="|".join(self.earlier_rows))
                        if self.earlier_rows else None)
        self.progress = ProgressLine("verify", unit="queries")

    def process(self, batch, index_path, total):
        _, queries = batch
        loaded = self._index(index_path)
        with stage_timer("verify"):
            queries = list(queries)
            carried = self.earlier.rows_of(queries) if self.earlier else {}
            vectors = self.vectors(queries, known=carried)  # embeds only the queries not carried
            Metrics.counter(QUERY_ROW_COUNTERS, "queries_carried").inc(len(carried))
            Metrics.counter(QUERY_ROW_COUNTERS, "queries_embedded").inc(len(queries) - len(carried))
            # Each check keeps its query's row: ranking reuses it instead of embedding again.
            for check, vector in zip(judge_queries(queries, vectors, loaded.index, loaded.item_ids, loaded.leaves,
                                                   self.cfg), vectors):
                yield dataclasses.replace(check, vector=vector.tobytes())
        self.progress.add(len(queries), total=total, force=True)


class VerifyQueries(beam.PTransform):
    """Distinct query strings → VerifiedQuery, one embedding per distinct query. With
    `earlier_rows` (folders of rows earlier nights kept: warehouse/query_rows.py) a query
    they hold takes its row from there instead of being embedded again."""

    def __init__(self, spec: EmbedderSpec, cfg: VerifyConfig, index_path, earlier_rows: tuple[str, ...] = ()):
        super().__init__()
        self.spec, self.cfg, self.index_path, self.earlier_rows = spec, cfg, index_path, earlier_rows

    def expand(self, queries):
        distinct = queries | "Distinct" >> beam.Distinct()
        total = distinct | "CountDistinct" >> beam.combiners.Count.Globally()
        return (
            distinct
            | "StableBatches" >> StableBatches(lambda q: q, self.spec.batch_size)
            | "EmbedAndSearch" >> beam.ParDo(_VerifyFn(self.spec, self.cfg, self.earlier_rows),
                                             beam.pvalue.AsSingleton(self.index_path),
                                             beam.pvalue.AsSingleton(total))
        )


def _write_rows(smallest, out_dir: str) -> int:
    if smallest:
        with FileSystems.create(posixpath.join(out_dir, QUERIES_FILE)) as f:
            f.write(json.dumps([q for _, q, _ in smallest]).encode())
        rows = np.stack([np.frombuffer(v, dtype="float32") for _, _, v in smallest])
        buffer = io.BytesIO()
        np.save(buffer, rows)
        with FileSystems.create(posixpath.join(out_dir, ROWS_FILE)) as f:
            f.write(buffer.getvalue())
    return len(smallest)


class WriteQueryRows(beam.PTransform):
    """VerifiedQuery → the rows of at most `limit` of them (those of the smallest stable
    hashes: the same checks give the same file) in `out_dir`, for the table's next night
    (warehouse/query_rows.py). Returns how many were written (one element)."""

    def __init__(self, out_dir: str, limit: int):
        super().__init__()
        self.out_dir, self.limit = out_dir, limit

    def expand(self, checks):
        return (checks
                | "WithRow" >> beam.Filter(lambda v: v.vector is not None)
                | "HashQueryRow" >> beam.Map(lambda v: (stable_hash(v.query), v.query, v.vector))
                | "Smallest" >> beam.combiners.Top.Smallest(self.limit)
                | "Write" >> beam.Map(_write_rows, self.out_dir))
