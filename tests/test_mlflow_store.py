"""The embedded MLflow store survives a kill at any point of its creation (issue 15, found by `make chaos`).

MLflow migrates a new sqlite store in place; a process killed part-way left `_alembic_tmp_*` tables and every
rerun of train exited 75. `ensure_store` builds the store in a temporary file and renames it into place, so
these tests kill the builder (at a fault point, and with a real SIGKILL while alembic is migrating) and check
the real path is never half-built and the next process completes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from commitlake.faults import FAULT_ENV, FAULT_EXIT_CODE
from commitlake.ml._store import ensure_store, sqlite_store_path, store_revision

_BUILD = "import sys; from commitlake.ml._store import ensure_store; ensure_store(sys.argv[1])"


def _builder(uri: str, fault: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen([sys.executable, "-c", _BUILD, uri], env=env, stderr=subprocess.PIPE)


def _building_size(db: Path) -> int:
    """Bytes in the temporary store being built; its sqlite journal comes and goes, so it is not counted."""
    size = 0
    for path in db.parent.glob(f"{db.name}.building-*") if db.parent.is_dir() else []:
        if path.name.endswith(("-journal", "-wal", "-shm")):
            continue
        try:
            size += path.stat().st_size
        except FileNotFoundError:  # renamed into place between the glob and the stat
            continue
    return size


def _head() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


def _usable(uri: str) -> None:
    """MLflow itself opens the store and writes to it (an experiment), as train does."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment(f"after-kill-{time.time_ns()}")
    assert client.search_experiments()


def test_store_path_of_tracking_uris(tmp_path: Path) -> None:
    assert sqlite_store_path(f"sqlite:///{tmp_path}/m.db") == tmp_path / "m.db"
    assert sqlite_store_path("sqlite:///rel/m.db") == Path("rel/m.db")
    for other in ("http://mlflow:5000", "postgresql://h/db", "sqlite:///:memory:", "sqlite://"):
        assert sqlite_store_path(other) is None


def test_killed_before_the_rename_leaves_no_store_and_the_rerun_builds_it(tmp_path: Path) -> None:
    db = tmp_path / "mlflow" / "mlflow.db"
    uri = f"sqlite:///{db}"
    killed = _builder(uri, fault="mlflow.store_before_rename")
    assert killed.wait(300) == FAULT_EXIT_CODE, killed.stderr.read() if killed.stderr else ""
    assert not db.exists(), "a store not yet renamed into place must not be visible"
    assert list(db.parent.glob("mlflow.db.building-*")), "the kill left its temporary build behind"

    ensure_store(uri)
    assert store_revision(db) == _head()
    assert not list(db.parent.glob("mlflow.db.building-*")), "the stale temporary build was removed"
    _usable(uri)


def test_sigkill_while_alembic_migrates_then_rerun(tmp_path: Path) -> None:
    db = tmp_path / "mlflow" / "mlflow.db"
    uri = f"sqlite:///{db}"
    proc = _builder(uri)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # alembic has started writing tables
        if _building_size(db) > 100_000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the builder finished before it could be killed mid-migration"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(30) == -signal.SIGKILL
    assert not db.exists() or store_revision(db) == _head(), "the real path is absent or complete, never half-built"

    ensure_store(uri)
    assert store_revision(db) == _head()
    _usable(uri)


def test_a_complete_store_is_left_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    ensure_store(uri)
    _usable(uri)
    before = (db.stat().st_ino, db.stat().st_mtime_ns)
    ensure_store(uri)
    assert (db.stat().st_ino, db.stat().st_mtime_ns) == before


def test_a_tracking_server_nobody_listens_on_fails_at_once_as_transient() -> None:
    """MLflow's own client backs off for minutes on a refused connection; commitlake says so in one line."""
    import socket

    import pytest

    from commitlake.errors import EXIT_TRANSIENT, HostUnreachable, exit_code
    from commitlake.ml._registry import use_tracking

    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as raised:
        use_tracking(f"http://ci:s3cret@127.0.0.1:{port}")
    assert time.monotonic() - started < 5
    assert str(raised.value) == (f"MLflow tracking server http://ci:***@127.0.0.1:{port} is unreachable: connection "
                                 "refused; check MLFLOW_TRACKING_URI")
    assert exit_code(raised.value) == EXIT_TRANSIENT
