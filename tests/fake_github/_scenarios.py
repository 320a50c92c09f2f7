"""Histories shaped like the bugs they test: found in the real graphs, not invented."""

from __future__ import annotations

from fake_github._server import FakeRepo

__all__ = ["merge_of_an_old_branch"]


def merge_of_an_old_branch(repo: FakeRepo) -> tuple[int, int]:
    """(merge, first parent) history indices of the newest merge whose branch brings at least
    ten commits dated over an hour before everything the first parent already had (the bug's shape)."""
    history = repo.history
    repo.set_head("main", history.sha(0))  # graph mode: reachability through parents
    for index in range(len(history)):
        parents = history.parents(index)
        if len(parents) != 2:
            continue
        first = history.index_of(parents[0])
        before = set(repo.reachable(first))
        newest_before = max(history.committed_epoch(i) for i in before)
        brought = set(repo.reachable(index)) - before
        if sum(history.committed_epoch(i) < newest_before - 3600 for i in brought) >= 10:
            return index, first
    raise AssertionError("no such merge in the history")
