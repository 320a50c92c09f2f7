"""Connections to the warehouse in use: the embedded server by default, DATABASE_URL when set."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import psycopg

from commitlake.config import Settings
from commitlake.errors import WarehouseError
from commitlake.logs import get_logger
from commitlake.warehouse.embedded import EmbeddedPostgres
from commitlake.warehouse.locks import Lock

__all__ = ["Warehouse", "connect", "ensure_predictions_table", "ensure_schema", "open_warehouse", "redact_url"]

_log = get_logger("warehouse")


def redact_url(url: str) -> str:
    """The URL with its password replaced, for messages and logs: in the user part (also of a URL that lost the
    colon of its `scheme://`) and as a `password=` query parameter."""
    url = re.sub(r"(^|[/@])([^:/@]*):[^@/]*@", r"\1\2:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)


def connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, connect_timeout=10, **kwargs)
    except psycopg.OperationalError as exc:
        raise WarehouseError(f"cannot connect to the warehouse at {redact_url(url)}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """libpq's cause in a few words ('connection refused', 'cannot resolve db.example'), not its hint lines."""
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    unresolved = re.search(r"failed to resolve host '([^']+)'", first)
    if unresolved:
        return f"cannot resolve {unresolved.group(1)}; check the host in DATABASE_URL"
    cause = first.rsplit("failed: ", 1)[-1]
    cause = cause[:1].lower() + cause[1:]
    if "refused" in cause:
        return f"{cause}; is PostgreSQL running there? check DATABASE_URL"
    return cause


#: pg_advisory_lock key held while the schema is created or migrated: concurrent stages (fan-out pods) wait.
SCHEMA_LOCK = int(Lock.SCHEMA)
#: commitlake's DDL, in the order it runs: raw and ops, then the predictions table the predict stage writes.
SCHEMA_FILES = ("schema.sql", "predictions.sql")


def _sql(name: str) -> str:
    return resources.files("commitlake.warehouse").joinpath("sql", name).read_text()


def ensure_predictions_table(conn: psycopg.Connection[Any]) -> None:
    """Create analytics.commit_type_predictions and ops.model_drift if missing, in the caller's transaction
    (predict runs it so a database that never saw ensure_schema can still be scored)."""
    conn.execute(_sql("predictions.sql"))


def ensure_schema(url: str) -> None:
    """Create schemas, raw/ops tables and the role matrix; idempotent and cheap, so every stage runs it."""
    with connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", [SCHEMA_LOCK])
        try:
            for name in SCHEMA_FILES:
                conn.execute(_sql(name))
            try:
                from commitlake.warehouse.roles import ensure_roles
            except ImportError:  # pragma: no cover - roles module is optional during bootstrap
                return
            ensure_roles(conn)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", [SCHEMA_LOCK])


class Warehouse:
    """The warehouse a command works against; stops the embedded server on close if it started it."""

    def __init__(self, settings: Settings, *, keep_running: bool = False) -> None:
        self.settings = settings
        self.embedded = EmbeddedPostgres(settings.home / "postgres") if settings.embedded_database else None
        self.keep_running = keep_running
        self._started = False
        self.url = ""

    def open(self) -> Warehouse:
        if self.embedded is not None:
            self._started = self.embedded.ensure_running()
            self.url = self.embedded.url()
        else:
            assert self.settings.database_url is not None
            self.url = self.settings.database_url
        ensure_schema(self.url)
        return self

    def close(self) -> None:
        if self.embedded is not None and self._started and not self.keep_running:
            self.embedded.stop()

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return connect(self.url, **kwargs)


@contextlib.contextmanager
def open_warehouse(settings: Settings, *, keep_running: bool = False) -> Iterator[Warehouse]:
    warehouse = Warehouse(settings, keep_running=keep_running)
    try:
        yield warehouse.open()
    finally:
        warehouse.close()
