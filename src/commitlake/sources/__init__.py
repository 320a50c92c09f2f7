"""Sources named by URI: `git:PATH`, `jsonl:PATH`, `github:OWNER/REPO[@BRANCH]`, `github:OWNER/*`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from commitlake.errors import ConfigError
from commitlake.sources.base import Batch, Cursor, Record, Source, SourceStats

__all__ = ["Batch", "Cursor", "Record", "Source", "SourceStats", "build_source", "scheme_of"]

SCHEMES = ("git", "jsonl", "github")


def scheme_of(uri: str) -> str:
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise ConfigError(
            f"bad source URI {uri!r}: expected git:PATH, jsonl:PATH, github:OWNER/REPO[@BRANCH] or github:OWNER/*"
        )
    return scheme


def build_source(
    uri: str, *, github_client: Any = None, with_files: bool = False, full_refresh: bool = False
) -> Source:
    """One Source for one repository URI (expand `github:OWNER/*` first, in the plan stage)."""
    scheme = scheme_of(uri)
    rest = uri.split(":", 1)[1]
    if scheme == "jsonl":
        from commitlake.sources.jsonl import JsonlSource

        return JsonlSource(uri, Path(rest).expanduser())
    if scheme == "git":
        from commitlake.sources.git import GitSource

        return GitSource(uri, Path(rest).expanduser())
    from commitlake.sources.github import GitHubSource

    if github_client is None:
        raise ConfigError(f"{uri}: a GitHub client is required")
    source: Source = GitHubSource(uri, github_client, with_files=with_files, full_refresh=full_refresh)
    return source
