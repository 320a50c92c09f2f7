"""Time, injectable: the client reads `now()` to honour `x-ratelimit-reset` and calls `sleep()` to wait.

Tests pass a fake clock that records sleeps and advances its own time, so backoffs of minutes take no time.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (GitHub's `x-ratelimit-reset` is in the same unit)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real thing: wall-clock time (not monotonic, because reset times are wall-clock epochs)."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
