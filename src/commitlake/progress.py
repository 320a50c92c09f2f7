"""Progress bars for long steps, drawn by rich only on a terminal, on the same console as the log lines.

Every bar of a process lives in one rich Progress display (started with the first bar, stopped with the
last), so lines logged meanwhile print above the bars instead of through them. Off a terminal nothing is drawn:
the JSON lines stay the only output. The counter works either way, so stages can report totals from it.
"""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from commitlake import logs

__all__ = ["Progress", "progress_stream"]

_display_lock = threading.Lock()
_display: dict[str, Any] = {"progress": None, "tasks": 0}


def progress_stream() -> IO[str] | None:
    """Where bars go: the log stream when it is a terminal, else stderr when that is; None means no bars."""
    for stream in (logs._stream(), sys.stderr):
        if logs._isatty(stream):
            return stream
    return None


def _shared_display(stream: IO[str]) -> Any:
    from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    with _display_lock:
        if _display["progress"] is None:
            display = RichProgress(
                SpinnerColumn(),
                TextColumn("[bold cyan]{task.description:<9}"),
                BarColumn(),
                TextColumn("{task.fields[counter]}"),
                TimeElapsedColumn(),
                TextColumn("[dim]{task.fields[note]}"),
                console=logs.console(stream),
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            display.start()
            _display["progress"] = display
        _display["tasks"] += 1
        return _display["progress"]


def _release_display() -> None:
    with _display_lock:
        _display["tasks"] -= 1
        if _display["tasks"] <= 0 and _display["progress"] is not None:
            _display["progress"].stop()
            _display["progress"] = None
            _display["tasks"] = 0


class Progress:
    """A thread-safe counter that also draws a rich bar when enabled and a terminal is attached."""

    def __init__(self, label: str, *, unit: str, total: int | None = None, enabled: bool = True) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.total = total
        self.unit = unit
        self._display: Any = None
        self._task: Any = None
        stream = progress_stream() if enabled else None
        if stream is not None:
            self._display = _shared_display(stream)
            self._task = self._display.add_task(label, total=total, counter=self._counter(), note="")

    def _counter(self) -> str:
        """`12/96 dbt nodes`, `3,862 commits`, or nothing for a step that has no unit (a spinner and a clock)."""
        if not self.unit:
            return ""
        if self.total is None:
            return f"{self.count:,} {self.unit}"
        return f"{self.count:,}/{self.total:,} {self.unit}"

    @property
    def drawn(self) -> bool:
        return self._display is not None

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.count += n
            if self._display is not None:
                self._display.update(self._task, completed=self.count, counter=self._counter())

    def set_total(self, total: int | None) -> None:
        """The total once it is known (e.g. when the object list has been read)."""
        with self._lock:
            self.total = total
            if self._display is not None:
                self._display.update(self._task, total=total, counter=self._counter())

    def note(self, text: str) -> None:
        """Show a short status (e.g. a rate-limit wait or the current model) next to the bar."""
        if self._display is not None:
            with self._lock:
                self._display.update(self._task, note=text[:60])

    def close(self) -> None:
        with self._lock:
            display, self._display = self._display, None
        if display is not None:
            display.remove_task(self._task)
            _release_display()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
