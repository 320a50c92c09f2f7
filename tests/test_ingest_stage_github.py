"""The ingest stage end to end against the fake GitHub: lake objects, manifests, cursors in ops, then load.

Faults on 10 % of requests; the client's clock is injected (the one seam the stage offers) so rate-limit
waits and backoffs are recorded, not slept through.
"""

from __future__ import annotations

import gzip
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import psycopg
import pytest

from commitlake.config import Settings
from commitlake.lake import Manifest, open_lake
from commitlake.runner import run_pipeline
from commitlake.sources.github import GitHubClient
from fake_github import ALL_FAULTS, FakeClock, FakeGitHub, FaultPlan, load_history, merge_of_an_old_branch

SLUGS = ["commitizen__cz-cli", "googleapis__release-please", "pallets__click"]
HIDDEN = 150


def _manifests(lake_dir: Path, run_id: str) -> list[Manifest]:
    lake = open_lake(lake_dir.as_uri())
    keys = [k for k in lake.list_keys("raw/github/") if k.endswith("_manifest.json") and f"run_id={run_id}/" in k]
    return [Manifest.from_bytes(lake.get_bytes(k)) for k in keys]


def _lake_shas(lake_dir: Path, manifests: list[Manifest]) -> list[str]:
    shas = []
    for manifest in manifests:
        for obj in manifest.objects:
            with gzip.open(lake_dir / obj.key, "rb") as handle:
                shas += [orjson.loads(line)["sha"] for line in handle if line.strip()]
    return shas


@pytest.mark.slow
def test_ingest_stage_with_faults_then_quiet_then_new(
    tmp_path: Path, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    faults = FaultPlan(rate=0.10, kinds=ALL_FAULTS, seed=11, slow_seconds=0.01)
    waits: list[tuple[float, str]] = []
    with FakeGitHub(clock=clock, token="tok-secret", faults=faults) as gh:
        repos = {s: gh.add_repo(f"fake-org/{s}", load_history(s), hidden=HIDDEN) for s in SLUGS}
        client = GitHubClient(gh.url, "tok-secret", clock=clock, rng=random.Random(1),
                              on_wait=lambda s, r: waits.append((s, r)))
        monkeypatch.setattr("commitlake.stages.ingest.github_client", lambda settings, show=None: client)
        monkeypatch.setattr("commitlake.stages.plan.github_client", lambda settings, show=None: client)
        settings = Settings.from_env({
            "COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
            "GITHUB_API_URL": gh.url, "GITHUB_TOKEN": "tok-secret", "COMMITLAKE_REPOS": "github:fake-org/*",
            "COMMITLAKE_STAGE_PROCESSES": "0",  # the patched client (fake clock, seeded faults) is this process's
        })
        lake_dir = tmp_path / "home" / "lake"

        first = run_pipeline(settings, only=["plan", "ingest", "load"], progress=False)
        manifests = _manifests(lake_dir, first.run_id)
        assert sorted(m.repo for m in manifests) == sorted(f"fake-org/{s}" for s in SLUGS)
        expected = {sha for repo in repos.values() for sha in repo.visible_shas()}
        lake_shas = _lake_shas(lake_dir, manifests)
        assert len(lake_shas) == len(set(lake_shas)) == len(expected)
        assert set(lake_shas) == expected
        with psycopg.connect(fresh_database) as conn:
            rows = conn.execute("select sha from raw.github_commits").fetchall()
            state = conn.execute("select count(*) from ops.ingest_state where etag is not null").fetchone()
        assert {r[0] for r in rows} == expected and len(rows) == len(expected)
        assert state is not None and state[0] == len(SLUGS)
        assert first.results["ingest"].details["retries"] > 0  # the faults really happened

        gh.clear_log()
        second = run_pipeline(settings.with_overrides(run_id=None), only=["plan", "ingest", "load"], progress=False)
        list_requests = [r for r in gh.log if r.route == "list"]
        assert len(list_requests) - sum(1 for r in list_requests if r.fault) == len(SLUGS)
        assert all(r.status == 304 for r in list_requests if not r.fault)
        assert all(m.objects == [] for m in _manifests(lake_dir, second.run_id))
        assert second.results["load"].row_counts["rows_inserted"] == 0

        pushed = {sha for repo in repos.values() for sha in repo.push()}
        third = run_pipeline(settings.with_overrides(run_id=None), only=["plan", "ingest", "load"], progress=False)
        new_lake_shas = set(_lake_shas(lake_dir, _manifests(lake_dir, third.run_id)))
        assert pushed <= new_lake_shas
        assert new_lake_shas == pushed  # exactly the new commits: compare from the stored head
        assert third.results["load"].row_counts["rows_inserted"] == len(pushed)

    token_seen = any("tok-secret" in p.read_text(errors="ignore") for p in lake_dir.rglob("*.json"))
    assert not token_seen


def test_two_branches_of_one_repository_in_one_run(tmp_path: Path) -> None:
    """`@dev` must not find the default branch's manifest and report already_done (issue 10, item 2)."""
    from commitlake.sources.github import GitHubSource
    from commitlake.stages.ingest import ingest_source

    clock = FakeClock()
    with FakeGitHub(clock=clock) as gh:
        repo = gh.add_real("commitizen__cz-cli", branches={"release/v4": 96})
        client = GitHubClient(gh.url, None, clock=clock)
        lake = open_lake((tmp_path / "lake").as_uri())
        uris = ("github:commitizen/cz-cli", "github:commitizen/cz-cli@release/v4")
        with ThreadPoolExecutor(max_workers=2) as pool:  # like two Argo pods of one workflow, at once
            results = list(pool.map(lambda uri: ingest_source(GitHubSource(uri, client), None, lake, "run-1"), uris))
    assert [status for _, status in results] == ["ingested", "ingested"]
    main, branch = (manifest for manifest, _ in results)
    assert main is not None and branch is not None
    assert (main.branch, branch.branch) == (None, "release/v4")
    assert main.records == len(repo.history) and branch.records == len(repo.history) - 96
    keys = [obj.key for obj in main.objects + branch.objects]
    assert len(keys) == len(set(keys)) and all("branch=release%2Fv4/" in obj.key for obj in branch.objects)
    assert set(_lake_shas(tmp_path / "lake", [branch])) == {repo.history.sha(i) for i in range(96, len(repo.history))}


def test_budget_stop_is_reported_and_the_rerun_resumes(tmp_path: Path, fresh_database: str) -> None:
    """Issue 10, item 6 through the stage: the state in ops keeps the frontier; no commit is fetched twice."""
    with FakeGitHub() as gh:
        history = load_history("pallets__click")
        repo = gh.add_real("pallets__click", hidden=len(history) - 2949)
        settings = Settings.from_env({
            "COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database, "GITHUB_API_URL": gh.url,
            "COMMITLAKE_REPOS": "github:pallets/click", "COMMITLAKE_WITH_FILES": "1",
            "COMMITLAKE_MAX_REQUESTS": "200",
        })
        lake_dir = tmp_path / "home" / "lake"
        first = run_pipeline(settings, only=["ingest"], progress=False)
        ingest = first.results["ingest"]
        assert "pallets/click: budget reached: about 2802 commits left for the next run" in ingest.summary
        assert [r["status"] for r in ingest.details["repositories"]] == ["incomplete"]
        with psycopg.connect(fresh_database) as conn:
            row = conn.execute("select head_sha, resume from ops.ingest_state").fetchone()
        assert row is not None and row[0] is None  # no head yet: the first walk has not finished
        assert row[1]["offset"] == 98 and row[1]["head"] == repo.visible_shas()[0]
        run_one = _lake_shas(lake_dir, _manifests(lake_dir, first.run_id))
        assert len(run_one) == len(set(run_one)) == 198

        gh.clear_log()
        second = run_pipeline(settings.with_overrides(run_id=None), only=["ingest"], progress=False)
        run_two = _lake_shas(lake_dir, _manifests(lake_dir, second.run_id))
        asked = {r.path.split("?")[0].rsplit("/", 1)[-1] for r in gh.requests(route="commit")}
        assert not asked & set(run_one)  # the rerun never fetched a commit already in the lake
        assert len(run_two) > 190 and not set(run_two) & set(run_one)  # a few commits need 2+ detail pages
        done = len(run_one) + len(run_two)
        assert run_one + run_two == repo.visible_shas()[:done]  # it went on exactly where it stopped
        overestimate = 2802 - 2751  # "about": a list walk counts its last page (49 commits) as a full 100
        assert f"about {2949 - done + overestimate} commits left" in second.results["ingest"].summary


def test_an_existing_ingest_state_gains_head_and_resume(fresh_database: str) -> None:
    """A warehouse made before this change keeps its cursors and gets the two new columns once."""
    from commitlake.warehouse.db import ensure_schema

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create schema ops")
        conn.execute("""create table ops.ingest_state (source_kind text not null, repo_full_name text not null,
            branch text not null default '', last_committed_at timestamptz, etag text,
            updated_at timestamptz not null default now(), updated_by_run text,
            primary key (source_kind, repo_full_name, branch))""")
        conn.execute("insert into ops.ingest_state (source_kind, repo_full_name, etag) values ('github', 'a/b', 'e1')")
    ensure_schema(fresh_database)
    ensure_schema(fresh_database)  # idempotent
    with psycopg.connect(fresh_database) as conn:
        row = conn.execute("select etag, head_sha, resume from ops.ingest_state").fetchone()
    assert row == ("e1", None, None)


def test_merge_pushed_between_runs_reaches_the_warehouse(tmp_path: Path, fresh_database: str) -> None:
    """Issue 10, item 1 through ingest and load: the head kept in ops.ingest_state drives the compare."""
    with FakeGitHub() as gh:
        repo = gh.add_real("pallets__click")
        merge, first_parent = merge_of_an_old_branch(repo)
        history = repo.history
        repo.set_head("main", history.sha(first_parent))
        settings = Settings.from_env({
            "COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database, "GITHUB_API_URL": gh.url,
            "COMMITLAKE_REPOS": "github:pallets/click",
        })
        run_pipeline(settings, only=["ingest", "load"], progress=False)
        repo.set_head("main", history.sha(merge))
        gh.clear_log()
        second = run_pipeline(settings.with_overrides(run_id=None), only=["ingest", "load"], progress=False)
        assert [r.route for r in gh.log] == ["list", "compare"]
        brought = set(repo.reachable(merge)) - set(repo.reachable(first_parent))
        assert second.results["load"].row_counts["rows_inserted"] == len(brought)
        with psycopg.connect(fresh_database) as conn:
            shas = {r[0] for r in conn.execute("select sha from raw.github_commits")}
            head = conn.execute("select head_sha from ops.ingest_state").fetchone()
    assert shas == {history.sha(i) for i in repo.reachable(merge)}
    assert head == (history.sha(merge),)
