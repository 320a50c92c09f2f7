"""`github:OWNER/REPO`, `github:OWNER/REPO@BRANCH` and `github:OWNER/*` (every repository of an owner)."""

from __future__ import annotations

import re

from commitlake.errors import ConfigError, RepoUnavailable
from commitlake.sources.github._client import GitHubClient
from commitlake.sources.github._exceptions import GitHubHTTPError

__all__ = ["expand_github_uri", "parse_github_uri"]

_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
_EXPECTED = "expected github:OWNER/REPO, github:OWNER/REPO@BRANCH or github:OWNER/*"


def parse_github_uri(uri: str) -> tuple[str, str, str | None]:
    """(owner, name or "*", branch or None); ConfigError naming the URI when it is malformed.

    A branch may contain `/` (`release/1.x`); repository names cannot contain `@`, so the first `@` splits.
    `OWNER/*@BRANCH` is refused: a branch that exists in every repository of an owner is a guess, not a rule.
    """
    scheme, sep, rest = uri.partition(":")
    if scheme != "github" or not sep:
        raise ConfigError(f"bad GitHub source {uri!r}: {_EXPECTED}")
    path, at, branch = rest.partition("@")
    owner, slash, name = path.partition("/")
    if not slash or not _OWNER.match(owner) or not (name == "*" or (_NAME.match(name) and name not in {".", ".."})):
        raise ConfigError(f"bad GitHub source {uri!r}: {_EXPECTED}")
    if at:
        if not branch or any(ch.isspace() for ch in branch) or ".." in branch:
            raise ConfigError(f"bad GitHub source {uri!r}: the branch after '@' is empty or invalid")
        if name == "*":
            raise ConfigError(f"bad GitHub source {uri!r}: a branch cannot be combined with OWNER/*")
    return owner, name, branch if at else None


def expand_github_uri(uri: str, client: GitHubClient) -> list[str]:
    """`github:OWNER/*` → sorted `github:OWNER/NAME` URIs; any other URI → `[uri]`.

    Tries `/orgs/OWNER/repos` then `/users/OWNER/repos` (GitHub answers 404 to the first for a user).
    Every repository is included, forks and archived ones too: `OWNER/*` means all of them, archived
    repositories still hold history, and a fork that is not wanted is better left out of the list by
    naming repositories explicitly than dropped by a rule the user cannot see.
    """
    owner, name, _ = parse_github_uri(uri)
    if name != "*":
        return [uri]
    for kind, extra in (("orgs", "all"), ("users", "owner")):
        names: set[str] = set()
        try:
            for page in client.paginate(client.url(f"{kind}/{owner}/repos"), params={"per_page": 100, "type": extra}):
                for repo in page.data or []:
                    if isinstance(repo, dict) and repo.get("name"):
                        names.add(str(repo["name"]))
        except GitHubHTTPError as exc:
            if exc.status == 404:
                continue
            raise RepoUnavailable(f"{owner}/*", exc.status, exc.message) from None
        return sorted(f"github:{owner}/{repo_name}" for repo_name in names)
    raise RepoUnavailable(f"{owner}/*", 404, "no such organization or user")
