"""The GitHub client's paging and origin rules, exactly: every 2xx carries data, pages are followed through
`Link` until there is none, a 304 ends the walk, and the token never leaves the API's origin whichever way the
other origin sorts. An in-memory transport stands in for GitHub (the client's own injection point), so
`make mutation` can run this per mutant; test_github_client.py covers the same client against the fake server."""

from __future__ import annotations

import httpx
import pytest

from commitlake.errors import SourceError
from commitlake.sources.github import GitHubClient

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
