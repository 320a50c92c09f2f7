"""Give freed heap memory back to the operating system between large steps of one process.

Why: glibc's malloc keeps memory that Python freed in its arenas for reuse, so a process that built large
frames, matrices or models in one step still holds the pages in the next. The local runner runs every stage in
one process and the search's workers run fit after fit, so that residue added up: the process tree's peak grew
by what earlier steps had freed. `malloc_trim(0)` returns the free pages at the cost of a heap walk
(milliseconds). A no-op where the C library has no malloc_trim (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

__all__ = ["release_free_memory"]


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Collect cyclic garbage, then return the heap's free pages to the OS."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
