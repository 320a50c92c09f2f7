"""`github:` source: one repository's commits, newest first, one Batch per list-commits page.

Incremental, and free when nothing changed. Every run asks the same first URL,
`/repos/O/R/commits?per_page=100[&sha=BRANCH]`, with `If-None-Match: <stored ETag>`: GitHub answers 304,
which costs no quota, when that page is unchanged. When it is not, we follow `Link: rel="next"` and stop at
the first page that reaches the stored committer date minus a safety overlap, keeping only items at or after
that cutoff. This is `since=` applied on our side, and deliberately so: an ETag belongs to one URL, and a
`since=` URL changes whenever new commits arrive, so its ETag would never match the next run's request and a
quiet repository would cost a full request every time. Probing the constant first page makes every quiet run
a free 304 and costs the same number of requests as a `since=` walk when there is news, never more.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from commitlake.errors import ConfigError, RepoUnavailable, SourceError
from commitlake.logs import get_logger
from commitlake.sources.base import Batch, Cursor, SourceStats
from commitlake.sources.github._client import GitHubClient
from commitlake.sources.github._dedupe import DEFAULT_DEDUPE_WINDOW, RecentShas
from commitlake.sources.github._exceptions import GitHubHTTPError
from commitlake.sources.github._payload import committed_at
from commitlake.sources.github._uri import parse_github_uri

__all__ = ["DEFAULT_SINCE_OVERLAP", "PER_PAGE", "GitHubSource", "fetch_commit_detail"]

PER_PAGE = 100
#: How far before the newest committer date seen a run looks again: commits pushed late with older dates,
#: several commits in the same second, clock skew. Re-read commits are de-duplicated by sha downstream.
DEFAULT_SINCE_OVERLAP = timedelta(hours=1)
#: Statuses that mean "this repository cannot be read" (skip it, go on with the others).
UNAVAILABLE = {403, 404, 410, 451}

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


class GitHubSource:
    kind = "github"

    def __init__(
        self,
        uri: str,
        client: GitHubClient,
        *,
        with_files: bool = False,
        full_refresh: bool = False,
        overlap: timedelta = DEFAULT_SINCE_OVERLAP,
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
        self.overlap = overlap
        self._dedupe_window = dedupe_window
        self._cursor_in: Cursor | None = None
        self._newest: datetime | None = None
        self._etag: str | None = None
        self._consumed = False

    def __repr__(self) -> str:
        return f"GitHubSource({self.uri!r})"

    @property
    def list_url(self) -> str:
        return self.client.url(f"repos/{self.repo}/commits")

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        start = None if self.full_refresh else cursor
        self._cursor_in = start
        self._newest, self._etag, self._consumed = None, None, False
        cutoff = start.last_committed_at - self.overlap if start and start.last_committed_at else None
        params: dict[str, str | int] = {"per_page": PER_PAGE}
        if self.branch:
            params["sha"] = self.branch
        seen = RecentShas(self._dedupe_window)
        first = True
        try:
            pages = self.client.paginate(
                self.list_url, params=params, etag=start.etag if start else None, stats=self.stats
            )
            for page in pages:
                if page.status == 304:
                    _log.debug("github.not_modified", repo=self.repo, branch=self.branch)
                    break
                if first:
                    self._etag, first = page.etag, False
                if not isinstance(page.data, list):
                    raise SourceError(f"{self.uri}: {page.url} did not answer a list of commits")
                records, reached_cutoff = self._select(page.data, cutoff, seen)
                if records and self.with_files:
                    self._add_files(records)
                if records:
                    yield Batch(records, {"url": page.url, "status": page.status})
                if reached_cutoff:
                    break
        except GitHubHTTPError as exc:
            if exc.status == 409:  # "Git Repository is empty."
                _log.info("github.empty_repository", repo=self.repo)
            elif exc.status in UNAVAILABLE:
                self.stats.skipped_reason = f"HTTP {exc.status}: {exc.message}"
                raise RepoUnavailable(self.repo, exc.status, exc.message) from None
            else:
                raise SourceError(f"{self.uri}: {exc}") from None
        self._consumed = True

    def _select(
        self, items: list[Any], cutoff: datetime | None, seen: RecentShas
    ) -> tuple[list[dict[str, Any]], bool]:
        """Items of one page that are new to this run and not older than the cutoff; and whether it was reached."""
        records: list[dict[str, Any]] = []
        reached = False
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("sha"), str):
                _log.warning("github.item_without_sha", repo=self.repo)
                continue
            when = committed_at(item)
            if cutoff is not None and when is not None and when < cutoff:
                reached = True
                continue
            if not seen.add(item["sha"]):
                continue
            if when is not None and (self._newest is None or when > self._newest):
                self._newest = when
            records.append(item)
        return records, reached

    def _add_files(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            url = self.client.url(f"repos/{self.repo}/commits/{record['sha']}")
            commit_stats, files = fetch_commit_detail(self.client, url, self.stats)
            if commit_stats is not None:
                record["stats"] = commit_stats
            record["files"] = files

    def next_cursor(self) -> Cursor | None:
        """Newest committer date seen (the old one if nothing new) and the first page's latest ETag."""
        if not self._consumed:
            return None
        old = self._cursor_in
        newest = self._newest
        if old is not None and old.last_committed_at is not None and (
            newest is None or old.last_committed_at > newest
        ):
            newest = old.last_committed_at
        etag = self._etag or (old.etag if old else None)
        if newest is None and etag is None:
            return None
        return Cursor(last_committed_at=newest, etag=etag)
