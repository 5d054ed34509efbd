"""Giving the memory a model freed back to the machine.

Why: torch's CPU kernels allocate and free each batch's activations from several
threads, and glibc's allocator keeps what they free in its heaps. Embedding a catalog
grew a process's RSS with every batch it embedded, by far more than the rows it kept
(measured with `benchmarks/embedding_memory.py`: 30,009 titles in batches of 256, +704 MB
against 46 MB of rows), so a night's peak grew with its catalog and its queries. After
each batch the engines hand the free pages back (glibc's `malloc_trim`), which keeps the
growth to what the night holds, at no measured cost in time.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def release_freed_memory() -> bool:
    """Returns the allocator's free pages to the OS where the C library can (glibc);
    True if it released any. Elsewhere a no-op that returns False."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
