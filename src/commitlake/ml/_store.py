"""The embedded MLflow store (a local sqlite file): created and migrated in one step a kill cannot split.

MLflow creates a missing sqlite store by running its ~50 alembic migrations in place, and sqlite DDL there is
not transactional: a process killed part-way leaves a store with `_alembic_tmp_*` tables that every later
process refuses to open (found by `make chaos`: each rerun exited 75 forever). So the store is built in a
temporary file beside it, under a file lock, and renamed into place only once it is at the head revision:
the real path is either absent, as before, or complete. A kill at any point leaves at most a stale temporary
file, which the next process removes. Tracking servers and other databases are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from commitlake.faults import fault_point
from commitlake.logs import get_logger

__all__ = ["ensure_store", "sqlite_store_path", "store_revision"]

_TMP_INFIX = ".building-"
_log = get_logger("commitlake.ml")


def sqlite_store_path(tracking_uri: str) -> Path | None:
    """The database file of a `sqlite:///…` tracking URI, else None (memory databases included)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = unquote(urlparse(tracking_uri).path).removeprefix("/")  # sqlite:///rel.db, sqlite:////abs.db
    return None if path in ("", ":memory:") else Path(path)


def store_revision(path: Path) -> str | None:
    """The alembic revision of a store file, None when it has none or a migration left work tables behind."""
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
            if "alembic_version" not in tables or any(t.startswith("_alembic_tmp_") for t in tables):
                return None
            row = conn.execute("select version_num from alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the store; the kernel drops it with a killed process."""
    with open(path.with_name(path.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(path: Path, tmp: Path) -> None:
    """Copy the current store (if any) into `tmp` and bring the copy to the head revision."""
    from mlflow.store.db.utils import _all_tables_exist, _initialize_tables, _upgrade_db, create_sqlalchemy_engine

    if path.is_file():  # the backup API rolls a hot journal back first, so the copy is consistent
        with contextlib.closing(sqlite3.connect(path)) as src, contextlib.closing(sqlite3.connect(tmp)) as dst:
            src.backup(dst)
    engine = create_sqlalchemy_engine(f"sqlite:///{tmp}")
    try:
        if _all_tables_exist(engine):
            _upgrade_db(engine)
        else:
            _initialize_tables(engine)
    finally:
        engine.dispose()
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())


def ensure_store(tracking_uri: str) -> None:
    """Make an embedded sqlite store exist at MLflow's head revision before MLflow opens it; else do nothing."""
    path = sqlite_store_path(tracking_uri)
    if path is None:
        return
    from mlflow.store.db.utils import _get_latest_schema_revision

    head = _get_latest_schema_revision()
    if store_revision(path) == head:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        if store_revision(path) == head:  # built by another process while this one waited
            return
        for stale in path.parent.glob(f"{path.name}{_TMP_INFIX}*"):  # left by a killed builder
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f"{path.name}{_TMP_INFIX}{os.getpid()}")
        try:
            _build(path, tmp)
            fault_point("mlflow.store_before_rename")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):  # belonged to the file just replaced
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    _log.info("mlflow_store_ready", path=str(path), revision=head)
