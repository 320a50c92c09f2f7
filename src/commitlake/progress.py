"""Progress bars on stderr, only when it is a terminal: logs stay clean JSON lines on stdout."""

from __future__ import annotations

import sys
import threading
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A thread-safe counter that draws a tqdm bar when enabled and stderr is a TTY."""

    def __init__(self, label: str, *, unit: str, total: int | None = None, enabled: bool = True) -> None:
        self._bar: Any = None
        self._lock = threading.Lock()
        self.count = 0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=unit, unit_scale=True, file=sys.stderr, leave=False)

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.count += n
            if self._bar is not None:
                self._bar.update(n)

    def note(self, text: str) -> None:
        """Show a short status (e.g. a rate-limit wait) next to the bar."""
        if self._bar is not None:
            with self._lock:
                self._bar.set_postfix_str(text)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
