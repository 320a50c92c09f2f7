"""plan: expand the configured source URIs into the list of repositories to ingest (Argo fans out over it)."""

from __future__ import annotations

from collections.abc import Callable

from commitlake.config import Settings
from commitlake.errors import ConfigError
from commitlake.pipeline import FAN_OUT_LIST
from commitlake.sources import scheme_of
from commitlake.stages import StageContext, StageResult
from commitlake.wording import plural

__all__ = ["default_repos", "is_wildcard", "plan_uris", "run"]


def default_repos(settings: Settings) -> tuple[str, ...]:
    """With no --repos, ingest the project's own history: works offline on a fresh clone."""
    if (settings.project_dir / ".git").exists():
        return (f"git:{settings.project_dir}",)
    raise ConfigError(
        f"no repositories given (--repos or COMMITLAKE_REPOS) and {settings.project_dir} is not a git clone"
    )


def github_client(settings: Settings, show: Callable[[str], None] | None = None) -> object:
    """One client for the whole run; every wait is logged and, with `show`, put on the progress bar."""
    from commitlake.logs import get_logger
    from commitlake.sources.github import RETRY_REASON_PREFIX, GitHubClient

    log = get_logger("github")

    def on_wait(seconds: float, reason: str) -> None:
        if not reason.startswith(RETRY_REASON_PREFIX):  # a retry's backoff is logged once, as github.retry
            log.warning("github.rate_limit_wait", wait_seconds=round(seconds, 3), reason=reason)
        if show is not None:
            show(f"waiting {seconds:.0f}s: {reason}")

    return GitHubClient(
        settings.github_api_url, settings.github_token, max_requests=settings.max_requests, on_wait=on_wait
    )


def is_wildcard(uri: str) -> bool:
    """`github:OWNER/*`: a URI that plan expands into many repositories."""
    return scheme_of(uri) == "github" and uri.split("@", 1)[0].endswith("/*")


def plan_uris(settings: Settings, client: object | None = None) -> list[str]:
    uris = settings.repos or default_repos(settings)
    planned: list[str] = []
    for uri in uris:
        if is_wildcard(uri):
            from commitlake.sources.github import expand_github_uri

            client = client or github_client(settings)
            planned.extend(expand_github_uri(uri, client))  # type: ignore[arg-type]
        else:
            planned.append(uri)
    return list(dict.fromkeys(planned))


def run(ctx: StageContext) -> StageResult:
    uris = plan_uris(ctx.settings)
    return StageResult(plural(len(uris), "repository"), {"repositories": len(uris)}, {FAN_OUT_LIST: uris})
