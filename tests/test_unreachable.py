"""A GitHub host that cannot be resolved or routed to fails at once, with one request and a plain message."""

from __future__ import annotations

import errno
import socket

import httpx
import pytest

from commitlake.errors import EXIT_TRANSIENT, HostUnreachable, exit_code
from commitlake.sources.github import GitHubClient


def _client(error: OSError, calls: list[str]) -> GitHubClient:
    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        raise httpx.ConnectError(str(error), request=request) from error

    return GitHubClient("https://api.github.com", None, transport=httpx.MockTransport(refuse))


@pytest.mark.parametrize(("error", "message"), [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "cannot resolve api.github.com"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "cannot reach api.github.com: no route to it"),
])
def test_unreachable_host_is_not_retried(error: OSError, message: str) -> None:
    calls: list[str] = []
    with _client(error, calls) as client, pytest.raises(HostUnreachable) as raised:
        client.get(client.url("repos/octo/cat/commits"))
    assert str(raised.value) == f"{message}: check the network and DNS, or GITHUB_API_URL=https://api.github.com"
    assert len(calls) == 1 and client.stats.retries == 0
    assert exit_code(raised.value) == EXIT_TRANSIENT
