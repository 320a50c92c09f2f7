"""commitlake.memory.release_free_memory gives the heap's free pages back (the runner calls it between stages,
the workers between fits)."""

from __future__ import annotations

import subprocess
import sys

#: In a fresh interpreter: 400 MB of C heap in 8 KB blocks (below glibc's mmap threshold), a block after them
#: so the heap cannot shrink from its top, then every block freed. The pages stay resident until trimmed.
_FRAGMENTED_HEAP = """
import ctypes, os, sys
from commitlake.memory import release_free_memory
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
rss = lambda: int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') >> 20
start = rss()
blocks = [libc.malloc(8192) for _ in range(50_000)]
for block in blocks:
    ctypes.memset(block, 1, 8192)
pin = libc.malloc(8192)
for block in blocks:
    libc.free(block)
held = rss() - start
if sys.argv[1] == "release":
    release_free_memory()
print(held, rss() - start)
"""


def _held_then_left(action: str) -> tuple[int, int]:
    done = subprocess.run([sys.executable, "-c", _FRAGMENTED_HEAP, action], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    held, left = (int(v) for v in done.stdout.split())
    return held, left


def test_freed_heap_pages_stay_resident_until_released() -> None:
    held, left = _held_then_left("keep")
    assert held > 300 and left > 300, (held, left)  # the premise: free() alone gives nothing back
    held, left = _held_then_left("release")
    assert held > 300 and left < 50, (held, left)
