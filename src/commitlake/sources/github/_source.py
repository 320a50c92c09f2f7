"""`github:` source: one repository's commits as Batches, exact from run to run, free when nothing changed.

Every run first asks the same URL, `/repos/O/R/commits?per_page=100[&sha=BRANCH]`, with `If-None-Match:
<stored ETag>`: GitHub answers 304, which costs no quota, when the branch did not move. When it did, the first
item is the new head, and `GET /repos/O/R/compare/{old_head}...{new_head}` (paginated) lists exactly the
commits reachable from the new head and not from the old one. A date cutoff or `since=` cannot do that: a
merged branch brings commits whose committer dates are older than anything seen before.

When the old head is no longer an ancestor (a force-push: compare says `behind` or `diverged`, or 404 when
the old commit is gone) the branch is logged and walked again from its new head; commits already loaded are
de-duplicated by the warehouse's primary key.

A full walk follows `Link: rel="next"`, pinned to the head sha seen on the first page so that its pages do
not shift under a later push. When the request budget (`--max-requests`) stops a walk, the cursor keeps where
it stopped (page URL and position) and the next run resumes there: no commit is fetched twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from commitlake.errors import BudgetExhausted, ConfigError, RepoUnavailable, SourceError
from commitlake.logs import get_logger
from commitlake.sources.base import Batch, Cursor, SourceStats
from commitlake.sources.github._client import GitHubClient, Page
from commitlake.sources.github._dedupe import DEFAULT_DEDUPE_WINDOW, RecentShas
from commitlake.sources.github._exceptions import GitHubHTTPError
from commitlake.sources.github._paginators import HeaderLinkPaginator
from commitlake.sources.github._payload import committed_at
from commitlake.sources.github._uri import parse_github_uri

__all__ = ["PER_PAGE", "GitHubSource", "fetch_commit_detail"]

PER_PAGE = 100
#: Statuses that mean "this repository cannot be read" (skip it, go on with the others).
UNAVAILABLE = {403, 404, 410, 451}
#: Compare statuses after which the old head is still an ancestor of the new one.
FAST_FORWARD = {"ahead", "identical"}
LIST, COMPARE = "list", "compare"

_log = get_logger("commitlake.sources.github")


def fetch_commit_detail(
    client: GitHubClient, url: str, stats: SourceStats | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """`stats` and every page of `files` of one commit (GitHub pages files 300 at a time, up to 3000)."""
    commit_stats: dict[str, Any] | None = None
    files: list[dict[str, Any]] = []
    for page in client.paginate(url, stats=stats):
        detail = page.data if isinstance(page.data, dict) else {}
        if commit_stats is None and isinstance(detail.get("stats"), dict):
            commit_stats = detail["stats"]
        files.extend(f for f in detail.get("files") or [] if isinstance(f, dict))
    return commit_stats, files


#: Query parameters of cursor-style links (2012's `last_sha`/`top`): those already name fixed commits.
_CURSOR_PARAMS = frozenset({"last_sha", "top", "after", "before"})


def _pinned(url: str, head: str) -> str:
    """A page of a branch walk, pinned to the head sha so that a later push cannot shift it under us."""
    parsed = httpx.URL(url)
    if _CURSOR_PARAMS & set(parsed.params.keys()):
        return url
    return str(parsed.copy_set_param("sha", head))


def _page_number(url: str) -> int:
    values = parse_qs(urlsplit(url).query).get("page")
    try:
        return int(values[0]) if values else 1
    except ValueError:
        return 1


class _ResumeLost(Exception):
    """The page a budget stop pointed at no longer exists (its pinned head was rewritten away)."""


class GitHubSource:
    kind = "github"

    def __init__(
        self,
        uri: str,
        client: GitHubClient,
        *,
        with_files: bool = False,
        full_refresh: bool = False,
        dedupe_window: int = DEFAULT_DEDUPE_WINDOW,
    ) -> None:
        owner, name, branch = parse_github_uri(uri)
        if name == "*":
            raise ConfigError(f"{uri}: expand OWNER/* into repositories first (expand_github_uri)")
        self.uri = uri
        self.repo = f"{owner}/{name}"
        self.branch = branch
        self.stats = SourceStats()
        self.client = client
        self.with_files = with_files
        self.full_refresh = full_refresh
        self._dedupe_window = dedupe_window
        self._cursor_in: Cursor | None = None
        self._newest: datetime | None = None
        self._etag: str | None = None
        self._head: str | None = None
        self._resume: dict[str, Any] | None = None
        self._consumed = False
        #: True when the stored head was no longer an ancestor of the branch (a force-push): walked again.
        self.force_pushed = False
        #: Commits a stopped walk still has to fetch (exact for compare, from `rel="last"` for a list walk).
        self.left: int | None = None

    def __repr__(self) -> str:
        return f"GitHubSource({self.uri!r})"

    @property
    def list_url(self) -> str:
        return self.client.url(f"repos/{self.repo}/commits")

    def compare_url(self, base: str, head: str) -> str:
        return self.client.url(f"repos/{self.repo}/compare/{base}...{head}")

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        start = None if self.full_refresh else cursor
        self._cursor_in = start
        self._newest, self._etag, self._head, self._resume, self._consumed = None, None, None, None, False
        self.force_pushed, self.left = False, None
        seen = RecentShas(self._dedupe_window)
        try:
            if start is not None and start.resume:
                try:
                    yield from self._continue(start.resume, seen)
                except _ResumeLost as lost:
                    _log.warning("github.resume_lost", repo=self.repo, branch=self.branch, error=str(lost),
                                 action="starting again from the stored head")
                    self._resume = None
                    yield from self._fetch(start, seen)
            else:
                yield from self._fetch(start, seen)
        except BudgetExhausted as exc:
            if self._resume is None:
                raise
            about = "about " if self._resume.get("kind") == LIST else ""  # a list walk knows pages, not commits
            left = f"{about}{self.left}" if self.left is not None else "an unknown number of"
            raise BudgetExhausted(f"budget reached: {left} commits left for the next run; {exc}") from None
        except GitHubHTTPError as exc:
            if exc.status == 409:  # "Git Repository is empty."
                _log.info("github.empty_repository", repo=self.repo)
            elif exc.status in UNAVAILABLE:
                self.stats.skipped_reason = f"HTTP {exc.status}: {exc.message}"
                raise RepoUnavailable(self.repo, exc.status, exc.message) from None
            else:
                raise SourceError(f"{self.uri}: {exc}") from None
        self._consumed = True

    # Walks ---------------------------------------------------------------------------------------------
    def _fetch(self, start: Cursor | None, seen: RecentShas) -> Iterator[Batch]:
        """Probe the branch's first page (304: nothing new), then compare from the old head or walk it all."""
        params: dict[str, str | int] = {"per_page": PER_PAGE}
        if self.branch:
            params["sha"] = self.branch
        etag = start.etag if start else None
        probe = self.client.get(self.list_url, params=params, etag=etag, stats=self.stats)
        if probe.status == 304:
            _log.debug("github.not_modified", repo=self.repo, branch=self.branch)
            return
        items = self._list_of(probe, LIST)
        self._etag = probe.etag
        head = next((i["sha"] for i in items if isinstance(i, dict) and isinstance(i.get("sha"), str)), None)
        if head is None:
            return
        self._head = head
        old = start.head_sha if start else None
        if old == head:
            return
        if old is not None:
            compare = self._compare(old, head)
            if compare is not None:
                yield from self._walk(compare, COMPARE, 0, seen, done=0)
                return
            self.force_pushed = True
            _log.warning("github.force_push", repo=self.repo, branch=self.branch, old_head=old, new_head=head,
                         action="walking the whole branch again")
        elif start is not None and start.last_committed_at is not None:
            _log.info("github.cursor_without_head", repo=self.repo, branch=self.branch,
                      action="walking the whole branch once to record its head")
        yield from self._walk(probe, LIST, 0, seen, done=0)

    def _compare(self, old: str, head: str) -> Page | None:
        """The first compare page when `old` is an ancestor of `head`; None after a force-push."""
        try:
            page = self.client.get(self.compare_url(old, head), params={"per_page": PER_PAGE}, stats=self.stats)
        except GitHubHTTPError as exc:
            if exc.status in (404, 422):  # the old head is gone: rewritten history
                return None
            raise
        status = page.data.get("status") if isinstance(page.data, dict) else None
        return page if status in FAST_FORWARD else None

    def _continue(self, resume: dict[str, Any], seen: RecentShas) -> Iterator[Batch]:
        """Resume a walk the budget stopped: the same (pinned) page, from the same position."""
        self._head, self._etag, self.left = resume.get("head"), resume.get("etag"), resume.get("left")
        kind = str(resume.get("kind", LIST))
        self._resume = dict(resume)
        if not self.client.on_api_host(str(resume.get("url", ""))):  # GITHUB_API_URL changed since
            raise _ResumeLost(f"{resume.get('url')} is not on {self.client.api_url}")
        try:
            page = self.client.get(str(resume["url"]), stats=self.stats)
        except GitHubHTTPError as exc:
            if exc.status in (404, 422):  # the pinned head was force-pushed away and is gone
                raise _ResumeLost(str(exc)) from None
            raise
        _log.info("github.resume", repo=self.repo, branch=self.branch, url=page.url, offset=resume.get("offset"))
        yield from self._walk(page, kind, int(resume.get("offset", 0)), seen, done=int(resume.get("done", 0)))

    def _walk(self, page: Page, kind: str, offset: int, seen: RecentShas, *, done: int) -> Iterator[Batch]:
        """Every item from `offset` of `page` on, page after page; on BudgetExhausted, remember where."""
        total = page.data.get("total_commits") if kind == COMPARE and isinstance(page.data, dict) else None
        paginator = HeaderLinkPaginator()
        while True:
            items = self._list_of(page, kind)
            batch: list[dict[str, Any]] = []
            for index in range(offset, len(items)):
                item = items[index]
                if not isinstance(item, dict) or not isinstance(item.get("sha"), str):
                    _log.warning("github.item_without_sha", repo=self.repo)
                    continue
                if not seen.add(item["sha"]):
                    continue
                if self.with_files:
                    try:
                        self._add_files(item)
                    except BudgetExhausted:
                        self._stop(page, kind, index, done + len(batch), total, len(items))
                        if batch:
                            yield Batch(batch, self._meta(page))
                        raise
                self._note(item)
                batch.append(item)
            done += len(batch)
            if batch:
                yield Batch(batch, self._meta(page))
            paginator.update_state(page.response)
            next_url = paginator.next_url
            if not next_url:
                self._resume = None
                if total is not None and done < int(total):
                    _log.warning("github.compare_short", repo=self.repo, branch=self.branch, expected=total, got=done)
                return
            if kind == LIST and self._head:
                next_url = _pinned(next_url, self._head)
            self._stop_at(next_url, kind, done, total, remaining_here=0, page=page)
            page = self.client.get(next_url, stats=self.stats)
            offset = 0

    def _meta(self, page: Page) -> dict[str, Any]:
        """Provenance of one lake object: the page it came from, and why when the branch was walked again."""
        meta: dict[str, Any] = {"url": page.url, "status": page.status}
        if self.force_pushed:
            meta["refetch"] = "force-push"
        return meta

    def _stop(self, page: Page, kind: str, offset: int, done: int, total: int | None, size: int) -> None:
        url = _pinned(page.url, self._head) if kind == LIST and self._head else page.url  # the probe is not
        self._stop_at(url, kind, done, total, remaining_here=size - offset, page=page, offset=offset)

    def _stop_at(
        self, url: str, kind: str, done: int, total: int | None, *, remaining_here: int, page: Page,
        offset: int = 0,
    ) -> None:
        """Record where the walk resumes if the budget ends before the next item is fetched."""
        if total is not None:
            self.left = max(0, int(total) - done)
        else:
            last = page.response.links.get("last", {}).get("url") if "link" in page.response.headers else None
            current = _page_number(page.url)
            later_pages = (_page_number(last) - current) if last else 0
            self.left = remaining_here + max(0, later_pages) * PER_PAGE
        self._resume = {"kind": kind, "url": url, "offset": offset, "done": done, "head": self._head,
                        "etag": self._etag, "left": self.left}

    def _list_of(self, page: Page, kind: str) -> list[Any]:
        data = page.data.get("commits") if kind == COMPARE and isinstance(page.data, dict) else page.data
        if not isinstance(data, list):
            raise SourceError(f"{self.uri}: {page.url} did not answer a list of commits")
        return data

    def _note(self, item: dict[str, Any]) -> None:
        when = committed_at(item)
        if when is not None and (self._newest is None or when > self._newest):
            self._newest = when

    def _add_files(self, record: dict[str, Any]) -> None:
        url = self.client.url(f"repos/{self.repo}/commits/{record['sha']}")
        commit_stats, files = fetch_commit_detail(self.client, url, self.stats)
        if commit_stats is not None:
            record["stats"] = commit_stats
        record["files"] = files

    def next_cursor(self) -> Cursor | None:
        """After a finished walk: the new head and ETag. After a budget stop: the old state plus where to resume."""
        old = self._cursor_in
        newest = self._newest
        if old is not None and old.last_committed_at is not None and (
            newest is None or old.last_committed_at > newest
        ):
            newest = old.last_committed_at
        if self._resume is not None and not self._consumed:
            return Cursor(
                last_committed_at=newest,
                etag=old.etag if old else None,
                head_sha=old.head_sha if old else None,
                resume=self._resume,
            )
        if not self._consumed:
            return None
        etag = self._etag or (old.etag if old else None)
        head = self._head or (old.head_sha if old else None)
        if newest is None and etag is None and head is None:
            return None
        return Cursor(last_committed_at=newest, etag=etag, head_sha=head)
