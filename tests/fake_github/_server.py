"""A fake GitHub REST API over real HTTP on 127.0.0.1 (ephemeral port), served from a background thread.

What it does like GitHub: list commits (`per_page`, `page`, `sha`, `since`, `until`), compare
(`BASE...HEAD`, paged, with ahead/behind status), a 301 for a renamed repository, page links in `Link`
that point at `/repositories/<id>/commits` after page 1, weak ETags and 304 answers to `If-None-Match`
(which cost no quota), single commits with `files` paged 300 at a time, organization and user repository
listings, 401 for a wrong token, 404/409/451 for missing, empty and blocked repositories, and the primary
quota (`x-ratelimit-*`, 403 once exhausted until the reset). Faults come from a FaultPlan; every request is
kept in `log` so tests can count exactly what the client asked for.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from fake_github._clock import FakeClock
from fake_github._faults import FaultPlan
from fake_github._histories import History, load_history
from fake_github._replay import REPLAY_DIR, Exchange, load_replay, replay_key

__all__ = ["FakeGitHub", "FakeRepo", "LoggedRequest"]

API_HOST = "https://api.github.com"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
    "out to GitHub Support for help, please include the request ID FAKE."
)
PRIMARY_MESSAGE = "API rate limit exceeded for user ID 1."
DOCS = "https://docs.github.com/rest"


@dataclass
class FakeRepo:
    owner: str
    name: str
    id: int
    history: History
    #: The newest `hidden` commits are "not pushed yet": reveal them with `push()`.
    hidden: int = 0
    #: Extra branches: name → index in `history` of the branch's head (older commits follow it).
    branches: dict[str, int] = field(default_factory=dict)
    default_branch: str = "main"
    #: Force an answer for every request about this repository: 409 (empty), 451 (blocked), 404, 403.
    status: int | None = None
    fork: bool = False
    archived: bool = False
    #: Graph mode: ref → head sha. A ref listed here serves the commits reachable from its head through their
    #: `parents` (so a merge brings its branch's older-dated commits), in history order. Move a head to push,
    #: or to force-push when the new head does not descend from the old one.
    heads: dict[str, str] = field(default_factory=dict)
    _reach: dict[int, list[int]] = field(default_factory=dict, repr=False)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def push(self, count: int | None = None) -> list[str]:
        """Reveal the `count` newest hidden commits (all by default); returns their shas."""
        count = self.hidden if count is None else min(count, self.hidden)
        shas = [self.history.sha(i) for i in range(self.hidden - count, self.hidden)]
        self.hidden -= count
        return shas

    def visible_shas(self) -> list[str]:
        return [self.history.sha(i) for i in range(self.hidden, len(self.history))]

    def resolve(self, ref: str) -> int | None:
        """History index of a branch's head or of a sha; None when unknown."""
        if ref in self.heads:
            return self.history.index_of(self.heads[ref])
        if ref == self.default_branch:
            return self.hidden
        if ref in self.branches:
            return self.branches[ref]
        return self.history.index_of(ref)

    def reachable(self, head: int) -> list[int]:
        """Indices of the commits a list walk from `head` returns, in history (newest first) order.

        Linear mode (no `heads`): everything older than `head`. Graph mode: the ancestors through `parents`.
        """
        if not self.heads:
            return list(range(head, len(self.history)))
        if head not in self._reach:
            seen: set[int] = set()
            stack = [head]
            while stack:
                index = stack.pop()
                if index in seen:
                    continue
                seen.add(index)
                for parent in self.history.parents(index):
                    found = self.history.index_of(parent)
                    if found is not None and found not in seen:
                        stack.append(found)
            self._reach[head] = sorted(seen)
        return self._reach[head]

    def set_head(self, ref: str, sha: str) -> None:
        """Push (or force-push) `ref` to `sha`: graph mode from now on."""
        if self.history.index_of(sha) is None:
            raise ValueError(f"{sha} is not in the history")
        self.heads[ref] = sha


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    if_none_match: str | None
    authorization: str | None
    route: str = "unknown"
    status: int = 0
    fault: str | None = None
    at: float = 0.0


class _Quota:
    """GitHub's primary limit: `limit` requests per hour-long window, 304s free."""

    def __init__(self, limit: int, clock: FakeClock | Any) -> None:
        self.limit = limit
        self.clock = clock
        self.remaining = limit
        self.reset = clock.now() + 3600

    def roll(self) -> None:
        if self.clock.now() >= self.reset:
            self.remaining = self.limit
            self.reset = self.clock.now() + 3600

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
            "X-RateLimit-Used": str(self.limit - self.remaining),
            "X-RateLimit-Resource": "core",
        }


class _Answer(Exception):
    """Raised by a route to answer immediately."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest() + '"'


def _epoch(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _Answer(422, {"message": f"Invalid time: {value}", "documentation_url": DOCS}) from None


class FakeGitHub:
    """Start with `with FakeGitHub() as gh:` (or `start()`/`stop()`); `gh.url` is the API root."""

    def __init__(
        self,
        *,
        token: str | None = None,
        clock: Any = None,
        faults: FaultPlan | None = None,
        rate_limit: int = 5000,
        replay: bool = True,
    ) -> None:
        self.token = token
        self.clock = clock or _RealClock()
        self.faults = faults or FaultPlan()
        self.quota = _Quota(rate_limit, self.clock)
        self.blocked_until = 0.0
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.by_id: dict[int, FakeRepo] = {}
        #: Old names of renamed repositories: GitHub answers 301 to `/repos/OLD/...` with the new location.
        self.moved: dict[tuple[str, str], FakeRepo] = {}
        self.organizations: set[str] = set()
        self.users: set[str] = set()
        self.log: list[LoggedRequest] = []
        self.lock = threading.Lock()
        self._replay: dict[tuple[str, str, tuple[tuple[str, str], ...]], Exchange] = {}
        if replay and REPLAY_DIR.is_dir():
            for path in sorted(REPLAY_DIR.glob("*.txt")):
                for exchange in load_replay(path):
                    self._replay.setdefault(replay_key(exchange.method, exchange.path), exchange)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._next_id = 1000

    # Setup ---------------------------------------------------------------------------------------------
    def add_repo(self, full_name: str, history: History, *, organization: bool = True, **kwargs: Any) -> FakeRepo:
        owner, name = full_name.split("/")
        self._next_id += 1
        repo = FakeRepo(owner, name, self._next_id, history, **kwargs)
        self.repos[(owner.lower(), name.lower())] = repo
        self.by_id[repo.id] = repo
        (self.organizations if organization else self.users).add(owner.lower())
        return repo

    def add_real(self, slug: str, full_name: str | None = None, **kwargs: Any) -> FakeRepo:
        """A repository serving the real history `../shared/data/commits/<slug>.jsonl.gz`."""
        return self.add_repo(full_name or slug.replace("__", "/"), load_history(slug), **kwargs)

    def rename(self, repo: FakeRepo, new_full_name: str) -> FakeRepo:
        """Rename (or transfer) `repo`: its old name then answers 301 Moved Permanently, as GitHub does."""
        old = (repo.owner.lower(), repo.name.lower())
        del self.repos[old]
        self.moved[old] = repo
        repo.owner, repo.name = new_full_name.split("/")
        self.repos[(repo.owner.lower(), repo.name.lower())] = repo
        self.organizations.add(repo.owner.lower())
        return repo

    # Lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-github", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # Assertions helpers --------------------------------------------------------------------------------
    def requests(
        self, *, route: str | None = None, status: int | None = None, path_contains: str | None = None
    ) -> list[LoggedRequest]:
        with self.lock:
            entries = list(self.log)
        return [
            e
            for e in entries
            if (route is None or e.route == route)
            and (status is None or e.status == status)
            and (path_contains is None or path_contains in e.path)
        ]

    def clear_log(self) -> None:
        with self.lock:
            self.log.clear()

    # Routing -------------------------------------------------------------------------------------------
    def find(self, owner: str, name: str) -> FakeRepo:
        repo = self.repos.get((owner.lower(), name.lower()))
        if repo is None:
            raise _Answer(404, {"message": "Not Found", "documentation_url": DOCS})
        if repo.status == 409:
            raise _Answer(409, {"message": "Git Repository is empty.", "documentation_url": DOCS})
        if repo.status == 451:
            raise _Answer(451, {"message": "Repository access blocked", "block": {"reason": "dmca"}})
        if repo.status is not None:
            raise _Answer(repo.status, {"message": "Not Found" if repo.status == 404 else "Forbidden"})
        return repo

    def by_number(self, number: str) -> FakeRepo:
        repo = self.by_id.get(int(number))
        if repo is None:
            raise _Answer(404, {"message": "Not Found", "documentation_url": DOCS})
        return self.find(repo.owner, repo.name)

    def list_commits(self, repo: FakeRepo, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        ref = query.get("sha") or repo.default_branch
        head = repo.resolve(ref)
        if head is None:
            raise _Answer(404, {"message": f"No commit found for SHA: {ref}", "documentation_url": DOCS})
        indices: Iterable[int] = repo.reachable(head)
        if "since" in query or "until" in query:
            since = _epoch(query["since"]) if "since" in query else -math.inf
            until = _epoch(query["until"]) if "until" in query else math.inf
            indices = [i for i in indices if since <= repo.history.committed_epoch(i) <= until]
        indices = list(indices)
        per_page, page = _paging(query, default=30, maximum=100)
        chunk = indices[(page - 1) * per_page : page * per_page]
        body = b"[" + b",".join(repo.history.list_item(i) for i in chunk) + b"]"
        last = max(1, math.ceil(len(indices) / per_page))
        return body, self._links(f"/repositories/{repo.id}/commits", query, page, last)

    def compare(self, repo: FakeRepo, basehead: str, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        """`GET .../compare/BASE...HEAD`: the commits reachable from HEAD and not from BASE, oldest first, paged."""
        base, sep, head = basehead.partition("...")
        base_index, head_index = repo.resolve(base), repo.resolve(head)
        if not sep or base_index is None or head_index is None:
            raise _Answer(404, {"message": "Not Found", "documentation_url": DOCS})
        from_base, from_head = set(repo.reachable(base_index)), set(repo.reachable(head_index))
        ahead = sorted(from_head - from_base, reverse=True)  # oldest first, as GitHub lists them
        behind = len(from_base - from_head)
        status = "identical" if not ahead and not behind else "ahead" if not behind else (
            "behind" if not ahead else "diverged")
        common = min(from_base & from_head, default=None)
        per_page, page = _paging(query, default=250, maximum=250)
        chunk = ahead[(page - 1) * per_page : page * per_page]
        body = {
            "url": f"{self.url}/repos/{repo.full_name}/compare/{basehead}",
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "base_commit": orjson.loads(repo.history.list_item(base_index)),
            "merge_base_commit": orjson.loads(repo.history.list_item(common)) if common is not None else None,
            "commits": [orjson.loads(repo.history.list_item(i)) for i in chunk],
            "files": [],
        }
        last = max(1, math.ceil(len(ahead) / per_page))
        return orjson.dumps(body), self._links(f"/repositories/{repo.id}/compare/{basehead}", query, page, last)

    def get_commit(self, repo: FakeRepo, sha: str, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        index = repo.history.index_of(sha)
        if index is None:
            raise _Answer(422, {"message": f"No commit found for SHA: {sha}", "documentation_url": DOCS})
        detail = repo.history.detail(index)
        files = detail.get("files") or []
        per_page, page = _paging(query, default=300, maximum=300)
        detail["files"] = files[(page - 1) * per_page : page * per_page]
        last = max(1, math.ceil(len(files) / per_page))
        return orjson.dumps(detail), self._links(f"/repositories/{repo.id}/commits/{sha}", query, page, last)

    def list_repos(self, owner: str, organization: bool, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        known = self.organizations if organization else self.organizations | self.users
        if owner.lower() not in known:
            raise _Answer(404, {"message": "Not Found", "documentation_url": DOCS})
        repos = sorted((r for r in self.repos.values() if r.owner.lower() == owner.lower()), key=lambda r: r.id)
        per_page, page = _paging(query, default=30, maximum=100)
        items = [
            {
                "id": r.id,
                "name": r.name,
                "full_name": r.full_name,
                "owner": {"login": r.owner, "type": "Organization" if organization else "User"},
                "private": False,
                "fork": r.fork,
                "archived": r.archived,
                "default_branch": r.default_branch,
            }
            for r in repos[(page - 1) * per_page : page * per_page]
        ]
        last = max(1, math.ceil(len(repos) / per_page))
        kind = "orgs" if organization else "users"
        return orjson.dumps(items), self._links(f"/{kind}/{owner}/repos", query, page, last)

    def _links(self, path: str, query: dict[str, str], page: int, last: int) -> dict[str, str]:
        def url(number: int) -> str:
            params = {k: v for k, v in query.items() if k != "page"}
            params["page"] = str(number)
            return f"{self.url}{path}?{urlencode(params)}"

        rels = []
        if page < last:
            rels += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            rels += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
        return {"Link": ", ".join(rels)} if rels else {}

    def replayed(self, method: str, path_and_query: str) -> Exchange | None:
        return self._replay.get(replay_key(method, path_and_query))


def _paging(query: dict[str, str], *, default: int, maximum: int) -> tuple[int, int]:
    try:
        per_page = min(maximum, max(1, int(query.get("per_page", default))))
        page = max(1, int(query.get("page", 1)))
    except ValueError:
        raise _Answer(422, {"message": "Invalid pagination", "documentation_url": DOCS}) from None
    return per_page, page


class _RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitHub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this, 40 ms per answer

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr noise
        return

    def do_GET(self) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        entry = LoggedRequest(
            "GET", self.path, query, self.headers.get("If-None-Match"), self.headers.get("Authorization"),
            at=fake.clock.now(),
        )
        with fake.lock:
            fake.log.append(entry)
        try:
            self._serve(entry, parts.path, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _serve(self, entry: LoggedRequest, path: str, query: dict[str, str]) -> None:
        fake = self.fake
        if fake.token is not None and entry.authorization is not None and entry.authorization not in (
            f"Bearer {fake.token}",
            f"token {fake.token}",
        ):
            self._json(entry, 401, {"message": "Bad credentials", "documentation_url": DOCS})
            return
        if self._enforce_limits(entry):
            return
        fault = fake.faults.pick(path)
        entry.fault = fault
        if fault is not None and self._inject(entry, fault):
            return
        try:
            body, headers = self._route(entry, path, query)
        except _Answer as answer:
            self._json(entry, answer.status, answer.body, answer.headers)
            return
        if fault == "truncated":
            body = body[: max(1, len(body) // 2)]
        if fault == "cut":
            self._send(entry, 200, body, headers, cut=True)
            return
        self._send(entry, 200, body, headers)

    def _enforce_limits(self, entry: LoggedRequest) -> bool:
        """Refuse requests made before a limit GitHub announced is over (a client that does not wait)."""
        fake = self.fake
        now = fake.clock.now()
        with fake.lock:
            fake.quota.roll()
            blocked = fake.blocked_until - now
            exhausted = fake.quota.remaining <= 0
        if blocked > 0:
            entry.fault = "premature"
            self._json(entry, 403, {"message": SECONDARY_MESSAGE}, {"Retry-After": str(math.ceil(blocked))})
            return True
        if exhausted:
            entry.fault = "premature"
            self._json(entry, 403, {"message": PRIMARY_MESSAGE, "documentation_url": DOCS})
            return True
        return False

    def _inject(self, entry: LoggedRequest, fault: str) -> bool:
        """Answer with the fault; False when the fault only alters the normal answer (slow, truncated, cut)."""
        fake, plan = self.fake, self.fake.faults
        now = fake.clock.now()
        if fault in ("502", "503"):
            after = plan.server_error_retry_after
            self._json(entry, int(fault), {"message": "Server Error"}, {"Retry-After": f"{after:g}"} if after else None)
        elif fault == "primary":
            with fake.lock:
                fake.quota.remaining = 0
                fake.quota.reset = now + plan.primary_reset
            self._json(entry, 403, {"message": PRIMARY_MESSAGE, "documentation_url": DOCS})
        elif fault in ("secondary", "429"):
            with fake.lock:
                fake.blocked_until = max(fake.blocked_until, now + plan.retry_after)
            status = 403 if fault == "secondary" else 429
            message = SECONDARY_MESSAGE if fault == "secondary" else "Too Many Requests"
            self._json(entry, status, {"message": message}, {"Retry-After": str(int(plan.retry_after))})
        elif fault == "secondary_bare":
            with fake.lock:
                fake.blocked_until = max(fake.blocked_until, now + 60)
            self._json(entry, 403, {"message": SECONDARY_MESSAGE, "documentation_url": DOCS})
        elif fault == "drop":
            entry.status = -1
            self.close_connection = True
        elif fault == "slow":
            time.sleep(plan.slow_seconds)
            return False
        else:
            return False
        return True

    def _route(self, entry: LoggedRequest, path: str, query: dict[str, str]) -> tuple[bytes, dict[str, str]]:
        fake = self.fake
        exchange = fake.replayed("GET", self.path)
        if exchange is not None:
            entry.route = "replay"
            if exchange.status != 200:
                raise _Answer(exchange.status, orjson.loads(exchange.body or "{}"))
            headers = {k: v.replace(API_HOST, fake.url) for k, v in exchange.headers if k.lower() not in _OWN}
            return exchange.body.replace(API_HOST, fake.url).encode(), headers
        segments = [s for s in path.split("/") if s]
        if len(segments) >= 3 and segments[0] == "repos":
            moved = fake.moved.get((segments[1].lower(), segments[2].lower()))
            if moved is not None and (segments[1].lower(), segments[2].lower()) not in fake.repos:
                entry.route = "moved"
                rest = "/".join(segments[3:])
                query_string = urlsplit(self.path).query
                location = f"{fake.url}/repositories/{moved.id}" + (f"/{rest}" if rest else "")
                location += f"?{query_string}" if query_string else ""
                raise _Answer(301, {"message": "Moved Permanently", "url": location, "documentation_url": DOCS},
                              {"Location": location})
        match segments:
            case ["repos", owner, name, "commits"]:
                entry.route = "list"
                return fake.list_commits(fake.find(owner, name), query)
            case ["repositories", number, "commits"] if number.isdigit():
                entry.route = "list"
                return fake.list_commits(fake.by_number(number), query)
            case ["repos", owner, name, "compare", *spec] if spec:
                entry.route = "compare"
                return fake.compare(fake.find(owner, name), "/".join(spec), query)
            case ["repositories", number, "compare", *spec] if number.isdigit() and spec:
                entry.route = "compare"
                return fake.compare(fake.by_number(number), "/".join(spec), query)
            case ["repos", owner, name, "commits", sha]:
                entry.route = "commit"
                return fake.get_commit(fake.find(owner, name), sha, query)
            case ["repositories", number, "commits", sha] if number.isdigit():
                entry.route = "commit"
                return fake.get_commit(fake.by_number(number), sha, query)
            case ["orgs", owner, "repos"]:
                entry.route = "repos"
                return fake.list_repos(owner, True, query)
            case ["users", owner, "repos"]:
                entry.route = "repos"
                return fake.list_repos(owner, False, query)
        entry.route = "unknown"
        raise _Answer(404, {"message": "Not Found", "documentation_url": DOCS})

    # Writing -------------------------------------------------------------------------------------------
    def _json(self, entry: LoggedRequest, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send(entry, status, orjson.dumps(body), headers or {})

    def _send(
        self, entry: LoggedRequest, status: int, body: bytes, headers: dict[str, str], *, cut: bool = False
    ) -> None:
        fake = self.fake
        etag = _etag(body) if status == 200 and entry.fault not in ("truncated", "cut") else None
        if etag is not None and entry.if_none_match == etag:
            status, body = 304, b""
        with fake.lock:
            if status not in (304, 403, 429) and fake.quota.remaining > 0:
                fake.quota.remaining -= 1
            quota_headers = fake.quota.headers()
        entry.status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if etag is not None:
            self.send_header("ETag", etag)
        for name, value in {**quota_headers, **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if body:
            self.wfile.write(body)


_OWN = {"etag", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-used",
        "x-ratelimit-resource", "content-type", "date", "server"}
