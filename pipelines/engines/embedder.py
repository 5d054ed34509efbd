"""The embedder of stage 7 and the evaluation: sentence-transformers, a flat faiss index,
and the verdict on a batch of queries. No Beam stage lives here.
"""
from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
from apache_beam.utils import shared

from pipelines.core.config import VerifyConfig
from pipelines.core.records import VerifiedQuery
from pipelines.core.verify import judge_retrieval
from pipelines.engines.heap import release_freed_memory
from pipelines.engines.shared import SharedHolder

log = logging.getLogger(__name__)


_EMBEDDERS = shared.Shared()


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
        from pipelines.engines.model_store import resolve_embedder

        m = resolve_embedder(cfg.embedder)
        return cls(m.name, m.path, m.revision, cfg.embed_batch_size)

    def encode(self, model, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=False), dtype="float32")
        release_freed_memory()  # the batch's activations (engines/heap.py)
        return vectors


def has_cuda() -> bool:
    """Whether torch sees a GPU (the embedder and the generator pick their device by it)."""
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def flat_index(vectors: np.ndarray):
    """An exact inner-product faiss index over L2-normalized rows (cosine search)."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1] if len(vectors) else 384)
    if len(vectors):
        index.add(np.asarray(vectors, dtype="float32"))
    return index


def catalog_index(vectors: np.ndarray, cfg: VerifyConfig):
    """The catalog's index, chosen by size: exact up to `cfg.exact_index_max_items` rows,
    else HNSW (inner product) with the configured M, efConstruction and efSearch. HNSW is
    built with one OpenMP thread: its insertion order then fixes the graph, so a re-run
    builds the same index and verifies every query the same way."""
    import faiss

    if len(vectors) <= cfg.exact_index_max_items:
        return flat_index(vectors)
    index = faiss.IndexHNSWFlat(vectors.shape[1], cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = cfg.hnsw_ef_construction
    index.hnsw.efSearch = cfg.hnsw_ef_search
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        index.add(np.asarray(vectors, dtype="float32"))
    finally:
        faiss.omp_set_num_threads(threads)
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


class TextVectors:
    """Embeds texts with the verification embedder; called with a list of texts, returns
    their L2-normalized rows in that order.

    With `remember` (one process that sees texts in a fixed order, as the evaluation does)
    each distinct text is embedded once and cached; the cache is dropped when it holds
    `max_cached` texts. Without it (a Beam DoFn, whose elements come in no fixed order),
    only `seed`ed rows are reused and each call embeds its own missing texts as one batch:
    a row must not depend on which other texts shared its batch, and that depends on the
    order elements arrive in."""

    def __init__(self, spec: EmbedderSpec, model, max_cached: int = 500_000, remember: bool = True):
        self.spec, self.model, self.max_cached, self.remember = spec, model, max_cached, remember
        self._cache: dict[str, np.ndarray] = {}

    def seed(self, texts, vectors) -> None:
        """Known rows (embedded elsewhere by the same embedder), so they are not embedded again."""
        if vectors is not None and len(self._cache) + len(texts) <= self.max_cached:
            self._cache.update(zip(texts, vectors))

    def __call__(self, texts, known: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """`known`: rows this call may use as they are (embedded elsewhere by the same
        embedder, e.g. by verification or the catalog index); only the rest is embedded."""
        if not len(texts):
            return np.zeros((0, 384), dtype="float32")
        known = known or {}
        if self.remember and len(self._cache) + len(texts) > self.max_cached:
            self._cache.clear()
        missing = sorted({t for t in texts if t not in known and t not in self._cache})
        fresh = dict(zip(missing, self.spec.encode(self.model, missing))) if missing else {}
        if self.remember:
            self._cache.update(fresh)
        return np.stack([known[t] if t in known else fresh[t] if t in fresh else self._cache[t] for t in texts])
