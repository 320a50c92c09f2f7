"""GitHub's rate limits, as its REST best-practices guide describes them, and backoff for transient failures.

- `retry-after` present: wait that long (seconds or an HTTP date).
- `x-ratelimit-remaining: 0`: no request until `x-ratelimit-reset` (UTC epoch seconds), even after a 200.
- a secondary limit (403 or 429 whose message says so, or any 429) without those headers: at least 60 s,
  doubling on repeats.
- 5xx, truncated bodies, dropped connections: exponential backoff with jitter.

The pause is shared by every thread of the client: when one repository hits the limit, all of them wait,
because the quota belongs to the token, not to the repository.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from commitlake.sources.github._clock import Clock

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "RESET_MARGIN_SECONDS",
    "SECONDARY_MIN_SECONDS",
    "Pause",
    "RateLimitVerdict",
    "backoff_seconds",
    "classify_limit",
    "retry_after_seconds",
]

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
SECONDARY_MIN_SECONDS = 60.0
SECONDARY_CAP_SECONDS = 900.0
#: Added to `x-ratelimit-reset`: the reset is in whole seconds and clocks drift.
RESET_MARGIN_SECONDS = 1.0


@dataclass(frozen=True)
class RateLimitVerdict:
    """How long to stop before retrying a limited request, and why (shown in the log and progress bar)."""

    seconds: float
    reason: str


def retry_after_seconds(response: httpx.Response, now: float) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _reset_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds until the primary quota resets, when the response says it is exhausted."""
    if response.headers.get("x-ratelimit-remaining", "").strip() != "0":
        return None
    try:
        reset = float(response.headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return SECONDARY_MIN_SECONDS  # exhausted but no reset given: the guide's "at least one minute"
    return max(0.0, reset - now) + RESET_MARGIN_SECONDS


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def classify_limit(response: httpx.Response, now: float, secondary_hits: int) -> RateLimitVerdict | None:
    """For a 403/429: the wait GitHub asks for, or None when this 403 is not a rate limit (a real refusal)."""
    message = _message(response).lower()
    after = retry_after_seconds(response, now)
    if after is not None:
        kind = "secondary rate limit" if "secondary" in message or response.status_code == 429 else "retry-after"
        return RateLimitVerdict(after, f"{kind}: retry-after {after:.0f}s")
    reset = _reset_wait(response, now)
    if reset is not None:
        return RateLimitVerdict(reset, "primary rate limit exhausted: waiting for x-ratelimit-reset")
    if response.status_code == 429 or "rate limit" in message or "abuse" in message:
        seconds = min(SECONDARY_CAP_SECONDS, SECONDARY_MIN_SECONDS * 2 ** max(0, secondary_hits))
        return RateLimitVerdict(seconds, "secondary rate limit without retry-after: backing off")
    return None


def backoff_seconds(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with 'equal jitter': half fixed, half random, so retries never bunch up at zero."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Pause:
    """A thread-safe 'no request before T' shared by every worker of one client."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until = 0.0
        self._reason = ""

    def extend(self, seconds: float, reason: str) -> None:
        with self._lock:
            until = self._clock.now() + seconds
            if until > self._until:
                self._until, self._reason = until, reason

    def wait(self, on_wait: Callable[[float, str], None]) -> None:
        """Block until the pause is over; `on_wait(seconds, reason)` accounts and sleeps for each stretch."""
        while True:
            with self._lock:
                remaining = self._until - self._clock.now()
                reason = self._reason
            if remaining <= 0:
                return
            on_wait(remaining, reason)
