"""An embedded PostgreSQL server under COMMITLAKE_HOME, started and stopped by commitlake itself.

Why not ask the user for a database: `make run` must work on a fresh machine with nothing set up. The server
listens on 127.0.0.1 only (no Unix socket: socket paths under deep checkouts exceed the 107-byte limit) with
scram passwords kept in a 0600 file. PostgreSQL refuses to run as root, so when commitlake runs as root (CI,
containers) the server runs as a system user `commitlake-pg`, which needs only search (x) permission on the
parent directories of COMMITLAKE_HOME.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import importlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from commitlake.errors import WarehouseError
from commitlake.logs import get_logger

__all__ = ["EmbeddedPostgres", "find_postgres_bin"]

SERVICE_USER = "commitlake-pg"
SUPERUSER = "postgres"
DATABASE = "commitlake"
LOGIN_ROLE = "pipeline"
_log = get_logger("warehouse.embedded")


def _candidate_bin_dirs() -> Iterator[Path]:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            yield Path(out)
    yield from (Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    yield from (Path(p) for p in sorted(glob.glob("/opt/homebrew/opt/postgresql@*/bin"), reverse=True))
    initdb = shutil.which("initdb")
    if initdb:
        yield Path(os.path.realpath(initdb)).parent
    try:
        pgserver = importlib.import_module("pgserver")  # the `embedded` extra: binaries for pip-only machines
    except ImportError:
        return
    yield Path(str(pgserver.__file__)).parent / "pginstall" / "bin"


def find_postgres_bin() -> Path:
    """Postgres server binaries: the system's (Debian/Homebrew), else the ones the `pgserver` wheel ships."""
    for candidate in _candidate_bin_dirs():
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise WarehouseError(
        "no PostgreSQL server binaries found: install PostgreSQL (apt-get install postgresql) or "
        "`pip install commitlake[embedded]`, or set DATABASE_URL to an external server"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedPostgres:
    """Lifecycle of the local server: init once, start on demand, stop on request."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log_file = root / "server.log"
        self._password_file = root / "password"
        self._port_file = root / "port"

    # --- identity -----------------------------------------------------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self._as_root:
            extra = {"user": SERVICE_USER, "group": SERVICE_USER, "extra_groups": []}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd="/", **extra, **kwargs)

    def _ensure_service_user(self) -> None:
        import pwd

        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            useradd = shutil.which("useradd") or "/usr/sbin/useradd"
            subprocess.run(
                [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
                check=True,
                capture_output=True,
            )
        # The server only needs to traverse the parents of its data directory: grant o+x, nothing more.
        for parent in [self.root, *self.root.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)

    def _chown(self, path: Path) -> None:
        if self._as_root:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)

    # --- state --------------------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    @property
    def password(self) -> str:
        return self._password_file.read_text().strip()

    @property
    def port(self) -> int:
        return int(self._port_file.read_text().strip())

    def url(self, role: str = LOGIN_ROLE, database: str = DATABASE) -> str:
        return f"postgresql://{role}:{self.password}@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        bin_dir = find_postgres_bin()
        return self._run([str(bin_dir / "pg_ctl"), "status", "-D", str(self.data)]).returncode == 0

    # --- lifecycle ----------------------------------------------------------------------------------------
    def _init(self, bin_dir: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self._ensure_service_user()
        password = secrets.token_urlsafe(24)
        self._password_file.write_text(password + "\n")
        self._password_file.chmod(0o600)
        self._port_file.write_text(f"{_free_port()}\n")
        if self.data.exists():
            shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        self._chown(self.data)
        pwfile = self.root / ".initpw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            result = self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise WarehouseError(f"initdb failed in {self.data}: {result.stderr.strip() or result.stdout.strip()}")
        _log.info("postgres.initialized", data_dir=str(self.data))

    def ensure_running(self) -> bool:
        """Start the server (initializing it first if needed). Returns True if this call started it."""
        bin_dir = find_postgres_bin()
        with self._locked():
            if not self.initialized:
                self._init(bin_dir)
            elif self._as_root:
                self._ensure_service_user()
            if self.is_running():
                return False
            if _port_in_use(self.port):
                self._port_file.write_text(f"{_free_port()}\n")
            options = " ".join(
                [
                    f"-p {self.port}",
                    "-c listen_addresses=127.0.0.1",
                    "-c unix_socket_directories=''",
                    "-c shared_buffers=256MB",
                    "-c max_wal_size=4GB",
                    "-c synchronous_commit=off",
                    "-c checkpoint_timeout=15min",
                    "-c work_mem=32MB",
                    "-c maintenance_work_mem=256MB",
                ]
            )
            if self._as_root:
                self.log_file.touch()
                self._chown(self.log_file)
            result = self._run(
                [
                    str(bin_dir / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                ]
            )
            if result.returncode != 0:
                tail = self.log_file.read_text()[-800:] if self.log_file.exists() else ""
                raise WarehouseError(f"embedded PostgreSQL did not start (data {self.data}): {tail.strip()}")
            _log.info("postgres.started", port=self.port, data_dir=str(self.data))
        self._bootstrap()
        return True

    def _bootstrap(self) -> None:
        """Create the login role and the database once; schemas and grants are the warehouse's job."""
        import psycopg
        from psycopg import sql

        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.url(SUPERUSER, "postgres"), autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise WarehouseError(f"embedded PostgreSQL is not answering: {exc}") from exc
                time.sleep(0.2)
        with conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", [LOGIN_ROLE]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("create role {} login password {}").format(
                        sql.Identifier(LOGIN_ROLE), sql.Literal(self.password)
                    )
                )
            conn.execute(sql.SQL("alter role {} createrole").format(sql.Identifier(LOGIN_ROLE)))
            if not conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone():
                conn.execute(
                    sql.SQL("create database {} owner {}").format(sql.Identifier(DATABASE), sql.Identifier(LOGIN_ROLE))
                )

    def stop(self) -> bool:
        """Stop the server if it runs. Returns True if it was running."""
        if not self.initialized:
            return False
        bin_dir = find_postgres_bin()
        with self._locked():
            if not self.is_running():
                return False
            result = self._run([str(bin_dir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data)])
            if result.returncode != 0:
                raise WarehouseError(f"could not stop embedded PostgreSQL: {result.stderr.strip()}")
        _log.info("postgres.stopped", data_dir=str(self.data))
        return True
