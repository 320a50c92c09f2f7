"""Structured logs for two audiences: JSON lines for machines, human lines for a person at a terminal.

JSON lines carry `ts`, `level`, `run_id`, `stage`, `event`; Alloy collects them into Loki in Kubernetes, so every
field name here is a contract with the Grafana dashboards. On a terminal (format `auto`), or with `--log-format
human`, the same records are printed as `time level stage message` lines through rich, and the progress bars
(commitlake.progress) share that console so a bar never collides with a line.

Everything else that would print (third-party loggers, Python warnings, a library's own print()) is turned into
records here too, so the chosen format holds from the first line to the last.
"""

from __future__ import annotations

import contextvars
import io
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "LOG_FORMATS",
    "bind",
    "capture_output",
    "configuration",
    "configure",
    "console",
    "current_run_id",
    "current_stage",
    "get_logger",
    "log",
    "resolve_format",
]

#: `auto`: human lines on a terminal, JSON lines anywhere else (a file, a pipe, a container's log).
LOG_FORMATS = ("auto", "human", "json")
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)
_config: dict[str, Any] = {"level": 20, "stream": None, "format": "json"}
_lock = threading.RLock()
_consoles: dict[int, Console] = {}
_SECRET_KEYS = ("token", "password", "secret", "authorization")
_LEVEL_STYLE = {"debug": "dim", "info": "green", "warning": "yellow", "error": "bold red"}
#: Fields a human line leaves out: the run id is the same on every line and `logger` is for machines.
_HUMAN_HIDDEN = ("ts", "level", "run_id", "stage", "event", "logger")


#: Libraries that print INFO chatter of their own; commitlake reports what matters as its own records instead.
_NOISY_LIBRARIES = ("great_expectations", "mlflow", "alembic", "urllib3", "botocore", "httpx", "dbt", "skops")


class _Handler(logging.Handler):
    """Every stdlib log record becomes one of our records; a library's INFO chatter only at DEBUG."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not break the run
            message = str(record.msg)
        if record.levelno >= logging.ERROR:
            level = "ERROR"
        elif record.levelno >= logging.WARNING:
            level = "WARNING"
        else:
            level = "DEBUG"
        log(level, "library.log", logger=record.name, message=message[:2000])


def _showwarning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: IO[str] | None = None, line: str | None = None) -> None:
    """warnings.showwarning: a Python warning becomes a `python.warning` record, not a stderr block."""
    log("WARNING", "python.warning", category=category.__name__, message=str(message)[:500],
        where=f"{filename}:{lineno}")


_handler = _Handler()


def resolve_format(fmt: str, stream: IO[str]) -> str:
    """`auto` becomes `human` on a terminal and `json` elsewhere; anything else is taken as given."""
    if fmt == "auto":
        return "human" if _isatty(stream) else "json"
    return fmt


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure(level: str = "INFO", stream: IO[str] | None = None, fmt: str = "json") -> None:
    """Set level, stream (None: whatever sys.stdout is at each line) and format; route stdlib logging here."""
    _config["level"] = _LEVELS.get(level.upper(), 20)
    _config["stream"] = stream
    _config["format"] = fmt
    library_level = logging.DEBUG if _config["level"] <= 10 else logging.WARNING
    # MLflow installs a stderr handler of its own when first imported (after this runs); this keeps it from
    # doing so, and its records come here like every other library's.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    for name in _NOISY_LIBRARIES:
        library = logging.getLogger(name)
        library.setLevel(library_level)
        # Libraries that install their own stream handler (GX, MLflow) would print outside the format.
        for handler in list(library.handlers):
            if _prints(handler):
                library.removeHandler(handler)
        library.propagate = True
    root = logging.getLogger()
    for handler in list(root.handlers):
        if _prints(handler):
            root.removeHandler(handler)
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(library_level)
    warnings.showwarning = _showwarning


def configuration() -> tuple[str, str, str]:
    """(level, stream, format) that `configure` takes to set up a child process as this one is: the stream is
    `stderr` when the log goes to this process's stderr, else `stdout` (the child inherits both)."""
    level = next((name for name, number in _LEVELS.items() if number == _config["level"]), "INFO")
    return level, "stderr" if _config["stream"] is sys.__stderr__ else "stdout", str(_config["format"])


def _prints(handler: logging.Handler) -> bool:
    """A handler that prints to a terminal stream (basicConfig's, a library's own); files and captures stay."""
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    return not hasattr(handler.stream, "getvalue")  # an in-memory capture (pytest's) is not printing


def _stream() -> IO[str]:
    stream: IO[str] = _config["stream"] or sys.stdout
    return stream


def console(stream: IO[str] | None = None) -> Console:
    """The one rich console writing to `stream` (default: the log stream); progress bars draw on it too."""
    from rich.console import Console

    target = stream or _stream()
    with _lock:
        found = _consoles.get(id(target))
        if found is None or found.file is not target:
            found = Console(file=target, highlight=False, soft_wrap=True, log_path=False)
            _consoles[id(target)] = found
        return found


def current_run_id() -> str | None:
    return _run_id.get()


def current_stage() -> str | None:
    return _stage.get()


@contextmanager
def bind(*, run_id: str | None = None, stage: str | None = None) -> Iterator[None]:
    """Attach run id and stage to every line logged inside the block (threads copy the context)."""
    tokens = []
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    if stage is not None:
        tokens.append((_stage, _stage.set(stage)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _redact(key: str, value: Any) -> Any:
    if any(marker in key.lower() for marker in _SECRET_KEYS) and value:
        return "***"
    return value


def _seconds(record: dict[str, Any]) -> str:
    value = record.get("duration_s")
    return f" in {value:.1f} s" if isinstance(value, int | float) else ""


def _headline(record: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The message a person reads for an event, and the fields it already says (not repeated as key=value)."""
    event = record["event"]
    if event in ("library.log", "library.output"):
        return str(record.get("message", "")), ("message", "stream")
    if event == "stage.started":
        return "started", ()
    if event == "stage.finished":
        detail = record.get("summary") or record.get("error") or ""
        return (f"{record.get('status', 'finished')}{_seconds(record)}" + (f": {detail}" if detail else ""),
                ("status", "duration_s", "summary", "error", "rows"))
    if event == "run.started":
        return "run started: " + ", ".join(map(str, record.get("stages") or [])), ("stages",)
    if event == "run.finished":
        return f"run {record.get('status', 'finished')}{_seconds(record)}", ("status", "duration_s")
    return event, ()


def _human(record: dict[str, Any]) -> Any:
    """`15:02:11 INFO    ingest    ingest.repo_finished repo=octo/cat records=396` as rich Text."""
    from rich.text import Text

    level = record["level"]
    headline, said = _headline(record)
    text = Text()
    text.append(record["ts"][11:19], style="dim")
    text.append(f" {level.upper():<7} ", style=_LEVEL_STYLE.get(level, ""))
    text.append(f"{record['stage'] or '-':<9} ", style="cyan")
    text.append(headline, style="bold" if level in ("warning", "error") else "")
    for key, value in record.items():
        if key in _HUMAN_HIDDEN or key in said:
            continue
        shown = orjson.dumps(value, default=str).decode() if isinstance(value, dict | list) else value
        text.append(f" {key}=", style="dim")
        text.append(str(shown))
    return text


def log(level: str, event: str, **fields: Any) -> None:
    if _LEVELS[level] < _config["level"]:
        return
    record: dict[str, Any] = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "level": level.lower(),
        "run_id": _run_id.get(),
        "stage": _stage.get(),
        "event": event,
    }
    for key, value in fields.items():
        record[key] = _redact(key, value)
    stream = _stream()
    fmt = resolve_format(_config["format"], stream)
    with _lock:
        if fmt == "human":
            console(stream).print(_human(record))
        elif _isatty(stream):  # JSON on a terminal: through the console, so a live progress bar moves down
            console(stream).print(orjson.dumps(record, default=str).decode(), markup=False, emoji=False)
        else:
            stream.write(orjson.dumps(record, default=str).decode() + "\n")
            stream.flush()


class _LineWriter(io.TextIOBase):
    """A file-like that turns each line a library prints into a `library.output` record."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._buffer = ""
        self._local = threading.local()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if getattr(self._local, "busy", False):  # a record being written must never loop back here
            return len(text)
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        pass

    def drain(self) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._emit(line)

    def _emit(self, line: str) -> None:
        text = line.rstrip()
        if not text.strip():
            return
        self._local.busy = True
        try:
            log("INFO", "library.output", stream=self.name, message=text[:2000])
        finally:
            self._local.busy = False


@contextmanager
def capture_output() -> Iterator[None]:
    """Inside the block, whatever a library prints to sys.stdout/sys.stderr becomes a log record.

    The log stream is pinned to the real stream first, so our own records are written where they belong.
    """
    pinned = _config["stream"]
    real_out, real_err = sys.stdout, sys.stderr
    _config["stream"] = pinned or real_out
    out, err = _LineWriter("stdout"), _LineWriter("stderr")
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdout, sys.stderr = real_out, real_err
        out.drain()
        err.drain()
        _config["stream"] = pinned


class _Logger:
    """A tiny facade so modules write `logger.info("event", rows=3)`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, event: str, **fields: Any) -> None:
        log("DEBUG", event, logger=self.name, **fields)

    def info(self, event: str, **fields: Any) -> None:
        log("INFO", event, logger=self.name, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        log("WARNING", event, logger=self.name, **fields)

    def error(self, event: str, **fields: Any) -> None:
        log("ERROR", event, logger=self.name, **fields)


def get_logger(name: str) -> _Logger:
    return _Logger(name)
