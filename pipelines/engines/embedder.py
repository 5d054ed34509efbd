"""The embedder of stage 7 and the evaluation: sentence-transformers, a flat faiss index,
and the verdict on a batch of queries. No Beam stage lives here.
"""
from __future__ import annotations

import itertools
import logging
from typing import Mapping

import numpy as np
from apache_beam.utils import shared

from pipelines.core.config import VerifyConfig
from pipelines.core.records import VerifiedQuery
from pipelines.core.verify import judge_retrieval
from pipelines.engines.heap import release_freed_memory
from pipelines.engines.shared import acquire_kept

log = logging.getLogger(__name__)


_EMBEDDERS = shared.Shared()

# Rows of each forward pass of the embedder (EmbedderSpec.encode). 16, measured with calls
# of 2,048 texts (`verify.embed_batch_size` then): 2,975 catalog titles in 8.2 s on this 2-core CPU,
# against 7.8 s for sentence-transformers' own mixed-length batches in calls of 256 (the
# code before, whose rows moved with their batch) and 11.3 s for 16 rows in calls of 256
# (a call of few texts has few of each length to fill a pass): benchmarks/embedding_rows.py.
FORWARD_ROWS = 16
# Queries per faiss search (search_index()): 500 queries of the 10k sample world's 30,007-item
# exact index in 0.57 s in searches of 64, against 0.09 s in one search and 2.2 s one at
# a time (0.58 s with 32, 0.59 s with 128).
SEARCH_ROWS = 64


class EmbedderSpec:
    """Picklable description of the sentence-transformers embedder."""

    def __init__(self, name: str, path: str, revision: str, batch_size: int):
        self.name, self.path, self.revision, self.batch_size = name, path, revision, batch_size

    def load(self):
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(self.path, device="cuda" if has_cuda() else "cpu")

    def acquire(self):
        return acquire_kept(_EMBEDDERS, self.load, tag=f"{self.name}:{self.revision}")

    @classmethod
    def for_config(cls, cfg: VerifyConfig) -> "EmbedderSpec":
        """The configured embedder, resolved from the installed packages."""
        from pipelines.engines.model_store import resolve_embedder

        m = resolve_embedder(cfg.embedder)
        return cls(m.name, m.path, m.revision, cfg.embed_batch_size)

    def encode(self, model, texts: list[str]) -> np.ndarray:
        """L2-normalized rows of `texts`, in their order. A text's row is the same bytes
        whatever other texts share the call: each forward pass holds texts of one token
        length (no padding), made up to FORWARD_ROWS rows by repeating its last text, so
        every pass of a length has the same shape. (The kernels' summation order depends on
        a matrix's shape: a title embedded alone, or among 2 or 6 others of its length,
        differs in the last bits from the same title among 63.) A query then gets the same
        row in one pipeline or in user passes, on one worker or several, and a title the
        same row on any day it is embedded."""
        texts = list(texts)
        vectors = np.zeros((len(texts), model.get_embedding_dimension()), dtype="float32")
        if not texts:
            return vectors
        lengths = np.asarray(model.preprocess(texts)["attention_mask"]).sum(axis=1).tolist()
        by_length = sorted(range(len(texts)), key=lengths.__getitem__)
        for _, same_length in itertools.groupby(by_length, key=lengths.__getitem__):
            same_length = list(same_length)
            for start in range(0, len(same_length), FORWARD_ROWS):
                at = same_length[start:start + FORWARD_ROWS]
                batch = [texts[i] for i in at]
                batch += batch[-1:] * (FORWARD_ROWS - len(batch))
                vectors[at] = model.encode(batch, batch_size=FORWARD_ROWS, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)[:len(at)]
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


def search_index(index, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """`index.search`, in searches of exactly SEARCH_ROWS queries (the last made up with
    repeats): a query's scores and hits then do not depend on the queries searched with it.
    (faiss's exact search takes another path, with other sums, for another number of
    queries: of 50 queries searched alone, 12 came back with other last bits or exact ties
    in another order than among 500.)"""
    scores, rows = [], []
    for start in range(0, len(vectors), SEARCH_ROWS):
        block = vectors[start:start + SEARCH_ROWS]
        n = len(block)
        s, r = index.search(np.concatenate([block, np.repeat(block[-1:], SEARCH_ROWS - n, axis=0)]), k)
        scores.append(s[:n])
        rows.append(r[:n])
    if not scores:
        return np.zeros((0, k), dtype="float32"), np.zeros((0, k), dtype="int64")
    return np.concatenate(scores), np.concatenate(rows)


def judge_queries(queries: list[str], vectors: np.ndarray, index, item_ids: list[str], leaves: list[str],
                  cfg: VerifyConfig) -> list[VerifiedQuery]:
    """Stage 7 for a batch: each query's top-k catalog hits, judged. One function for the
    nightly verification and the evaluation, so both give a query the same verdict."""
    k = min(cfg.top_k, max(1, index.ntotal))
    scores, rows = search_index(index, vectors, k)
    return [judge_retrieval(query, [round(float(s), 4) for s in s_row],
                            [item_ids[i] if i >= 0 else None for i in i_row],
                            [leaves[i] if i >= 0 else None for i in i_row], cfg)
            for query, s_row, i_row in zip(queries, scores, rows)]


class TextVectors:
    """Embeds texts with the verification embedder; called with a list of texts, returns
    their L2-normalized rows in that order.

    With `remember` (one process that sees texts in a fixed order, as the evaluation does)
    each distinct text is embedded once and cached; the cache is dropped when it holds
    `max_cached` texts. Without it (a Beam DoFn, whose memory must not grow with the texts
    it sees), only `seed`ed rows are reused and each call embeds its own missing texts (a
    row does not depend on the other texts of its call: EmbedderSpec.encode)."""

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
