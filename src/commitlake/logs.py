"""Structured logs: one JSON object per line on stdout, with `ts`, `level`, `run_id`, `stage`, `event`.

The same lines are what Alloy collects into Loki in Kubernetes, so every field name here is a contract with
the Grafana dashboards. Progress bars go to stderr and only when it is a terminal.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import orjson

__all__ = ["bind", "configure", "current_run_id", "current_stage", "get_logger", "log"]

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("run_id", default=None)
_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)
_config: dict[str, Any] = {"level": 20, "stream": None, "format": "json"}
_lock = threading.Lock()
_SECRET_KEYS = ("token", "password", "secret", "authorization")


#: Libraries that print INFO chatter of their own; commitlake reports what matters as JSON lines instead.
_NOISY_LIBRARIES = ("great_expectations", "mlflow", "alembic", "urllib3", "botocore", "httpx", "dbt", "skops")


def configure(level: str = "INFO", stream: IO[str] | None = None, fmt: str = "json") -> None:
    _config["level"] = _LEVELS.get(level.upper(), 20)
    _config["stream"] = stream
    _config["format"] = fmt
    library_level = logging.DEBUG if _config["level"] <= 10 else logging.WARNING
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(library_level)


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
    line = orjson.dumps(record, default=str).decode()
    stream = _config["stream"] or sys.stdout
    with _lock:
        stream.write(line + "\n")
        stream.flush()


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
