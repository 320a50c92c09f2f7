"""A fake GitHub for commitlake's tests and benchmarks: real HTTP, real histories, injected faults.

    with FakeGitHub(clock=FakeClock(), faults=FaultPlan(rate=0.1)) as gh:
        gh.add_real("pallets__click")
        ...  # point GitHubClient(gh.url, ...) at it, then assert on gh.log / gh.requests(...)

Not part of the product: it lives under tests/ and reads ../shared/data (histories and replayed exchanges).
"""

from fake_github._clock import FakeClock
from fake_github._faults import ALL_FAULTS, FaultPlan
from fake_github._histories import COMMITS_DIR, CycledHistory, LoadedHistory, load_history
from fake_github._replay import REPLAY_DIR, load_replay
from fake_github._scenarios import merge_of_an_old_branch
from fake_github._server import FakeGitHub, FakeRepo, LoggedRequest

__all__ = [
    "ALL_FAULTS",
    "COMMITS_DIR",
    "REPLAY_DIR",
    "CycledHistory",
    "FakeClock",
    "FakeGitHub",
    "FakeRepo",
    "FaultPlan",
    "LoadedHistory",
    "LoggedRequest",
    "load_history",
    "load_replay",
    "merge_of_an_old_branch",
]
