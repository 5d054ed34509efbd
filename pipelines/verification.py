"""Stage 7, verify: embed each distinct query once and search the catalog index."""
from __future__ import annotations

import io
import json
import logging
import posixpath

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from pipelines.core.config import VerifyConfig
from pipelines.core.records import Item, VerifiedQuery
from pipelines.core.verify import judge_retrieval
from pipelines.batching import SharedHolder, StableBatches
from pipelines.progress import ProgressLine, stage_timer

log = logging.getLogger(__name__)
_EMBEDDERS = shared.Shared()
_INDEXES = shared.Shared()


class EmbedderSpec:
    """Picklable description of the sentence-transformers embedder."""

    def __init__(self, name: str, path: str, revision: str, batch_size: int):
        self.name, self.path, self.revision, self.batch_size = name, path, revision, batch_size

    def load(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.path, device="cuda" if has_cuda() else "cpu")

    def acquire(self):
        return _EMBEDDERS.acquire(lambda: SharedHolder(self.load()), tag=f"{self.name}:{self.revision}").value

    @classmethod
    def for_config(cls, cfg: VerifyConfig) -> "EmbedderSpec":
        """The configured embedder, resolved from the installed packages."""
        from pipelines.model_store import resolve_embedder

        m = resolve_embedder(cfg.embedder)
        return cls(m.name, m.path, m.revision, cfg.embed_batch_size)

    def encode(self, model, texts: list[str]) -> np.ndarray:
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype="float32")


def has_cuda() -> bool:
    """Whether torch sees a GPU (the embedder and the generator pick their device by it)."""
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


class _EmbedItemsFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec):
        self.spec = spec

    def setup(self):
        self.model = self.spec.acquire()

    def process(self, batch):
        _, items = batch
        with stage_timer("index"):
            vectors = self.spec.encode(self.model, [i.title for i in items])
        for item, vec in zip(items, vectors):
            yield item.item_id, item.leaf, vec


def flat_index(vectors: np.ndarray):
    """An exact inner-product faiss index over L2-normalized rows (cosine search). An
    exact flat index is right for a catalog of thousands; millions of items want an
    IVF/HNSW index built by its own job, behind the same contract."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1] if len(vectors) else 384)
    if len(vectors):
        index.add(np.asarray(vectors, dtype="float32"))
    return index


def judge_queries(queries: list[str], vectors: np.ndarray, index, item_ids: list[str], leaves: list[str],
                  cfg: VerifyConfig) -> list[VerifiedQuery]:
    """Stage 7 for a batch: each query's top-k catalog hits, judged. One function for the
    nightly verification and the evaluation, so both give a query the same verdict."""
    k = min(cfg.top_k, max(1, index.ntotal))
    scores, rows = index.search(vectors, k)
    return [judge_retrieval(query, [round(float(s), 4) for s in s_row],
                            [item_ids[i] if i >= 0 else None for i in i_row],
                            [leaves[i] if i >= 0 else None for i in i_row], cfg)
            for query, s_row, i_row in zip(queries, scores, rows)]


def _write_index(entries, out_dir: str) -> str:
    """Builds an exact inner-product index over the item vectors (sorted by id, so the
    same catalog gives the same index) and writes it with its id/leaf table."""
    import faiss

    with stage_timer("index"):
        entries = sorted(entries, key=lambda e: e[0])
        index = flat_index(np.stack([e[2] for e in entries]) if entries else np.zeros((0, 384), dtype="float32"))
        index_path = posixpath.join(out_dir, "catalog.faiss")
        with FileSystems.create(index_path) as f:
            f.write(faiss.serialize_index(index).tobytes())
        with FileSystems.create(posixpath.join(out_dir, "catalog_items.json")) as f:
            f.write(json.dumps({"item_ids": [e[0] for e in entries],
                                "leaves": [e[1] for e in entries]}).encode())
    log.info("catalog index: %d items", len(entries))
    return index_path


class BuildCatalogIndex(beam.PTransform):
    """Items with a title → a faiss index file in `out_dir` (see flat_index); returns its
    path (one element)."""

    def __init__(self, spec: EmbedderSpec, out_dir: str):
        super().__init__()
        self.spec, self.out_dir = spec, out_dir

    def expand(self, items):
        return (
            items
            | "WithTitle" >> beam.Filter(lambda i: isinstance(i, Item) and bool(i.title))
            | "StableBatches" >> StableBatches(lambda i: i.item_id, self.spec.batch_size)
            | "EmbedTitles" >> beam.ParDo(_EmbedItemsFn(self.spec))
            | "Collect" >> beam.combiners.ToList()
            | "WriteIndex" >> beam.Map(_write_index, self.out_dir)
        )


class _LoadedIndex:
    def __init__(self, path: str):
        import faiss

        with FileSystems.open(path) as f:
            self.index = faiss.deserialize_index(np.frombuffer(f.read(), dtype="uint8"))
        with FileSystems.open(posixpath.join(posixpath.dirname(path), "catalog_items.json")) as f:
            meta = json.load(io.TextIOWrapper(f, encoding="utf-8"))
        self.item_ids, self.leaves = meta["item_ids"], meta["leaves"]


class _VerifyFn(beam.DoFn):
    def __init__(self, spec: EmbedderSpec, cfg: VerifyConfig):
        self.spec, self.cfg = spec, cfg

    def setup(self):
        self.model = self.spec.acquire()
        self.progress = ProgressLine("verify", unit="queries")

    def process(self, batch, index_path, total):
        _, queries = batch
        if getattr(self, "_loaded_path", None) != index_path:
            self._loaded = _INDEXES.acquire(lambda: _LoadedIndex(index_path), tag=index_path)
            self._loaded_path = index_path
        loaded = self._loaded
        with stage_timer("verify"):
            queries = list(queries)
            yield from judge_queries(queries, self.spec.encode(self.model, queries), loaded.index,
                                     loaded.item_ids, loaded.leaves, self.cfg)
        self.progress.add(len(queries), total=total, force=True)


class VerifyQueries(beam.PTransform):
    """Distinct query strings → VerifiedQuery, one embedding per distinct query."""

    def __init__(self, spec: EmbedderSpec, cfg: VerifyConfig, index_path):
        super().__init__()
        self.spec, self.cfg, self.index_path = spec, cfg, index_path

    def expand(self, queries):
        distinct = queries | "Distinct" >> beam.Distinct()
        total = distinct | "CountDistinct" >> beam.combiners.Count.Globally()
        return (
            distinct
            | "StableBatches" >> StableBatches(lambda q: q, self.spec.batch_size)
            | "EmbedAndSearch" >> beam.ParDo(_VerifyFn(self.spec, self.cfg),
                                             beam.pvalue.AsSingleton(self.index_path),
                                             beam.pvalue.AsSingleton(total))
        )
