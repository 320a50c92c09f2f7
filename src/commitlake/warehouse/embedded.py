"""An embedded PostgreSQL server under COMMITLAKE_HOME, started and stopped by commitlake itself.

Why not ask the user for a database: `make run` must work on a fresh machine with nothing set up. The server
listens on 127.0.0.1 only (no Unix socket: socket paths under deep checkouts exceed the 107-byte limit) with
scram passwords kept in 0600 files: `password` for the `pipeline` login the stages use, `superuser-password`
for `postgres`, which only the bootstrap reads (roles, database: on the first start, or once after an
upgrade). `pipeline` owns the database but may not create roles, so it cannot grant itself
`pg_execute_server_program` and run shell commands.

PostgreSQL refuses to run as root, so when commitlake runs as root (CI, containers) the server runs as a
system user `commitlake-pg`. Its data directory stays under COMMITLAKE_HOME when that user can already reach
it; otherwise it goes to /var/lib/commitlake-pg/<hash of COMMITLAKE_HOME> (recorded in `server-dir`), so no
permission of the user's own directories is ever widened.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import importlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commitlake.errors import WarehouseError
from commitlake.logs import get_logger

__all__ = ["EmbeddedPostgres", "find_postgres_bin", "write_secret"]

SERVICE_USER = "commitlake-pg"
SERVICE_HOME = Path("/var/lib/commitlake-pg")
SUPERUSER = "postgres"
DATABASE = "commitlake"
LOGIN_ROLE = "pipeline"
#: Raise when _bootstrap changes: an install bootstrapped by an older version is bootstrapped again once.
BOOTSTRAP_VERSION = "2"
#: In a server directory outside its home: the home it belongs to, so a clean-up can tell a live one from an orphan.
OWNER_FILE = "owner"
_log = get_logger("warehouse.embedded")

if TYPE_CHECKING:
    import psycopg


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


def write_secret(path: Path, text: str) -> None:
    """Write a file that is 0600 from its creation on: never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(fd, 0o600)  # a file left over from an older version may have been created wider
        handle.write(text + "\n")


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
        self._password_file = root / "password"
        self._superuser_file = root / "superuser-password"
        self._port_file = root / "port"
        self._server_dir_file = root / "server-dir"
        self._bootstrapped_file = root / "bootstrapped"

    @property
    def server_dir(self) -> Path:
        """Where the server's own files (data directory, log) live: see the module docstring."""
        if self._server_dir_file.is_file():
            return Path(self._server_dir_file.read_text().strip())
        return self.root

    @property
    def data(self) -> Path:
        return self.server_dir / "data"

    @property
    def log_file(self) -> Path:
        return self.server_dir / "server.log"

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
                [
                    useradd,
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--home-dir",
                    str(SERVICE_HOME),
                    "--shell",
                    "/usr/sbin/nologin",
                    SERVICE_USER,
                ],
                check=True,
                capture_output=True,
            )
            _log.info("postgres.service_user_created", user=SERVICE_USER)

    def _service_user_reaches(self, path: Path) -> bool:
        """Can the service user search `path` (and so every parent) as things stand? Asked of the kernel."""
        test = shutil.which("test") or "/usr/bin/test"
        return self._run([test, "-x", str(path)]).returncode == 0

    def _choose_server_dir(self) -> Path:
        """Under COMMITLAKE_HOME if the service user reaches it, else a private directory it owns."""
        if not self._as_root or self._service_user_reaches(self.root):
            return self.root
        SERVICE_HOME.mkdir(mode=0o700, exist_ok=True)
        self._chown(SERVICE_HOME)
        server_dir = SERVICE_HOME / hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        server_dir.mkdir(mode=0o700, exist_ok=True)
        self._chown(server_dir)
        (server_dir / OWNER_FILE).write_text(f"{self.root.resolve()}\n")
        _log.info("postgres.server_dir", server_dir=str(server_dir), reason=f"{SERVICE_USER} cannot reach {self.root}")
        return server_dir

    def _chown(self, path: Path) -> None:
        if self._as_root:
            shutil.chown(path, SERVICE_USER, SERVICE_USER)

    # --- state --------------------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    @property
    def password(self) -> str:
        """The `pipeline` login's password: the only secret a stage is given."""
        return self._password_file.read_text().strip()

    @property
    def superuser_password(self) -> str:
        """The `postgres` superuser's own secret, for bootstrap and administrators only."""
        return self._superuser_file.read_text().strip()

    @property
    def port(self) -> int:
        return int(self._port_file.read_text().strip())

    def url(self, role: str = LOGIN_ROLE, database: str = DATABASE) -> str:
        password = self.superuser_password if role == SUPERUSER else self.password
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

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
        self._server_dir_file.unlink(missing_ok=True)
        self._bootstrapped_file.unlink(missing_ok=True)
        server_dir = self._choose_server_dir()
        if server_dir != self.root:
            self._server_dir_file.write_text(f"{server_dir}\n")
        write_secret(self._password_file, secrets.token_urlsafe(24))
        superuser_password = secrets.token_urlsafe(24)
        write_secret(self._superuser_file, superuser_password)
        self._port_file.write_text(f"{_free_port()}\n")
        if self.data.exists():
            shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        self._chown(self.data)
        pwfile = server_dir / ".initpw"  # read by initdb, which runs as the service user
        write_secret(pwfile, superuser_password)
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
                    # Sort text by bytes: for UTF-8 the same order as C.UTF-8's code points, but Postgres takes
                    # the memcmp path with abbreviated keys only for "C" (unique index on 5.5M file keys 10.5 s
                    # → 6.9 s). Character classes (lower(), regexes) keep C.UTF-8's Unicode ctype.
                    "--lc-collate=C",
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
                    # One local server: no replica, no WAL archive (backups are pg_dump). Minimal WAL lets a table
                    # built in one transaction (every dbt model's first build, a table-as-select) skip the WAL: a
                    # 5.5M-row model wrote its 1.4 GB twice, to the table and to the WAL. Crash-safe all the same.
                    "-c wal_level=minimal",
                    "-c max_wal_senders=0",
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
        if not self._bootstrapped:
            self._bootstrap()
            self._bootstrapped_file.write_text(f"{BOOTSTRAP_VERSION}\n")
        return True

    @property
    def _bootstrapped(self) -> bool:
        """Whether this version's bootstrap ran: the superuser's secret is then never read by a stage again."""
        marker = self._bootstrapped_file
        return marker.is_file() and marker.read_text().strip() == BOOTSTRAP_VERSION and self._superuser_file.is_file()

    def _superuser_connect(self) -> psycopg.Connection[Any]:
        """Connect as `postgres`; an install from before the superuser had its own secret gets one now."""
        import psycopg

        deadline = time.monotonic() + 30
        pending = self._superuser_file.with_name(self._superuser_file.name + ".new")
        last: Exception = WarehouseError(f"no password file in {self.root}")
        while True:
            # Candidates in order: the secret; one being rotated in (a crash mid-rotation); the legacy shared one.
            for path in (self._superuser_file, pending, self._password_file):
                if not path.is_file():
                    continue
                url = f"postgresql://{SUPERUSER}:{path.read_text().strip()}@127.0.0.1:{self.port}/postgres"
                try:
                    conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
                except psycopg.OperationalError as exc:
                    last = exc
                    continue
                if path != self._superuser_file:
                    self._rotate_superuser_password(conn, pending)
                return conn
            if time.monotonic() > deadline:
                raise WarehouseError(f"embedded PostgreSQL is not answering as {SUPERUSER}: {last}")
            time.sleep(0.2)

    def _rotate_superuser_password(self, conn: psycopg.Connection[Any], pending: Path) -> None:
        from psycopg import sql

        if not pending.is_file():
            write_secret(pending, secrets.token_urlsafe(24))
        conn.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(SUPERUSER), sql.Literal(pending.read_text().strip())
            )
        )
        pending.replace(self._superuser_file)
        _log.info("postgres.superuser_password_separated", file=str(self._superuser_file))

    def _bootstrap(self) -> None:
        """As the superuser: the login role (no CREATEROLE, member of nothing), the personas, the database.

        Schemas and grants are the warehouse's job (as `pipeline`); the personas are created here because
        `pipeline` may not create roles.
        """
        from psycopg import sql

        from commitlake.warehouse.roles import PERSONAS

        login = sql.Identifier(LOGIN_ROLE)
        with self._superuser_connect() as conn:
            if not conn.execute("select 1 from pg_roles where rolname = %s", [LOGIN_ROLE]).fetchone():
                conn.execute(sql.SQL("create role {} login password {}").format(login, sql.Literal(self.password)))
            # Also tightens an install from before: it had CREATEROLE and may have granted itself anything.
            conn.execute(sql.SQL("alter role {} nosuperuser nocreaterole nocreatedb noreplication").format(login))
            grants = conn.execute(
                "select r.rolname, g.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid"
                " join pg_roles g on g.oid = m.grantor where m.member = (select oid from pg_roles where rolname = %s)",
                [LOGIN_ROLE],
            ).fetchall()
            for role, grantor in grants:
                conn.execute(
                    sql.SQL("revoke {} from {} granted by {}").format(
                        sql.Identifier(role), login, sql.Identifier(grantor)
                    )
                )
                _log.warning("postgres.membership_revoked", role=LOGIN_ROLE, member_of=role)
            for persona in PERSONAS:
                if not conn.execute("select 1 from pg_roles where rolname = %s", [persona]).fetchone():
                    conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(persona)))
            if not conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone():
                conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(DATABASE), login))

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

    def destroy(self) -> None:
        """Stop the server and delete all its files, including a server directory outside `root`."""
        self.stop()
        server_dir = self.server_dir
        shutil.rmtree(self.root, ignore_errors=True)
        if server_dir != self.root:
            shutil.rmtree(server_dir, ignore_errors=True)
