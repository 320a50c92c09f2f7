"""Exact waits: the client sleeps what Retry-After says, to the second, on 403/429 and on 5xx.

A lower bound (`>= 20 s`) lets a client that ignores the header and falls back to its own 60 s minute, or to
exponential backoff, pass; these tests pin the value. The fake clock makes every wait instant and exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from commitlake.sources.github import GitHubClient
from commitlake.sources.github._ratelimit import (
    BACKOFF_CAP_SECONDS,
    RESET_MARGIN_SECONDS,
    SECONDARY_MIN_SECONDS,
    backoff_seconds,
    classify_limit,
    retry_after_seconds,
)
from fake_github import FakeClock, FakeGitHub

TOKEN = "ghp_exactWAITtoken"
LIST = "repos/pallets/click/commits"
ODD = 37.0  # not a default, not a power of two, below the 60 s secondary minimum


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gh(clock: FakeClock) -> Iterator[FakeGitHub]:
    with FakeGitHub(clock=clock, token=TOKEN) as fake:
        fake.add_real("pallets__click")
        yield fake


def _get(gh: FakeGitHub, clock: FakeClock) -> list[float]:
    waits: list[tuple[float, str]] = []
    client = GitHubClient(gh.url, TOKEN, clock=clock, rng=random.Random(7), on_wait=lambda s, r: waits.append((s, r)))
    assert client.get(client.url(LIST), params={"per_page": 100}).status == 200
    assert clock.sleeps == [s for s, _ in waits]  # every wait went through the clock
    assert client.stats.wait_seconds == pytest.approx(sum(clock.sleeps))
    return [s for s, _ in waits]


@pytest.mark.parametrize(("fault", "status"), [("secondary", 403), ("429", 429)])
@pytest.mark.parametrize("after", [ODD, 1.0, 150.0])
def test_limit_waits_exactly_retry_after(
    gh: FakeGitHub, clock: FakeClock, fault: str, status: int, after: float
) -> None:
    gh.faults.retry_after = after
    gh.faults.script(fault)
    start = clock.now()
    assert _get(gh, clock) == [after]
    assert [(r.status, r.at - start) for r in gh.log] == [(status, 0.0), (200, after)]


@pytest.mark.parametrize("fault", ["502", "503"])
@pytest.mark.parametrize("after", [ODD, 2 * BACKOFF_CAP_SECONDS])  # also past the backoff cap: the server rules
def test_server_error_waits_exactly_retry_after(gh: FakeGitHub, clock: FakeClock, fault: str, after: float) -> None:
    gh.faults.server_error_retry_after = after
    gh.faults.script(fault, times=2)
    assert _get(gh, clock) == [after, after]  # not the jittered 0.5-1 s, 1-2 s backoff
    assert [r.status for r in gh.log] == [int(fault), int(fault), 200]


def test_server_error_without_retry_after_backs_off(gh: FakeGitHub, clock: FakeClock) -> None:
    """The contrast that makes the tests above mean something: no header, jittered exponential backoff."""
    gh.faults.script("503", times=2)
    first, second = _get(gh, clock)
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0 and first != ODD


def test_bare_secondary_limit_waits_the_minute(gh: FakeGitHub, clock: FakeClock) -> None:
    gh.faults.script("secondary_bare")
    assert _get(gh, clock) == [SECONDARY_MIN_SECONDS]


NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("37", 37.0),
        (" 37 ", 37.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("2.5", 2.5),
        (format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
    ],
)
def test_retry_after_forms(header: str, seconds: float | None) -> None:
    response = httpx.Response(429, headers={"retry-after": header})
    assert retry_after_seconds(response, NOW) == seconds


def test_an_expired_pause_never_waits_again(gh: FakeGitHub, clock: FakeClock) -> None:
    """Time moves on past the pause (other work, a slow page): the next request goes at once."""
    gh.faults.retry_after = ODD
    gh.faults.script("secondary")
    waits: list[tuple[float, str]] = []
    client = GitHubClient(gh.url, TOKEN, clock=clock, rng=random.Random(7), on_wait=lambda s, r: waits.append((s, r)))
    assert client.get(client.url(LIST)).status == 200
    clock.advance(500.0)
    assert client.get(client.url(LIST)).status == 200
    assert [s for s, _ in waits] == [ODD]


@pytest.mark.parametrize(
    ("status", "message", "seconds"),
    [
        (429, "Too Many Requests", SECONDARY_MIN_SECONDS),  # any 429 is a limit, whatever it says
        (403, "You have exceeded a secondary rate limit", SECONDARY_MIN_SECONDS),
        (403, "abuse detection mechanism", SECONDARY_MIN_SECONDS),
        (403, "Resource not accessible by integration", None),  # a real refusal, not a limit
    ],
)
def test_limits_without_headers(status: int, message: str, seconds: float | None) -> None:
    verdict = classify_limit(httpx.Response(status, json={"message": message}), NOW, 0)
    assert (verdict.seconds if verdict else None) == seconds


def test_primary_limit_waits_exactly_until_reset_plus_margin(gh: FakeGitHub, clock: FakeClock) -> None:
    gh.faults.primary_reset = 1800
    gh.faults.script("primary")
    assert _get(gh, clock) == [1800 + RESET_MARGIN_SECONDS]


@pytest.mark.parametrize(("reset_in", "seconds"), [(90.0, 90.0 + RESET_MARGIN_SECONDS), (-5.0, RESET_MARGIN_SECONDS)])
def test_reset_in_the_past_waits_only_the_margin(reset_in: float, seconds: float) -> None:
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": f"{NOW + reset_in:.0f}"}
    verdict = classify_limit(httpx.Response(403, headers=headers, json={"message": "API rate limit exceeded"}), NOW, 0)
    assert verdict is not None and verdict.seconds == seconds


class _Top(random.Random):
    """Jitter at its upper bound, so the ceiling itself is observable."""

    def uniform(self, a: float, b: float) -> float:
        return b


def test_backoff_ceiling_doubles_then_caps() -> None:
    assert [backoff_seconds(n, _Top()) for n in (1, 2, 3, 7, 8, 20)] == [1.0, 2.0, 4.0, 60.0, 60.0, 60.0]
