"""Source URIs and `github:OWNER/*` expansion against the fake server."""

from __future__ import annotations

import pytest

from commitlake.errors import ConfigError, RepoUnavailable
from commitlake.sources.github import GitHubClient, expand_github_uri, parse_github_uri
from fake_github import FakeClock, FakeGitHub, load_history


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("github:pallets/click", ("pallets", "click", None)),
        ("github:pallets/click@main", ("pallets", "click", "main")),
        ("github:octo-org/repo.js@release/1.x", ("octo-org", "repo.js", "release/1.x")),
        ("github:octo-org/*", ("octo-org", "*", None)),
    ],
)
def test_parse_accepts(uri: str, expected: tuple[str, str, str | None]) -> None:
    assert parse_github_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    ["github:", "github:pallets", "github:/click", "gitlab:a/b", "github:a/b/c", "github:a/b@", "github:-x/y",
     "github:a/..", "github:org/*@main", "github:a/b@has space"],
)
def test_parse_rejects_naming_the_uri(uri: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        parse_github_uri(uri)
    assert repr(uri) in str(excinfo.value)


def test_expand_organization_and_user_over_several_pages() -> None:
    clock = FakeClock()
    history = load_history("commitizen__cz-cli")
    with FakeGitHub(clock=clock) as gh:
        names = [f"r{i:03d}" for i in range(130)]  # two pages of 100
        for name in reversed(names):
            gh.add_repo(f"big-org/{name}", history, fork=name.endswith("7"), archived=name.endswith("3"))
        gh.add_repo("someone/dotfiles", history, organization=False)
        gh.add_repo("someone/zzz", history, organization=False)
        with GitHubClient(gh.url, None, clock=clock) as client:
            assert expand_github_uri("github:big-org/*", client) == [f"github:big-org/{n}" for n in names]
            assert len(gh.requests(route="repos", path_contains="/orgs/big-org/")) == 2
            assert expand_github_uri("github:someone/*", client) == ["github:someone/dotfiles", "github:someone/zzz"]
            # a user: /orgs answers 404 first, then /users is asked
            assert [r.path.split("?")[0] for r in gh.requests(path_contains="someone")] == [
                "/orgs/someone/repos", "/users/someone/repos"]
            assert expand_github_uri("github:pallets/click", client) == ["github:pallets/click"]
            with pytest.raises(RepoUnavailable, match="nobody"):
                expand_github_uri("github:nobody/*", client)
