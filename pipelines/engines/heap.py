"""Giving the memory a model freed back to the machine.

Why: torch's CPU kernels allocate and free each batch's activations from several
threads, and glibc's allocator keeps what they free in its heaps. Embedding a catalog
grew a process's RSS with every batch it embedded, by far more than the rows it kept
(measured with `benchmarks/embedding_memory.py`: 30,000 titles in batches of 256, +391 MB,
and +704 MB in a scratch run of the same loop, against 44 MB of rows), so a night's peak grew with its
catalog and its queries. After a batch the engines hand the free pages back (glibc's
`malloc_trim`).

A trim walks the whole heap: ~70 ms in a fragmented 1.7 GB one (measured), and more in a
larger one. So trimming takes at most `TRIM_TIME_SHARE` of the process's time: after a
trim that took t seconds, calls in the next t / TRIM_TIME_SHARE seconds skip it (what
they would have released is released by the next trim).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time
from functools import lru_cache

TRIM_TIME_SHARE = 0.05
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
