"""Giving the memory a model freed back to the machine.

Why: torch's CPU kernels allocate and free each batch's activations from several
threads, and glibc's allocator keeps what they free in its heaps. Embedding a catalog
grew a process's RSS with every batch it embedded, by far more than the rows it kept
(measured with `benchmarks/embedding_memory.py`: 30,000 titles in batches of 256, +391 MB,
and +704 MB in a scratch run of the same loop, against 44 MB of rows), so a night's peak grew with its
catalog and its queries. After a batch the engines hand the free pages back (glibc's
`malloc_trim`).

The runner's own data plane does the same between stages: each stage's input and output
are held whole in memory and freed when the stage is done, and the heap kept them. On the
embedded runner a thread hands freed pages back every `RELEASE_EVERY_S` seconds while a
pipeline runs (`ReleasingFreedMemory`, jobs/runner.py): u2q's peak at 10k replayed
shoppers 2,791 → 2,409 MB; at 100k it did not move (14,688 → 14,793 MB: there one
stage's own input and output are the peak; `benchmarks/scale.py`, README "Scale").

A trim walks the whole heap: ~70 ms in a fragmented 1.7 GB one (measured), and more in a
larger one. So trimming takes at most `TRIM_TIME_SHARE` of the process's time: after a
trim that took t seconds, calls in the next t / TRIM_TIME_SHARE seconds skip it (what
they would have released is released by the next trim).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
import time
from functools import lru_cache

TRIM_TIME_SHARE = 0.05
RELEASE_EVERY_S = 1.0
_clock = time.monotonic
_next_trim_at = [0.0]


@lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_freed_memory() -> bool:
    """Returns the allocator's free pages to the OS where the C library can (glibc) and
    the time share allows; True if it released any. Elsewhere a no-op that returns False."""
    trim = _malloc_trim()
    started = _clock()
    if trim is None or started < _next_trim_at[0]:
        return False
    released = bool(trim(0))
    _next_trim_at[0] = started + (_clock() - started) / TRIM_TIME_SHARE
    return released


class ReleasingFreedMemory:
    """While in `with`, a daemon thread calls `release_freed_memory` every `every_s` seconds
    (the time share still applies). For the embedded runner, whose stages free their whole
    input and output at once in the runner's own code, where no HintQ code runs after them."""

    def __init__(self, every_s: float | None = None):
        self.every_s = RELEASE_EVERY_S if every_s is None else every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "ReleasingFreedMemory":
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="release-freed-memory", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            release_freed_memory()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


# Objects allocated between collections of the youngest generation (Python's default: 700).
YOUNG_COLLECTION_EVERY = 50_000


class CollectingLess:
    """While in `with`, Python's cyclic garbage collector leaves alone what the process held
    when the pipeline started (`gc.freeze`: imported modules, models, the pipeline's graph)
    and collects the young generation every YOUNG_COLLECTION_EVERY allocations instead of
    every 700.

    Why: the embedded runner turns every element that crosses a stage into new objects
    (decoded, then encoded again), so a pipeline allocates millions of them; each
    collection scanned the young ones again, and every full one the whole heap, models
    included. The replayed 8th night of the 1k-shopper world spent 1.4-1.5 s (x2q) and
    2.6-2.8 s (u2q) in the collector; with this, 0.55 and 0.7-1.0 s. vLLM collects the heap
    in full five times while its engine starts: of an unfrozen heap that is the whole
    process (engine start 8.3 → 6.4 s on the real 8th night, x2q; the same bytes). What
    is garbage is still collected, fewer times: the leftovers are at most
    YOUNG_COLLECTION_EVERY objects more than before. After `with` everything frozen is
    unfrozen (what vLLM froze as well): the pipeline's graph, held when it started and
    garbage once it ran, is then collected, so a process that runs many pipelines (a
    backfill, the tests) does not keep every graph. It acts on the process that runs the
    stages: worker processes of `--direct_running_mode multi_processing` keep Python's
    defaults."""

    def __enter__(self) -> "CollectingLess":
        self._threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(YOUNG_COLLECTION_EVERY, *self._threshold[1:])
        return self

    def __exit__(self, *exc) -> None:
        gc.set_threshold(*self._threshold)
        gc.unfreeze()
