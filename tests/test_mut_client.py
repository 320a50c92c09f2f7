"""The GitHub client's paging and origin rules, exactly: every 2xx carries data, pages are followed through
`Link` until there is none, a 304 ends the walk, and the token never leaves the API's origin whichever way the
other origin sorts. An in-memory transport stands in for GitHub (the client's own injection point), so
`make mutation` can run this per mutant; test_github_client.py covers the same client against the fake server."""

from __future__ import annotations

import httpx
import pytest

from commitlake.errors import SourceError
from commitlake.sources.github import GitHubClient, GitHubHTTPError

API = "https://ghe.example/api/v3"
LIST = f"{API}/repos/o/r/commits"


def _client(handler: httpx.MockTransport) -> GitHubClient:
    return GitHubClient(API, "ghp_x", transport=handler, max_retries=0)


def test_every_2xx_status_carries_its_data() -> None:
    for status in (200, 201, 203, 299):
        client = _client(httpx.MockTransport(lambda _r, s=status: httpx.Response(s, json={"s": s})))
        page = client.get(LIST)
        assert (page.status, page.data) == (status, {"s": status})


def test_pages_are_followed_until_no_next_link() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params.get("page", "1"))
        headers = {"link": f'<{LIST}?page={number + 1}>; rel="next"'} if number < 3 else {}
        return httpx.Response(200, json=[number], headers=headers)

    pages = list(_client(httpx.MockTransport(handler)).paginate(LIST))
    assert [p.data for p in pages] == [[1], [2], [3]]


def test_a_304_is_yielded_once_and_ends_the_walk() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(304, headers={"etag": '"e1"', "link": f'<{LIST}?page=2>; rel="next"'})

    pages = list(_client(httpx.MockTransport(handler)).paginate(LIST, etag='"e1"'))
    assert [(p.status, p.data, p.etag) for p in pages] == [(304, None, '"e1"')]
    assert seen == [LIST]


@pytest.mark.parametrize(
    "elsewhere",
    ["https://aaa.example/steal", "https://zzz.example/steal", "http://ghe.example/steal", "https://ghe.example:444/x"],
)
def test_the_token_never_leaves_the_api_origin(elsewhere: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[])

    client = _client(httpx.MockTransport(handler))
    with pytest.raises(SourceError, match="refusing to follow"):
        client.get(elsewhere)
    assert seen == []
    assert not client.on_api_host(elsewhere) and client.on_api_host(f"{API}/x")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_every_redirect_status_is_followed_on_the_api_origin(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/old"):
            return httpx.Response(status, headers={"location": f"{API}/new"})
        return httpx.Response(200, json={"at": request.url.path})

    page = _client(httpx.MockTransport(handler)).get(f"{API}/old")
    assert page.data == {"at": "/api/v3/new"}


def test_exactly_five_redirects_are_followed() -> None:
    def chain(limit: int) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            hop = int(request.url.params.get("hop", "0"))
            if hop < limit:
                return httpx.Response(301, headers={"location": f"{API}/r?hop={hop + 1}"})
            return httpx.Response(200, json={"hops": hop})

        return httpx.MockTransport(handler)

    assert _client(chain(5)).get(f"{API}/r").data == {"hops": 5}
    with pytest.raises(SourceError, match=r"more than 5 redirects"):
        _client(chain(6)).get(f"{API}/r")


def test_a_transport_failure_is_named_with_its_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out after 30 s", request=request)

    with pytest.raises(SourceError, match=r"gave up after 1 attempts: ReadTimeout: read timed out after 30 s$"):
        _client(httpx.MockTransport(handler)).get(LIST)


class _Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0)


def test_twelve_rate_limit_waits_by_default_then_a_clear_error() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"retry-after": "1"})

    client = GitHubClient(API, None, transport=httpx.MockTransport(handler), clock=_Clock())
    with pytest.raises(SourceError, match=r"still rate limited after 12 waits$"):
        client.get(LIST)
    assert len(calls) == 13


@pytest.mark.parametrize("status", [300, 304 + 1, 199])
def test_statuses_outside_2xx_carry_no_data(status: int) -> None:
    client = _client(httpx.MockTransport(lambda _r: httpx.Response(status, json={"a": 1})))
    with pytest.raises(GitHubHTTPError, match=f"HTTP {status}"):
        client.get(LIST)


def test_a_304_is_counted_once_per_run_and_per_repository() -> None:
    from commitlake.sources.base import SourceStats

    client = _client(httpx.MockTransport(lambda _r: httpx.Response(304, headers={"etag": '"e"'})))
    assert (client.stats.requests, client.stats.not_modified) == (0, 0)
    per_repo = SourceStats()
    client.get(LIST, etag='"e"', stats=per_repo)
    assert (client.stats.requests, client.stats.not_modified) == (1, 1)
    assert (per_repo.requests, per_repo.not_modified) == (1, 1)


def test_the_rate_limit_error_counts_the_waits_it_made() -> None:
    client = GitHubClient(
        API,
        None,
        transport=httpx.MockTransport(lambda _r: httpx.Response(429, headers={"retry-after": "1"})),
        clock=_Clock(),
        max_rate_limit_waits=1,
    )
    with pytest.raises(SourceError, match=r"still rate limited after 1 waits$"):
        client.get(LIST)


@pytest.mark.parametrize("status", [500, 502, 599])
def test_a_5xx_is_retried(status: int) -> None:
    answers = [httpx.Response(status), httpx.Response(200, json=[1])]
    client = GitHubClient(API, None, transport=httpx.MockTransport(lambda _r: answers.pop(0)), clock=_Clock())
    assert client.get(LIST).data == [1]
    assert client.stats.retries == 1


@pytest.mark.parametrize("remaining", ["1", "5000", ""])
def test_a_success_with_quota_left_never_pauses_even_with_a_retry_after(remaining: str) -> None:
    """Only the answer that used the last request (`x-ratelimit-remaining: 0`) holds the workers; a 2xx that
    happens to carry `retry-after` with quota left must not (GitHub sends none, a proxy might)."""
    clock = _Clock()
    headers = {"retry-after": "600", "x-ratelimit-remaining": remaining}
    client = GitHubClient(
        API, None, transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=[1], headers=headers)), clock=clock
    )
    client.get(LIST)
    client.get(LIST)
    assert clock.t == 1_700_000_000.0


def test_the_answer_that_used_the_last_request_pauses_until_reset() -> None:
    clock = _Clock()
    reset = int(clock.t) + 90
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    client = GitHubClient(
        API, None, transport=httpx.MockTransport(lambda _r: httpx.Response(200, json=[1], headers=headers)), clock=clock
    )
    client.get(LIST)
    client.get(LIST)  # waits for the reset before asking again
    assert clock.t >= reset
