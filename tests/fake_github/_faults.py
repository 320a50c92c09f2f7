"""What can go wrong, on purpose: a seeded random rate of faults plus scripted one-shot faults.

Kinds:
    502, 503          a bad gateway / unavailable answer (JSON message, as GitHub sends), with Retry-After
                      `server_error_retry_after` s when that is set
    primary           403 "API rate limit exceeded", x-ratelimit-remaining 0, reset `primary_reset` s ahead;
                      the server then refuses every request until the reset (a premature retry is logged)
    secondary         403 "You have exceeded a secondary rate limit", Retry-After `retry_after` s, enforced
    secondary_bare    the same without Retry-After (the client must wait at least 60 s), enforced for 60 s
    429               429 Too Many Requests with Retry-After, enforced
    truncated         200 whose JSON body is cut in half (Content-Length matches the cut body)
    cut               200 that promises the full Content-Length, sends half, and closes the connection
    slow              the normal answer, `slow_seconds` late
    drop              the connection is closed without any answer
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field

__all__ = ["ALL_FAULTS", "FaultPlan"]

ALL_FAULTS = ("502", "503", "primary", "secondary", "secondary_bare", "429", "truncated", "cut", "slow", "drop")


@dataclass
class FaultPlan:
    rate: float = 0.0
    kinds: tuple[str, ...] = ALL_FAULTS
    seed: int = 0
    primary_reset: float = 30.0
    retry_after: float = 20.0
    #: Retry-After sent with 502/503 (GitHub does on some outages); None sends none
    server_error_retry_after: float | None = None
    slow_seconds: float = 0.05
    _script: deque[tuple[str, str | None]] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._rng = random.Random(self.seed)

    def script(self, kind: str, times: int = 1, path_contains: str | None = None) -> FaultPlan:
        """Inject `kind` into the next `times` requests (whose path contains `path_contains`, if given)."""
        if kind not in ALL_FAULTS:
            raise ValueError(kind)
        with self._lock:
            self._script.extend([(kind, path_contains)] * times)
        return self

    def pick(self, path: str) -> str | None:
        with self._lock:
            for position, (kind, needle) in enumerate(self._script):
                if needle is None or needle in path:
                    del self._script[position]
                    return kind
            if self.rate and self._rng.random() < self.rate:
                return self._rng.choice(self.kinds)
        return None
