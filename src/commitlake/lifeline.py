"""Child processes that die with their parent: stage processes of the local runner, training and scoring workers.

Without it a `kill -9` of the parent leaves its children running (found by `make chaos`: search workers of
280 MB each, alive more than 10 minutes after train was killed), and a rerun would race an orphan that still
writes to the warehouse.
"""

from __future__ import annotations

import os

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int) -> None:
    """In the child: be killed (SIGKILL) when the parent process dies. Linux ties this to the thread that
    started the child, so start children from a thread that lives as long as they do. A parent that died
    before this ran is seen by the check after it."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
