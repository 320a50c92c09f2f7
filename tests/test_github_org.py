"""Done criterion of issue 3: a fake organization of 10 real repositories (~30,000 commits), faults on 10 % of
requests, 4 repositories at a time through one shared client. No commit lost or duplicated; the first run
costs ceil(commits/100) list requests per repository plus retries; a quiet rerun costs exactly 10 requests,
all 304; after new commits appear, a third run fetches only the pages that hold them."""

from __future__ import annotations

import math
import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from commitlake.sources.base import Cursor
from commitlake.sources.github import GitHubClient, GitHubSource, expand_github_uri
from fake_github import ALL_FAULTS, FakeClock, FakeGitHub, FaultPlan, load_history

SLUGS = [
    "typescript-eslint__typescript-eslint", "conventional-changelog__conventional-changelog",
    "conventional-changelog__commitlint", "commitizen__cz-cli", "ngrx__platform", "open-telemetry__opentelemetry-js",
    "googleapis__release-please", "semantic-release__semantic-release", "pallets__flask", "pallets__click",
]
HIDDEN = 120  # per repository: pushed between the second and the third run


def run_all(client: GitHubClient, uris: list[str], cursors: dict[str, Cursor | None]):
    def one(uri: str):
        source = GitHubSource(uri, client)
        shas = [r["sha"] for batch in source.batches(cursors.get(uri)) for r in batch.records]
        return uri, shas, source

    with ThreadPoolExecutor(max_workers=4) as pool:
        return {uri: (shas, source) for uri, shas, source in pool.map(one, uris)}


@pytest.mark.slow
def test_organization_with_faults_is_ingested_exactly():
    clock = FakeClock()
    faults = FaultPlan(rate=0.10, kinds=ALL_FAULTS, seed=3, slow_seconds=0.01)
    with FakeGitHub(clock=clock, token="tok", faults=faults) as gh:
        repos = {slug: gh.add_repo(f"fake-org/{slug}", load_history(slug), hidden=HIDDEN) for slug in SLUGS}
        client = GitHubClient(gh.url, "tok", clock=clock, rng=random.Random(5), on_wait=lambda s, r: None)
        uris = expand_github_uri("github:fake-org/*", client)
        assert uris == sorted(f"github:fake-org/{slug}" for slug in SLUGS)
        gh.clear_log()
        before = client.stats

        first = run_all(client, uris, {})
        total = 0
        for slug, repo in repos.items():
            shas, _source = first[f"github:fake-org/{slug}"]
            assert shas == repo.visible_shas()  # every commit, once, in order
            total += len(shas)
            ok_lists = [r for r in gh.log if r.route == "list" and r.status == 200 and r.fault in (None, "slow")
                        and (f"/{slug}/" in r.path or f"/repositories/{repo.id}/" in r.path)]
            assert len(ok_lists) == math.ceil(len(shas) / 100)
        assert total > 29_000
        stats = client.stats
        served = [r for r in gh.log]
        assert stats.requests - before.requests == len(served)
        assert stats.retries - before.retries == len([r for r in served if r.fault not in (None, "slow")])
        assert len(served) == sum(math.ceil(len(r.visible_shas()) / 100) for r in repos.values()) + (
            stats.retries - before.retries)
        assert len({r.fault for r in served} & set(ALL_FAULTS)) >= 7  # most kinds of fault really happened
        assert 0.08 < len([r for r in served if r.fault in ALL_FAULTS]) / len(served) < 0.14

        cursors = {uri: source.next_cursor() for uri, (_, source) in first.items()}
        gh.faults.rate = 0.0
        gh.clear_log()
        second = run_all(client, uris, cursors)
        assert all(shas == [] for shas, _ in second.values())
        assert [r.status for r in gh.log] == [304] * 10

        pushed = {f"github:fake-org/{slug}": set(repo.push()) for slug, repo in repos.items()}
        gh.clear_log()
        third = run_all(client, uris, cursors)
        # each: the probe, then the compare pages from the old head to the new one, nothing more
        assert len(gh.log) == sum(1 + math.ceil(HIDDEN / 100) for _ in repos)
        for uri, (shas, _) in third.items():
            assert len(shas) == len(set(shas)) and set(shas) == pushed[uri]  # exactly the new commits
