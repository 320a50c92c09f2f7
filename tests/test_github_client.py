"""GitHubClient against the fake server: retries, rate limits, budget, errors, secrecy. No real sleeping."""

from __future__ import annotations

import random

import httpx
import pytest

from commitlake.errors import EXIT_TRANSIENT, AuthError, BudgetExhausted, SourceError, exit_code
from commitlake.sources.github import GitHubClient, GitHubSource
from fake_github import FakeClock, FakeGitHub

TOKEN = "ghp_s3cretTOKENvalue"
REPO = "pallets/click"
LIST = f"repos/{REPO}/commits"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gh(clock: FakeClock):
    with FakeGitHub(clock=clock, token=TOKEN) as fake:
        fake.add_real("pallets__click")
        yield fake


def client_for(gh: FakeGitHub, clock: FakeClock, **kwargs) -> GitHubClient:
    waits: list[tuple[float, str]] = kwargs.pop("waits", [])
    return GitHubClient(gh.url, kwargs.pop("token", TOKEN), clock=clock, rng=random.Random(1),
                        on_wait=lambda s, r: waits.append((s, r)), **kwargs)


@pytest.mark.parametrize("fault", ["502", "503", "truncated", "cut", "drop", "slow"])
def test_transient_faults_are_retried_with_growing_jittered_backoff(gh: FakeGitHub, clock: FakeClock, fault: str):
    expected_retries = 0 if fault == "slow" else 3  # a slow answer within the timeout is just an answer
    gh.faults.script(fault, times=max(1, expected_retries))
    waits: list[tuple[float, str]] = []
    client = client_for(gh, clock, waits=waits)
    page = client.get(client.url(LIST), params={"per_page": 100})
    assert page.status == 200 and len(page.data) == 100
    assert client.stats.retries == expected_retries
    assert client.stats.requests == len(gh.log) == expected_retries + 1
    assert [r.fault for r in gh.log] == [fault] * max(1, expected_retries) + ([None] if expected_retries else [])
    if expected_retries:
        delays = [s for s, _ in waits]
        assert len(delays) == 3
        for attempt, delay in enumerate(delays, start=1):  # equal jitter: in [cap/2, cap], cap = 2^(n-1)
            assert 2 ** (attempt - 1) / 2 <= delay <= 2 ** (attempt - 1)
        assert clock.sleeps == delays  # waited through the injected clock, not time.sleep


def test_slow_answer_beyond_timeout_is_retried(gh: FakeGitHub, clock: FakeClock):
    gh.faults.slow_seconds = 0.5
    gh.faults.script("slow")
    client = client_for(gh, clock, timeout=0.2)
    assert client.get(client.url(LIST)).status == 200
    assert client.stats.retries == 1


def test_gives_up_after_max_retries(gh: FakeGitHub, clock: FakeClock):
    gh.faults.script("503", times=10)
    client = client_for(gh, clock, max_retries=2)
    with pytest.raises(SourceError, match="gave up after 3 attempts: HTTP 503") as raised:
        client.get(client.url(LIST))
    assert len(gh.log) == 3
    assert exit_code(raised.value) == EXIT_TRANSIENT  # the server kept failing, not the source: a later run may pass


def test_primary_limit_waits_until_reset_and_never_retries_early(gh: FakeGitHub, clock: FakeClock):
    gh.faults.primary_reset = 1800
    gh.faults.script("primary")
    waits: list[tuple[float, str]] = []
    client = client_for(gh, clock, waits=waits)
    start = clock.now()
    assert client.get(client.url(LIST)).status == 200
    assert [r.status for r in gh.log] == [403, 200]
    assert not [r for r in gh.log if r.fault == "premature"]  # no retry before the reset
    assert gh.log[1].at >= start + 1800
    assert len(waits) == 1 and "x-ratelimit-reset" in waits[0][1]
    assert client.stats.wait_seconds == pytest.approx(waits[0][0])


def test_quota_exhausted_by_a_success_pauses_every_later_request(clock: FakeClock):
    with FakeGitHub(clock=clock, token=TOKEN, rate_limit=5) as gh:
        gh.add_real("pallets__click")
        client = client_for(gh, clock)
        source = GitHubSource(f"github:{REPO}", client)
        records = sum(len(b.records) for b in source.batches(None))
    assert records == 3329
    assert not [r for r in gh.log if r.fault == "premature"]  # the client never asked while exhausted
    assert all(r.status == 200 for r in gh.log) and len(gh.log) == 34
    assert client.stats.wait_seconds >= 6 * 3600  # 34 requests at 5 per hour: six resets waited for


@pytest.mark.parametrize(("fault", "least"), [("secondary", 20), ("429", 20), ("secondary_bare", 60)])
def test_secondary_limits_honour_retry_after_or_wait_a_minute(gh: FakeGitHub, clock: FakeClock, fault, least):
    gh.faults.script(fault)
    waits: list[tuple[float, str]] = []
    client = client_for(gh, clock, waits=waits)
    assert client.get(client.url(LIST)).status == 200
    assert [r.status for r in gh.log][-1] == 200 and len(gh.log) == 2
    assert waits[0][0] >= least and "secondary" in waits[0][1]


def test_repeated_bare_secondary_limits_back_off_exponentially(gh: FakeGitHub, clock: FakeClock):
    gh.faults.script("secondary_bare", times=3)
    waits: list[tuple[float, str]] = []
    client = client_for(gh, clock, waits=waits)
    assert client.get(client.url(LIST)).status == 200
    assert [round(s) for s, _ in waits] == [60, 120, 240]


def test_bad_token_stops_with_auth_error_and_never_leaks_it(gh: FakeGitHub, clock: FakeClock, capsys):
    client = client_for(gh, clock, token="ghp_WRONGtoken")
    with pytest.raises(AuthError, match="401: Bad credentials") as excinfo:
        client.get(client.url(LIST))
    assert "ghp_WRONGtoken" not in str(excinfo.value) and "ghp_WRONGtoken" not in repr(client)
    assert "ghp_WRONGtoken" not in capsys.readouterr().out


def test_token_is_sent_as_bearer_and_never_to_another_origin(gh: FakeGitHub, clock: FakeClock):
    client = client_for(gh, clock)
    client.get(client.url(LIST))
    assert gh.log[0].authorization == f"Bearer {TOKEN}"
    with pytest.raises(SourceError, match="refusing to follow"):
        client.get("http://127.0.0.2:1/steal")


def test_budget_is_shared_and_exact(gh: FakeGitHub, clock: FakeClock):
    client = client_for(gh, clock, max_requests=5)
    source = GitHubSource(f"github:{REPO}", client)
    got = 0
    with pytest.raises(BudgetExhausted, match=r"budget reached: about 2900 commits left.*budget of 5"):
        for batch in source.batches(None):
            got += len(batch.records)
    assert got == 500 and len(gh.log) == 5 and client.stats.requests == 5


def test_injected_transport_is_used():
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=[{"sha": "a" * 40}])

    client = GitHubClient("https://ghe.example/api/v3", None, transport=httpx.MockTransport(handler))
    page = client.get(client.url("repos/o/r/commits"), params={"per_page": 100})
    assert page.data == [{"sha": "a" * 40}]
    assert seen == ["https://ghe.example/api/v3/repos/o/r/commits?per_page=100"]
