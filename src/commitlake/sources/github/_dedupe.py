"""De-duplication by sha within a run, in bounded memory.

A list walk repeats commits when someone pushes while we page: every item shifts down and reappears at the
top of the next page. A shift is at most the number of commits pushed during the walk, so remembering the
most recent N shas catches every repeat a real walk produces while memory stays flat for a history of any
size. Anything older than the window is still de-duplicated downstream by the warehouse's primary key.
"""

from __future__ import annotations

from collections import deque

__all__ = ["DEFAULT_DEDUPE_WINDOW", "RecentShas"]

DEFAULT_DEDUPE_WINDOW = 50_000


class RecentShas:
    def __init__(self, window: int = DEFAULT_DEDUPE_WINDOW) -> None:
        self.window = window
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def add(self, sha: str) -> bool:
        """Remember `sha`; False when it was already seen (a duplicate)."""
        if sha in self._seen:
            return False
        self._seen.add(sha)
        self._order.append(sha)
        if len(self._order) > self.window:
            self._seen.discard(self._order.popleft())
        return True
