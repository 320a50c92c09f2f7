"""`--dry-run` for `run` and `ingest`: what a run would read and request, with nothing written anywhere.

The plan is built from the same pieces a run uses (plan_uris, build_source, the stored cursors in
ops.ingest_state), but nothing is created: no lake object, no warehouse row, no schema, no embedded server
initialisation. An existing embedded server is started for the read and stopped again if it was not running.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from commitlake.config import Settings
from commitlake.pipeline import STAGES
from commitlake.sources import build_source, scheme_of

__all__ = ["RepoPlan", "expected_requests", "plan_repositories", "print_plan"]


@dataclass(frozen=True)
class RepoPlan:
    uri: str
    kind: str
    repo: str
    branch: str | None
    since: datetime | None
    etag: str | None
    expected: str


def expected_requests(kind: str, *, since: datetime | None, etag: str | None, full_refresh: bool,
                      with_files: bool) -> str:
    """A human estimate of the GitHub requests one repository will cost, from its stored cursor."""
    if kind != "github":
        # a git or JSON-lines cursor is what was read last (HEAD's sha, the file's sha256), not a time
        return "no requests (local read; nothing read if unchanged)" if etag and not full_refresh else (
            "no requests (local read)")
    per_file = "; plus 1 per new commit (--with-files)" if with_files else ""
    if full_refresh or since is None:
        return f"full history: 1 request per 100 commits{per_file}"
    if etag:
        return f"1 conditional request (ETag stored: free if unchanged), then 1 per 100 new commits{per_file}"
    return f"1 request per 100 commits since {since:%Y-%m-%d %H:%M}{per_file}"


def _stored_cursors(settings: Settings) -> tuple[dict[tuple[str, str, str], tuple[Any, Any]], str | None]:
    """(cursors, why not read): reads ops.ingest_state; creates no server, schema or row to do it."""
    if settings.embedded_database:
        from commitlake.warehouse.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(settings.home / "postgres")
        if not embedded.initialized:  # initializing one would write: say so instead
            return {}, f"no embedded warehouse under {settings.home} yet: every repository counts as new"
        started = embedded.ensure_running()  # read-only visit: stopped again if this started it
        try:
            return _read_cursors(embedded.url())
        finally:
            if started:
                embedded.stop()
    assert settings.database_url is not None
    return _read_cursors(settings.database_url)


def _read_cursors(url: str) -> tuple[dict[tuple[str, str, str], tuple[Any, Any]], str | None]:
    from commitlake.warehouse.db import connect
    from commitlake.warehouse.runs import read_ingest_state

    with connect(url) as conn:
        rows = read_ingest_state(conn)
    if rows is None:
        return {}, "no ops.ingest_state yet: every repository counts as new"
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}, None


def plan_repositories(settings: Settings) -> tuple[list[str], list[RepoPlan], str | None]:
    """(sources, one plan per repository, a note on the cursors) without writing anything."""
    from commitlake.stages.plan import default_repos, github_client, plan_uris

    sources = list(settings.repos or default_repos(settings))
    uris = plan_uris(settings)
    client = github_client(settings) if any(scheme_of(u) == "github" for u in uris) else None
    cursors, note = ({}, "--full-refresh: stored cursors ignored") if settings.full_refresh else _stored_cursors(
        settings
    )
    plans = []
    for uri in uris:
        source = build_source(uri, github_client=client, with_files=settings.with_files)
        since, etag = cursors.get((source.kind, source.repo, source.branch or ""), (None, None))
        plans.append(RepoPlan(
            uri, source.kind, source.repo, source.branch, since, etag,
            expected_requests(source.kind, since=since, etag=etag, full_refresh=settings.full_refresh,
                              with_files=settings.with_files),
        ))
    return sources, plans, note


def _cursor_label(plan: RepoPlan) -> str:
    """The stored cursor as a person reads it: GitHub's is a commit time, a local source's what it read last."""
    if plan.since is not None:
        return f"cursor {plan.since:%Y-%m-%d %H:%M}"
    if plan.etag and plan.kind != "github":
        return f"cursor {plan.etag[:12]}"
    return "no cursor"


def print_plan(settings: Settings, stages: list[str] | None, out: IO[str] | None = None) -> None:
    """Print the plan as plain lines on stdout (a dry run is read by a person; it writes no log records)."""
    out = out or sys.stdout
    selected = [s.name for s in STAGES if stages is None or s.name in stages]
    if "plan" not in selected and "ingest" not in selected:
        print(f"dry run: stages {', '.join(selected)} read no sources; nothing to plan", file=out)
        return
    sources, plans, note = plan_repositories(settings)
    print(f"dry run: nothing will be written. stages: {', '.join(selected)}", file=out)
    print(f"sources ({len(sources)}): {' '.join(sources)}", file=out)
    print(f"repositories ({len(plans)}):", file=out)
    names = [f"{p.kind}:{p.repo}" + (f"@{p.branch}" if p.branch else "") for p in plans]
    width = max(map(len, names), default=0)
    for name, p in zip(names, plans, strict=True):
        print(f"  {name:<{width}}  {_cursor_label(p):<22}  {p.expected}", file=out)
    if settings.max_requests is not None:
        print(f"request budget: {settings.max_requests} (--max-requests)", file=out)
    if note:
        print(f"note: {note}", file=out)
