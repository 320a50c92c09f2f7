"""One GitHub REST client per run, shared by every repository's worker thread.

It owns what must be global to a token: the request budget (`--max-requests`), the rate-limit pause and the
totals. Every request goes through `get`, which retries what is transient (5xx, dropped connections,
truncated JSON), waits where GitHub says to wait, and turns final refusals into typed errors. The token is
sent only to the API's own origin and never appears in a message, a log line or a page's metadata.
"""

from __future__ import annotations

import errno
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from commitlake import __version__
from commitlake.errors import AuthError, BudgetExhausted, HostUnreachable, SourceError
from commitlake.logs import get_logger
from commitlake.sources.base import SourceStats
from commitlake.sources.github._clock import Clock, SystemClock
from commitlake.sources.github._exceptions import GitHubHTTPError
from commitlake.sources.github._paginators import HeaderLinkPaginator, Paginator
from commitlake.sources.github._ratelimit import Pause, backoff_seconds, classify_limit, retry_after_seconds

__all__ = [
    "DEFAULT_MAX_RATE_LIMIT_WAITS",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT_SECONDS",
    "RETRY_REASON_PREFIX",
    "ClientStats",
    "GitHubClient",
    "Page",
]

DEFAULT_TIMEOUT_SECONDS = 30.0
#: Transient failures (5xx, connection, truncated body) tolerated for one request before giving up.
DEFAULT_MAX_RETRIES = 8
#: Rate-limit waits tolerated for one request (each may last up to an hour) before giving up.
DEFAULT_MAX_RATE_LIMIT_WAITS = 12
#: Redirects followed for one request: GitHub answers 301 for a renamed or transferred repository.
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 307, 308})
API_VERSION = "2022-11-28"
#: The reason handed to `on_wait` for a backoff before a retry (already logged as `github.retry`), as opposed
#: to a rate-limit pause.
RETRY_REASON_PREFIX = "retrying after "

_log = get_logger("commitlake.sources.github")


@dataclass
class ClientStats:
    """Totals over every repository of the run (SourceStats holds the same per repository)."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    wait_seconds: float = 0.0


@dataclass
class Page:
    """One answered request: the parsed JSON (None on 304), its URL and the headers pagination needs."""

    url: str
    status: int
    data: Any
    etag: str | None
    response: httpx.Response = field(repr=False)


def _error_message(response: httpx.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.reason_phrase or "no message"
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return response.reason_phrase or "no message"


def _unreachable(exc: BaseException) -> str | None:
    """What makes the host unreachable for a while (a template with {host}), or None for a transient blip.

    The resolver found no address (socket.gaierror), or the machine has no route to the network: retrying
    nine times with backoff only hides that for two minutes.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "cannot resolve {host}"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "cannot reach {host}: no route to it"
        seen = seen.__cause__ or seen.__context__
    return None


class _Transient(Exception):
    """A failure worth retrying after a backoff (or after `delay` seconds when the server said so)."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class GitHubClient:
    """Thread-safe: one instance serves every worker of a run, so budget and rate-limit pauses are shared."""

    def __init__(
        self,
        api_url: str,
        token: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        max_requests: int | None = None,
        on_wait: Callable[[float, str], None] | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_rate_limit_waits: int = DEFAULT_MAX_RATE_LIMIT_WAITS,
        rng: random.Random | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_requests = max_requests
        self.max_retries = max_retries
        self.max_rate_limit_waits = max_rate_limit_waits
        self._origin = self._origin_of(self.api_url)
        self._token = token
        self._clock: Clock = clock or SystemClock()
        self._on_wait = on_wait
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._stats = ClientStats()
        self._pause = Pause(self._clock)
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": f"commitlake/{__version__}",
        }
        self._http = httpx.Client(
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            follow_redirects=False,
        )

    # Lifecycle -----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the token
        return f"GitHubClient({self.api_url!r}, token={'***' if self._token else None})"

    @property
    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(**self._stats.__dict__)

    # Requests ------------------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        stats: SourceStats | None = None,
    ) -> Page:
        """GET with retries and rate-limit waits. Returns 2xx and 304 answers; raises on anything final."""
        self._check_origin(url)
        headers = {"If-None-Match": etag} if etag else {}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        shown = url if not params else str(httpx.URL(url, params=dict(params)))
        failures = 0
        limited = 0
        redirects = 0
        while True:
            self._pause.wait(lambda s, r: self._wait(s, r, stats))
            self._count_request(stats)
            try:
                return self._attempt(url, params, headers, shown, stats, limited)
            except _Redirect as exc:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise SourceError(f"GET {shown}: more than {MAX_REDIRECTS} redirects") from None
                self._check_origin(exc.location)  # the token never follows a redirect off the API host
                _log.warning("github.redirected", url=shown, location=exc.location, status=exc.status,
                             hint="the repository was renamed or transferred: update its name in the sources")
                url, params, shown = exc.location, None, exc.location
            except _Transient as exc:
                failures += 1
                if failures > self.max_retries:
                    message = f"GET {shown}: gave up after {failures} attempts: {exc}"
                    raise SourceError(message, transient=True) from None
                delay = exc.delay if exc.delay is not None else backoff_seconds(failures, self._rng)
                self._count_retry(stats)
                _log.warning("github.retry", url=shown, attempt=failures, error=str(exc), wait_seconds=round(delay, 3))
                self._wait(delay, f"{RETRY_REASON_PREFIX}{exc}", stats)
            except _Limited as exc:
                limited += 1
                if limited > self.max_rate_limit_waits:
                    message = f"GET {shown}: still rate limited after {limited - 1} waits"
                    raise SourceError(message, transient=True) from None
                self._count_retry(stats)
                self._pause.extend(exc.seconds, exc.reason)

    def paginate(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        stats: SourceStats | None = None,
        paginator: Paginator | None = None,
    ) -> Iterator[Page]:
        """Yield one page at a time, following the paginator; the ETag applies to the first request only.

        A 304 is yielded (data None) and ends the iteration: nothing changed since that ETag.
        """
        paginator = paginator or HeaderLinkPaginator()
        page = self.get(url, params=params, etag=etag, stats=stats)
        while True:
            yield page
            if page.status == 304:
                return
            paginator.update_state(page.response)
            next_url = paginator.next_url
            if not next_url:
                return
            page = self.get(next_url, stats=stats)

    # Internals -----------------------------------------------------------------------------------------
    def _attempt(
        self,
        url: str,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        shown: str,
        stats: SourceStats | None,
        limited: int,
    ) -> Page:
        try:
            response = self._http.get(url, params=dict(params) if params else None, headers=headers)
        except httpx.TransportError as exc:  # connect/read errors, timeouts, dropped or cut-off answers
            problem = _unreachable(exc)
            if problem:  # no answer will come from backing off: say so now
                host = urlsplit(self.api_url).hostname
                raise HostUnreachable(
                    f"{problem.format(host=host)}: check the network and DNS, or GITHUB_API_URL={self.api_url}"
                ) from None
            raise _Transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
        self._observe_quota(response)
        status = response.status_code
        if status == 304:
            with self._lock:
                self._stats.not_modified += 1
            if stats is not None:
                stats.not_modified += 1
            return Page(str(response.url), 304, None, response.headers.get("etag"), response)
        if 200 <= status < 300:
            try:
                data = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                raise _Transient("truncated or malformed JSON body") from None
            return Page(str(response.url), status, data, response.headers.get("etag"), response)
        if status in REDIRECT_STATUSES and response.headers.get("location"):
            raise _Redirect(status, str(response.url.join(response.headers["location"])))
        if status == 401:
            raise AuthError(f"GitHub rejected the token (HTTP 401: {_error_message(response)}); check GITHUB_TOKEN")
        if status in (403, 429):
            verdict = classify_limit(response, self._clock.now(), limited)
            if verdict is not None:
                raise _Limited(verdict.seconds, verdict.reason)
        if status >= 500:
            raise _Transient(f"HTTP {status}", retry_after_seconds(response, self._clock.now()))
        raise GitHubHTTPError(status, _error_message(response), shown)

    def _observe_quota(self, response: httpx.Response) -> None:
        """After a successful answer that used the last request of the quota, hold every worker until reset."""
        if response.status_code < 400 and response.headers.get("x-ratelimit-remaining", "").strip() == "0":
            verdict = classify_limit(response, self._clock.now(), 0)
            if verdict is not None:
                self._pause.extend(verdict.seconds, verdict.reason)

    def _count_request(self, stats: SourceStats | None) -> None:
        with self._lock:
            if self.max_requests is not None and self._stats.requests >= self.max_requests:
                raise BudgetExhausted(f"request budget of {self.max_requests} exhausted (--max-requests)")
            self._stats.requests += 1
        if stats is not None:
            stats.requests += 1

    def _count_retry(self, stats: SourceStats | None) -> None:
        with self._lock:
            self._stats.retries += 1
        if stats is not None:
            stats.retries += 1

    def _wait(self, seconds: float, reason: str, stats: SourceStats | None) -> None:
        """Every wait is accounted, logged and reported to the caller's progress display; none is silent."""
        with self._lock:
            self._stats.wait_seconds += seconds
        if stats is not None:
            stats.wait_seconds += seconds
        if self._on_wait is not None:
            self._on_wait(seconds, reason)
        else:
            _log.info("github.wait", wait_seconds=round(seconds, 3), reason=reason)
        self._clock.sleep(seconds)

    @staticmethod
    def _origin_of(url: str) -> tuple[str, str]:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()

    def on_api_host(self, url: str) -> bool:
        """Whether `url` is on this client's API origin (the only place the token is ever sent)."""
        return self._origin_of(url) == self._origin

    def _check_origin(self, url: str) -> None:
        """Links are followed verbatim, but the token is only ever sent to the API's own origin."""
        if self._origin_of(url) != self._origin:
            raise SourceError(f"refusing to follow {url}: not on {self.api_url}")


class _Redirect(Exception):
    """A 301/302/307/308: GET the absolute `location` instead (as GitHub's own clients do)."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(location)
        self.status = status
        self.location = location


class _Limited(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds
        self.reason = reason
