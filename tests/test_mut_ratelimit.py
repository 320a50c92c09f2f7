"""GitHub's rate-limit rules as exact numbers: every wait the client derives from a response, the backoff's
bounds and the shared pause. Pure (httpx responses built in memory, a fake clock), so `make mutation` can run
it per mutant in a second; the client-level behaviour against the fake GitHub is test_github_waits.py."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from commitlake.sources.github._ratelimit import (
    BACKOFF_CAP_SECONDS,
    RESET_MARGIN_SECONDS,
    SECONDARY_MIN_SECONDS,
    Pause,
    RateLimitVerdict,
    backoff_seconds,
    classify_limit,
    retry_after_seconds,
)

NOW = 1_700_000_000.0


def _response(status: int, headers: dict[str, str] | None = None, message: str | None = None) -> httpx.Response:
    body = {"message": message} if message is not None else None
    return httpx.Response(status, headers=headers or {}, json=body)


def test_the_documented_constants() -> None:
    """The guide's numbers: reset margin one second, at least a minute for a secondary limit, backoff capped at
    a minute (and the secondary doubling capped at 15 minutes, below)."""
    assert (RESET_MARGIN_SECONDS, SECONDARY_MIN_SECONDS, BACKOFF_CAP_SECONDS) == (1.0, 60.0, 60.0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("30", 30.0), (" 7 ", 7.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("soon", None)],
)
def test_retry_after_in_seconds(raw: str, expected: float | None) -> None:
    assert retry_after_seconds(_response(429, {"retry-after": raw}), NOW) == expected


def test_retry_after_as_an_http_date() -> None:
    later = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert retry_after_seconds(_response(429, {"retry-after": later}), NOW) == 90.0
    earlier = format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)
    assert retry_after_seconds(_response(429, {"retry-after": earlier}), NOW) == 0.0
    assert retry_after_seconds(_response(429), NOW) is None


def test_retry_after_wins_and_names_its_kind() -> None:
    headers = {"retry-after": "42", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 500)}
    assert classify_limit(_response(403, headers, "You have exceeded a secondary rate limit"), NOW, 0) == (
        RateLimitVerdict(42.0, "secondary rate limit: retry-after 42s")
    )
    assert classify_limit(_response(429, {"retry-after": "5"}), NOW, 0) == (
        RateLimitVerdict(5.0, "secondary rate limit: retry-after 5s")
    )
    for status in (403, 500, 503):
        assert classify_limit(_response(status, {"retry-after": "5"}, "slow down"), NOW, 0) == (
            RateLimitVerdict(5.0, "retry-after: retry-after 5s")
        )


def test_exhausted_primary_quota_waits_for_the_reset_plus_a_margin() -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)}
    verdict = classify_limit(_response(403, headers, "API rate limit exceeded"), NOW, 0)
    assert verdict == RateLimitVerdict(121.0, "primary rate limit exhausted: waiting for x-ratelimit-reset")
    # a reset in the past (clock drift): only the margin
    past = {"x-ratelimit-remaining": " 0 ", "x-ratelimit-reset": str(int(NOW) - 30)}
    assert classify_limit(_response(200, past), NOW, 0) == RateLimitVerdict(
        1.0, "primary rate limit exhausted: waiting for x-ratelimit-reset"
    )
    # exhausted but the reset missing or garbled: the guide's one minute
    for broken in ({"x-ratelimit-remaining": "0"}, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "later"}):
        assert classify_limit(_response(200, broken), NOW, 0) == RateLimitVerdict(
            60.0, "primary rate limit exhausted: waiting for x-ratelimit-reset"
        )


@pytest.mark.parametrize("remaining", ["1", "10", "5000", "", "00x"])
def test_quota_left_is_no_limit(remaining: str) -> None:
    headers = {"x-ratelimit-remaining": remaining, "x-ratelimit-reset": str(int(NOW) + 100)}
    assert classify_limit(_response(200, headers), NOW, 0) is None
    assert classify_limit(_response(403, headers, "Resource not accessible by integration"), NOW, 0) is None


@pytest.mark.parametrize(
    ("hits", "seconds"), [(-3, 60.0), (0, 60.0), (1, 120.0), (2, 240.0), (3, 480.0), (4, 900.0), (9, 900.0)]
)
def test_secondary_limit_without_headers_doubles_from_a_minute_to_fifteen(hits: int, seconds: float) -> None:
    expected = RateLimitVerdict(seconds, "secondary rate limit without retry-after: backing off")
    assert classify_limit(_response(429), NOW, hits) == expected
    assert classify_limit(_response(403, message="You have exceeded a secondary rate limit"), NOW, hits) == expected
    assert classify_limit(_response(403, message="abuse detection mechanism"), NOW, hits) == expected


@pytest.mark.parametrize("status", [403, 404, 409, 428, 430, 451, 500])
def test_a_refusal_is_not_a_rate_limit(status: int) -> None:
    assert classify_limit(_response(status, message="Must have admin rights to Repository."), NOW, 0) is None
    assert classify_limit(_response(status), NOW, 0) is None


def test_a_non_json_or_non_object_body_has_no_message() -> None:
    assert classify_limit(httpx.Response(403, text="<html>forbidden</html>"), NOW, 0) is None
    assert classify_limit(httpx.Response(403, json=["rate limit"]), NOW, 0) is None


def test_verdicts_are_immutable() -> None:
    with pytest.raises(FrozenInstanceError):
        RateLimitVerdict(1.0, "x").seconds = 2.0  # type: ignore[misc]


class _Rng(random.Random):
    """uniform() returns one end of its range: the backoff's exact bounds become observable."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(-1, 1.0), (0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0)]
)
def test_backoff_is_equal_jitter_between_half_and_all_of_the_ceiling(attempt: int, ceiling: float) -> None:
    assert backoff_seconds(attempt, _Rng(top=False)) == ceiling / 2
    assert backoff_seconds(attempt, _Rng(top=True)) == ceiling


class _Clock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_a_fresh_pause_does_not_wait_even_at_time_zero() -> None:
    waits: list[tuple[float, str]] = []
    Pause(_Clock(0.0)).wait(lambda s, r: waits.append((s, r)))
    Pause(_Clock(NOW)).wait(lambda s, r: waits.append((s, r)))
    assert waits == []


def test_the_pause_keeps_the_latest_end_and_its_reason() -> None:
    clock = _Clock(NOW)
    pause = Pause(clock)
    pause.extend(30, "first")
    pause.extend(10, "shorter")  # ends earlier: ignored
    pause.extend(30, "same end")  # ends at the same time: the first reason stays
    waits: list[tuple[float, str]] = []

    def on_wait(seconds: float, reason: str) -> None:
        waits.append((seconds, reason))
        clock.sleep(seconds)

    pause.wait(on_wait)
    assert waits == [(30.0, "first")]
    assert clock.t == NOW + 30
    pause.extend(5, "later")
    pause.wait(on_wait)
    assert waits[-1] == (5.0, "later")


def test_the_pause_waits_again_when_extended_meanwhile() -> None:
    clock = _Clock(NOW)
    pause = Pause(clock)
    pause.extend(10, "a")
    waits: list[tuple[float, str]] = []

    def on_wait(seconds: float, reason: str) -> None:
        waits.append((seconds, reason))
        clock.sleep(seconds / 2)  # woke early; another worker hit the limit meanwhile
        if len(waits) == 1:
            pause.extend(20, "b")

    pause.wait(on_wait)
    assert waits[:2] == [(10.0, "a"), (20.0, "b")]  # at +5 it extends to +25
    assert clock.t >= NOW + 25
