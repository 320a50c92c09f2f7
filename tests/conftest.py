"""Test session fixtures: one real PostgreSQL server for the whole session.

Unless COMMITLAKE_TEST_DATABASE_URL is already set, the session starts commitlake's own embedded server in
a temporary directory (as root it runs as the `commitlake-pg` system user, exactly as `make run` does, its
files under /var/lib/commitlake-pg since that user cannot enter the 0700 temporary directory) and exports
its superuser URL there, so every test module finds a real server the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci_strict import pytest_runtest_makereport  # noqa: F401  (CI: a skip for want of ../shared fails)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
COMMITS = SHARED / "data" / "commits"

os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

_session_server = None
_session_dir: str | None = None
_server_dirs_before: set[Path] = set()
_basetemps: list[Path] = []


def _server_dirs() -> set[Path]:
    """The embedded servers' directories outside their homes (root runs them as commitlake-pg, see embedded.py)."""
    from commitlake.warehouse.embedded import SERVICE_HOME

    return set(SERVICE_HOME.iterdir()) if SERVICE_HOME.is_dir() else set()


def _stopped(server_dir: Path) -> bool:
    pid_file = server_dir / "data" / "postmaster.pid"
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return True
    return False


def _orphaned(server_dir: Path) -> bool:
    """Stopped, and its home is gone or one of this session's tmp_path dirs. Not just "stopped": a benchmark or
    `make chaos` running beside the tests has its server stopped mid-initdb or while it restarts it, and must
    not lose it to this clean-up (it did: a 1M benchmark's initdb failed on files removed under it)."""
    from commitlake.warehouse.embedded import OWNER_FILE

    try:
        home = Path((server_dir / OWNER_FILE).read_text().strip())
    except OSError:
        return False
    throwaway = not home.exists() or any(home.is_relative_to(base) for base in _basetemps)
    return throwaway and _stopped(server_dir)


def _remove_test_server_dirs() -> None:
    """Tests run `commitlake` on throwaway homes; as root each one's database lands in /var/lib/commitlake-pg and
    outlives the deleted home (~40 GB after a few days of runs). Remove those this session created, stopped,
    whose home is gone."""
    for server_dir in _server_dirs() - _server_dirs_before:
        if _orphaned(server_dir):
            shutil.rmtree(server_dir, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    global _session_server, _session_dir, _server_dirs_before
    _server_dirs_before = _server_dirs()
    if os.environ.get("COMMITLAKE_TEST_DATABASE_URL"):
        return
    from commitlake.warehouse.embedded import EmbeddedPostgres

    _session_dir = tempfile.mkdtemp(prefix="commitlake-test-pg-")
    _session_server = EmbeddedPostgres(Path(_session_dir) / "postgres")
    _session_server.ensure_running()
    os.environ["COMMITLAKE_TEST_DATABASE_URL"] = _session_server.url("postgres", "postgres")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _session_server is not None:
        _session_server.destroy()
    if _session_dir is not None:
        shutil.rmtree(_session_dir, ignore_errors=True)
    _remove_test_server_dirs()


@pytest.fixture(scope="session", autouse=True)
def _note_basetemp(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Homes under this session's tmp_path dirs are throwaway: their servers are cleaned up at the end."""
    _basetemps.append(tmp_path_factory.getbasetemp().resolve())


@pytest.fixture(scope="session")
def admin_url() -> str:
    """Superuser URL of the session's server (database `postgres`)."""
    return os.environ["COMMITLAKE_TEST_DATABASE_URL"]


@pytest.fixture(scope="module")
def private_cluster() -> Iterator[Any]:
    """An embedded PostgreSQL cluster of this module's own, for what the session's server cannot show: cluster-wide
    roles an init script creates, the settings initdb chose."""
    from commitlake.warehouse.embedded import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="commitlake-initdb-"))
    server = EmbeddedPostgres(root / "pg")
    server.ensure_running()
    yield server
    server.destroy()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new empty database for one test; dropped afterwards."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    base, _, _ = admin_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def shared_commits() -> Path:
    if not COMMITS.is_dir():
        pytest.skip(f"shared data not found at {COMMITS}")
    return COMMITS


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on a free loopback port (S3 cannot run here), one per test module; boto3 needs some
    credentials to sign with, so dummy ones are set where none are."""
    from moto.server import ThreadedMotoServer

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
