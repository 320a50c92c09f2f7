"""GitHub REST source: incremental, conditional, rate-limit-aware list-commits ingestion.

    GitHubClient        one per run, shared by every worker thread: budget, rate limits, retries, totals
    GitHubSource        one repository (and branch): pages of commits as Batches, cursor in and out
    expand_github_uri   `github:OWNER/*` → every repository of an organization or user
    parse_github_uri    `github:OWNER/REPO[@BRANCH]` → (owner, name, branch)
"""

from commitlake.sources.github._client import RETRY_REASON_PREFIX, ClientStats, GitHubClient, Page
from commitlake.sources.github._clock import Clock, SystemClock
from commitlake.sources.github._exceptions import GitHubHTTPError
from commitlake.sources.github._paginators import HeaderLinkPaginator, Paginator
from commitlake.sources.github._payload import committed_at, parse_github_date
from commitlake.sources.github._source import GitHubSource, fetch_commit_detail
from commitlake.sources.github._uri import expand_github_uri, parse_github_uri

__all__ = [
    "DEFAULT_SINCE_OVERLAP",
    "RETRY_REASON_PREFIX",
    "ClientStats",
    "Clock",
    "GitHubClient",
    "GitHubHTTPError",
    "GitHubSource",
    "HeaderLinkPaginator",
    "Page",
    "Paginator",
    "SystemClock",
    "committed_at",
    "expand_github_uri",
    "fetch_commit_detail",
    "parse_github_date",
    "parse_github_uri",
]
