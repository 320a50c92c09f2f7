"""GitHubSource against the fake server: incremental runs, conditional requests, outcomes, files, replay."""

from __future__ import annotations

import gzip
import itertools
import math
from datetime import datetime, timedelta

import httpx
import orjson
import pytest

from commitlake.errors import AuthError, BudgetExhausted, RepoUnavailable
from commitlake.sources.base import Cursor
from commitlake.sources.github import (
    GitHubClient,
    GitHubSource,
    committed_at,
    fetch_commit_detail,
    parse_github_date,
)
from fake_github import COMMITS_DIR, FakeClock, FakeGitHub, load_history, merge_of_an_old_branch


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gh(clock: FakeClock):
    with FakeGitHub(clock=clock) as fake:
        yield fake


def drain(source: GitHubSource, cursor: Cursor | None) -> list[dict]:
    return [record for batch in source.batches(cursor) for record in batch.records]


def source_shas(slug: str) -> list[str]:
    with gzip.open(COMMITS_DIR / f"{slug}.jsonl.gz") as handle:
        return [orjson.loads(line)["sha"] for line in handle]


def test_full_then_unchanged_then_only_new(gh: FakeGitHub, clock: FakeClock):
    repo = gh.add_real("pallets__flask", hidden=230)
    client = GitHubClient(gh.url, None, clock=clock)
    truth = source_shas("pallets__flask")

    first = GitHubSource("github:pallets/flask", client)
    batches = list(first.batches(None))
    assert [b.meta["status"] for b in batches] == [200] * len(batches)
    assert "/repositories/" in batches[1].meta["url"]  # links were followed, not rebuilt
    shas = [r["sha"] for b in batches for r in b.records]
    assert shas == truth[230:]  # complete, in order, no duplicates
    assert len(gh.log) == math.ceil((len(truth) - 230) / 100) == first.stats.requests
    cursor = first.next_cursor()
    assert cursor is not None and cursor.etag and cursor.head_sha == truth[230] and cursor.resume is None
    assert cursor.last_committed_at == max(committed_at(r) for b in batches for r in b.records)

    gh.clear_log()
    second = GitHubSource("github:pallets/flask", client)
    assert drain(second, cursor) == []
    assert [(r.status, r.if_none_match) for r in gh.log] == [(304, cursor.etag)]
    assert second.stats.not_modified == 1 and second.next_cursor() == cursor

    new = set(repo.push())
    gh.clear_log()
    third = GitHubSource("github:pallets/flask", client)
    got = drain(third, cursor)
    assert {r["sha"] for r in got} == new and len(got) == len(new)  # exactly the new commits, once each
    assert [r.route for r in gh.log] == ["list"] + ["compare"] * math.ceil(230 / 100)
    assert gh.log[1].path.startswith(f"/repos/pallets/flask/compare/{cursor.head_sha}...{truth[0]}")
    newer = third.next_cursor()
    assert newer is not None and newer.etag != cursor.etag and newer.head_sha == truth[0]
    assert newer.last_committed_at > cursor.last_committed_at

    gh.clear_log()
    assert drain(GitHubSource("github:pallets/flask", client), newer) == []
    assert [r.status for r in gh.log] == [304]


def test_full_refresh_ignores_the_cursor(gh: FakeGitHub, clock: FakeClock):
    gh.add_real("commitizen__cz-cli")
    client = GitHubClient(gh.url, None, clock=clock)
    cursor = GitHubSource("github:commitizen/cz-cli", client)
    drain(cursor, None)
    state = cursor.next_cursor()
    gh.clear_log()
    again = drain(GitHubSource("github:commitizen/cz-cli", client, full_refresh=True), state)
    assert len(again) == 396 and all(r.if_none_match is None for r in gh.log)


def test_branch_is_asked_with_sha_parameter(gh: FakeGitHub, clock: FakeClock):
    gh.add_real("commitizen__cz-cli", branches={"release/v4": 96})
    client = GitHubClient(gh.url, None, clock=clock)
    source = GitHubSource("github:commitizen/cz-cli@release/v4", client)
    assert [r["sha"] for r in drain(source, None)] == source_shas("commitizen__cz-cli")[96:]
    assert gh.log[0].query == {"per_page": "100", "sha": "release/v4"}
    assert source.branch == "release/v4" and source.repo == "commitizen/cz-cli"


@pytest.mark.parametrize("status", [404, 451, 403])
def test_missing_or_blocked_repository_is_unavailable(gh: FakeGitHub, clock: FakeClock, status: int):
    gh.add_real("commitizen__cz-cli", full_name="org/blocked", status=status)
    source = GitHubSource("github:org/blocked", GitHubClient(gh.url, None, clock=clock))
    with pytest.raises(RepoUnavailable) as excinfo:
        drain(source, None)
    assert excinfo.value.status == status and excinfo.value.repo == "org/blocked"
    assert source.stats.skipped_reason and str(status) in source.stats.skipped_reason


def test_unknown_repository_is_unavailable(gh: FakeGitHub, clock: FakeClock):
    with pytest.raises(RepoUnavailable, match="org/none: HTTP 404"):
        drain(GitHubSource("github:org/none", GitHubClient(gh.url, None, clock=clock)), None)


def test_empty_repository_is_zero_commits(gh: FakeGitHub, clock: FakeClock):
    gh.add_real("commitizen__cz-cli", full_name="org/empty", status=409)
    source = GitHubSource("github:org/empty", GitHubClient(gh.url, None, clock=clock))
    assert drain(source, None) == []
    assert source.stats.skipped_reason is None and source.next_cursor() is None


def test_bad_token_raises_auth_error(clock: FakeClock):
    with FakeGitHub(clock=clock, token="right") as gh:
        gh.add_real("commitizen__cz-cli")
        with pytest.raises(AuthError):
            drain(GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, "wrong", clock=clock)), None)


def test_with_files_merges_every_page_of_files(gh: FakeGitHub, clock: FakeClock):
    history = load_history("typescript-eslint__typescript-eslint")
    big = max(range(len(history)), key=lambda i: len(history.detail(i)["files"]))
    assert len(history.detail(big)["files"]) > 600  # paged 300 at a time: at least 3 pages
    gh.add_repo("typescript-eslint/typescript-eslint", history, hidden=big - 3)
    client = GitHubClient(gh.url, None, clock=clock, max_requests=200)
    source = GitHubSource("github:typescript-eslint/typescript-eslint", client, with_files=True)
    batch = next(iter(source.batches(None)))
    expected = {r["sha"]: history.detail(big - 3 + i) for i, r in enumerate(batch.records)}
    for record in batch.records:
        assert record["files"] == expected[record["sha"]]["files"]
        assert record["stats"] == expected[record["sha"]]["stats"]
    detail_pages = sum(max(1, math.ceil(len(expected[s]["files"]) / 300)) for s in expected)
    assert source.stats.requests == 1 + detail_pages == len(gh.log)  # the budget counts detail requests too
    big_sha = history.sha(big)
    file_pages = gh.requests(route="commit", path_contains=big_sha)
    assert len(file_pages) == math.ceil(len(history.detail(big)["files"]) / 300)
    assert "/repositories/" in file_pages[1].path


def test_duplicates_from_a_push_during_the_walk_are_dropped(gh: FakeGitHub, clock: FakeClock):
    repo = gh.add_real("pallets__click", hidden=40)
    source = GitHubSource("github:pallets/click", GitHubClient(gh.url, None, clock=clock))
    shas = []
    for index, batch in enumerate(source.batches(None)):
        shas += [r["sha"] for r in batch.records]
        if index == 1:
            repo.push(40)  # every later page shifts by 40: its first 40 items were already seen
    assert len(shas) == len(set(shas)) == len(repo.history) - 40
    assert shas == source_shas("pallets__click")[40:]


def test_replayed_2012_payloads_and_cursor_links(gh: FakeGitHub, clock: FakeClock):
    """Real 2012 answers: no node_id/html_url/comment_count, `last_sha`/`top` links, no rel="last"."""
    client = GitHubClient(gh.url, None, clock=clock)
    source = GitHubSource("github:PyGithub/PyGithub", client)
    batches = list(itertools.islice(source.batches(None), 3))  # the recording holds three pages
    assert [len(b.records) for b in batches] == [30, 30, 30]
    assert "last_sha=" in batches[2].meta["url"]
    assert all("node_id" not in r for b in batches for r in b.records)
    assert source.stats.requests == 3


def test_replayed_since_until_follows_repositories_link(gh: FakeGitHub, clock: FakeClock):
    client = GitHubClient(gh.url, None, clock=clock)
    url = client.url("repos/PyGithub/PyGithub/commits")
    pages = list(client.paginate(url, params={"since": "2013-03-01T00:00:00Z", "until": "2013-03-31T00:00:00Z"}))
    assert len(pages) == 2 and "/repositories/3544490/commits" in pages[1].url
    dates = [committed_at(item) for page in pages for item in page.data]
    assert all(datetime(2013, 3, 1).astimezone() <= d <= datetime(2013, 3, 31, 23).astimezone() for d in dates)


def test_replayed_commit_files_are_paginated(gh: FakeGitHub, clock: FakeClock):
    client = GitHubClient(gh.url, None, clock=clock)
    url = client.url("repos/PyGithub/PyGithub/commits/3253acaabd86de12b73d0a24c98eb9c13d1987b5")
    stats, files = fetch_commit_detail(client, url)
    assert stats is not None and len(files) == len({f["filename"] for f in files}) > 3
    assert [r.route for r in gh.log] == ["replay", "replay"]


@pytest.mark.parametrize(
    ("raw", "iso"),
    [("2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"), ("2012-05-25T10:14:34-07:00", "2012-05-25T17:14:34+00:00"),
     ("2011-09-08T02:38:50+518:00", "2011-09-08T02:38:50+00:00"), (None, None), ("yesterday", None)],
)
def test_dates_parse_tolerantly(raw, iso):
    parsed = parse_github_date(raw)
    assert (parsed.isoformat() if parsed else None) == iso


def test_renamed_repository_is_followed(gh: FakeGitHub, clock: FakeClock):
    """A 301 for a renamed repository is followed, as GitHub's own clients do (issue 10, item 4)."""
    repo = gh.add_real("commitizen__cz-cli", full_name="old-org/cz-cli")
    gh.rename(repo, "commitizen/cz-cli")
    source = GitHubSource("github:old-org/cz-cli", GitHubClient(gh.url, None, clock=clock))
    assert [r["sha"] for r in drain(source, None)] == source_shas("commitizen__cz-cli")
    assert [r.status for r in gh.requests(route="moved")] == [301]
    assert source.stats.skipped_reason is None and source.next_cursor() is not None
    assert source.repo == "old-org/cz-cli"  # the state stays under the name the user configured


def test_redirect_off_the_api_host_is_refused(clock: FakeClock):
    """The token must never follow a Location to another host."""
    from commitlake.errors import SourceError

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.example":
            return httpx.Response(301, headers={"Location": "https://evil.example/steal"})
        raise AssertionError(f"the client followed the redirect to {request.url} with {request.headers}")

    client = GitHubClient("https://api.example", "tok", clock=clock, transport=httpx.MockTransport(handler))
    with pytest.raises(SourceError, match=r"refusing to follow https://evil\.example/steal"):
        client.get(client.url("repos/a/b/commits"))


def test_merge_of_an_old_dated_branch_between_runs_is_complete(gh: FakeGitHub, clock: FakeClock):
    """Issue 10, item 1: the commits a merge brings keep their old dates; none may be missed, none repeated."""
    repo = gh.add_real("pallets__click")
    merge, first_parent = merge_of_an_old_branch(repo)
    history = repo.history
    repo.set_head("main", history.sha(first_parent))
    client = GitHubClient(gh.url, None, clock=clock)

    first = GitHubSource("github:pallets/click", client)
    assert [r["sha"] for r in drain(first, None)] == [history.sha(i) for i in repo.reachable(first_parent)]
    cursor = first.next_cursor()
    assert cursor is not None and cursor.head_sha == history.sha(first_parent) and cursor.last_committed_at

    repo.set_head("main", history.sha(merge))  # the merge is pushed between the two runs
    expected = {history.sha(i) for i in set(repo.reachable(merge)) - set(repo.reachable(first_parent))}
    old_dated = {s for s in expected if committed_at(orjson.loads(history.list_item(history.index_of(s))))
                 < cursor.last_committed_at - timedelta(hours=1)}
    assert len(old_dated) >= 10  # what a date cutoff or `since=` would never see
    gh.clear_log()
    second = GitHubSource("github:pallets/click", client)
    got = [r["sha"] for r in drain(second, cursor)]
    assert sorted(got) == sorted(expected)  # every new commit, each once, nothing old
    assert [r.route for r in gh.log] == ["list", "compare"]
    newer = second.next_cursor()
    assert newer is not None and newer.head_sha == history.sha(merge) and not second.force_pushed

    gh.clear_log()
    assert drain(GitHubSource("github:pallets/click", client), newer) == []
    assert [(r.route, r.status) for r in gh.log] == [("list", 304)]  # an unchanged branch stays free


def test_force_push_is_detected_and_the_branch_walked_again(gh: FakeGitHub, clock: FakeClock):
    repo = gh.add_real("pallets__click")
    history = repo.history
    repo.set_head("main", history.sha(0))
    client = GitHubClient(gh.url, None, clock=clock)
    first = GitHubSource("github:pallets/click", client)
    drain(first, None)
    cursor = first.next_cursor()
    assert cursor is not None

    rewound = 150  # `git push --force` of an older commit: the old head is no longer an ancestor
    repo.set_head("main", history.sha(rewound))
    gh.clear_log()
    again = GitHubSource("github:pallets/click", client)
    batches = list(again.batches(cursor))
    got = [r["sha"] for b in batches for r in b.records]
    assert got == [history.sha(i) for i in repo.reachable(rewound)]
    assert again.force_pushed and all(b.meta["refetch"] == "force-push" for b in batches)
    assert [r.route for r in gh.log][:2] == ["list", "compare"] and gh.log[1].status == 200
    state = again.next_cursor()
    assert state is not None and state.head_sha == history.sha(rewound)

    gh.clear_log()  # a rewritten history whose old head is gone: compare answers 404, same outcome
    gone = GitHubSource("github:pallets/click", client)
    got = [r["sha"] for r in drain(gone, Cursor(etag="stale", head_sha="f" * 40))]
    assert len(got) == len(repo.reachable(rewound)) and gone.force_pushed
    assert [r.status for r in gh.requests(route="compare")] == [404]


def test_budget_stop_resumes_without_refetching(gh: FakeGitHub, clock: FakeClock):
    """Issue 10, item 6: `--with-files --max-requests 200` on 2,949 commits finishes over reruns, each commit once."""
    repo = gh.add_real("pallets__click", hidden=len(load_history("pallets__click")) - 2949)
    cursor: Cursor | None = None
    seen: list[str] = []
    messages: list[str] = []
    for _ in range(40):
        source = GitHubSource("github:pallets/click", GitHubClient(gh.url, None, clock=clock, max_requests=200),
                              with_files=True)
        try:
            for batch in source.batches(cursor):
                seen += [r["sha"] for r in batch.records]
                assert all("files" in r for r in batch.records)
        except BudgetExhausted as exc:
            messages.append(str(exc))
        cursor = source.next_cursor()
        if cursor is not None and cursor.resume is None:
            break
    assert len(seen) == len(set(seen)) == 2949 and set(seen) == set(repo.visible_shas())
    details = [r.path.split("?")[0] for r in gh.requests(route="commit") if "page=" not in r.path]
    assert len(details) == len(set(details)) == 2949  # no commit's detail was fetched twice
    assert len(messages) == math.ceil(2949 / 199) - 1 >= 14
    assert messages[0].startswith("budget reached: about 2802 commits left for the next run")
    assert cursor is not None and cursor.head_sha == repo.visible_shas()[0] and cursor.etag

    gh.clear_log()
    quiet = GitHubSource("github:pallets/click", GitHubClient(gh.url, None, clock=clock, max_requests=200))
    assert drain(quiet, cursor) == [] and [r.status for r in gh.log] == [304]


@pytest.mark.parametrize("where", ["rewritten", "other-host"])
def test_a_resume_point_rewritten_away_starts_again_from_the_stored_head(
    gh: FakeGitHub, clock: FakeClock, where: str
):
    repo = gh.add_real("commitizen__cz-cli")
    gone = "f" * 40
    host = gh.url if where == "rewritten" else "http://old-ghe.example"
    resume = {"kind": "list", "url": f"{host}/repos/commitizen/cz-cli/commits?per_page=100&sha={gone}&page=3",
              "offset": 5, "done": 205, "head": gone, "etag": None, "left": 100}
    source = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock))
    got = [r["sha"] for r in drain(source, Cursor(resume=resume))]
    assert got == repo.visible_shas()  # no head stored yet: the whole branch, not a skipped repository
    state = source.next_cursor()
    assert state is not None and state.resume is None and state.head_sha == repo.visible_shas()[0]


def test_budget_stop_inside_a_compare_resumes_it(gh: FakeGitHub, clock: FakeClock):
    repo = gh.add_real("commitizen__cz-cli", hidden=250)
    first = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock))
    drain(first, None)
    cursor = first.next_cursor()
    pushed = repo.push()
    got: list[str] = []
    stops = []
    for budget in (60, 200):  # the first run stops inside the compare walk; the second finishes it
        source = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock,
                              max_requests=budget), with_files=True)
        try:
            for batch in source.batches(cursor):
                got += [r["sha"] for r in batch.records]
        except BudgetExhausted as exc:
            assert str(exc).startswith(f"budget reached: {250 - len(got)} commits left")  # compare knows: exact
            stops.append(len(got))
        cursor = source.next_cursor()
        assert cursor is not None
    assert sorted(got) == sorted(pushed) and len(got) == 250 and len(stops) == 1 and 0 < stops[0] < 60
    assert cursor.resume is None and cursor.head_sha == pushed[0]


def test_budget_stop_on_the_first_page_resumes_there_after_a_push(gh: FakeGitHub, clock: FakeClock):
    """The resume point is pinned to the head seen then: commits pushed since cannot shift it."""
    repo = gh.add_real("commitizen__cz-cli", hidden=50)
    before = repo.visible_shas()
    source = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock, max_requests=30),
                          with_files=True)
    got: list[str] = []
    with pytest.raises(BudgetExhausted):
        for batch in source.batches(None):
            got += [r["sha"] for r in batch.records]
    cursor = source.next_cursor()
    assert cursor is not None and cursor.resume is not None and len(got) == 29
    pushed = repo.push()
    resumed = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock), with_files=True)
    got += [r["sha"] for r in drain(resumed, cursor)]
    assert got == before  # the old head's history, each commit once, none skipped
    then = GitHubSource("github:commitizen/cz-cli", GitHubClient(gh.url, None, clock=clock))
    assert sorted(r["sha"] for r in drain(then, resumed.next_cursor())) == sorted(pushed)
