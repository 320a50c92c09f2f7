"""The embedded server's `pipeline` login is not a way to the superuser or to the host's shell (issue 10, 8-9).

A real server is started for this module under a 0700 directory, as `make run` does under a private home.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from commitlake.warehouse.embedded import LOGIN_ROLE, SUPERUSER, EmbeddedPostgres, write_secret
from commitlake.warehouse.roles import PERSONAS

AS_ROOT = os.geteuid() == 0
modes_before: dict[Path, int] = {}  # the home's directory and its parents, before the server first started


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    # Not under pytest's shared /tmp/pytest-of-<user>: other pytest sessions change that directory's mode.
    outer = Path(tempfile.mkdtemp(prefix="commitlake-test-home-"))  # 0700, like every level below
    private = outer / "home"
    private.mkdir(mode=0o700)  # a home only its owner may enter
    pg = EmbeddedPostgres(private / ".commitlake" / "postgres")
    modes_before.update({d: stat.S_IMODE(d.stat().st_mode) for d in [private, *private.parents]})
    pg.ensure_running()
    yield pg
    server_dir = pg.server_dir
    pg.destroy()
    shutil.rmtree(outer, ignore_errors=True)
    assert not server_dir.exists()


def _pipeline(pg: EmbeddedPostgres) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(pg.url(), autocommit=True)


def test_pipeline_password_does_not_open_the_superuser(server: EmbeddedPostgres) -> None:
    assert server.password != server.superuser_password
    as_superuser_with_pipeline_secret = server.url().replace(f"//{LOGIN_ROLE}:", f"//{SUPERUSER}:")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(as_superuser_with_pipeline_secret, connect_timeout=5)
    with psycopg.connect(server.url(SUPERUSER, "postgres")) as conn:  # the superuser's own secret works
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (True,)


def test_pipeline_cannot_grant_itself_roles(server: EmbeddedPostgres) -> None:
    with _pipeline(server) as conn:
        flags = conn.execute(
            "select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user"
        ).fetchone()
        assert flags == (False, False, False)
        for statement in (
            f"grant pg_execute_server_program to {LOGIN_ROLE}",
            f"grant pg_read_server_files to {LOGIN_ROLE}",
            f"alter role {LOGIN_ROLE} createrole",
            "create role t_intruder login superuser",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_pipeline_cannot_copy_to_program(server: EmbeddedPostgres, tmp_path: Path) -> None:
    """The whole attack: grant itself pg_execute_server_program (if it can), then run a shell command."""
    witness = tmp_path / "pwned"
    with _pipeline(server) as conn:
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"grant pg_execute_server_program to {LOGIN_ROLE}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"copy (select 1) to program 'touch {witness}'")
    assert not witness.exists()


def test_pipeline_still_owns_the_warehouse_and_the_personas_exist(server: EmbeddedPostgres) -> None:
    with _pipeline(server) as conn:
        owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = current_database()")
        assert owner.fetchone() == (LOGIN_ROLE,)
        conn.execute("create schema if not exists t_probe")
        conn.execute("drop schema t_probe")
        present = conn.execute("select count(*) from pg_roles where rolname = any(%s)", [list(PERSONAS)]).fetchone()
        assert present == (len(PERSONAS),)


def test_an_older_install_is_tightened_on_start(server: EmbeddedPostgres) -> None:
    """Before: one password for both roles, CREATEROLE, and a self-granted pg_execute_server_program."""
    with psycopg.connect(server.url(SUPERUSER, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("alter role {} createrole").format(sql.Identifier(LOGIN_ROLE)))
        admin.execute(sql.SQL("grant pg_execute_server_program to {}").format(sql.Identifier(LOGIN_ROLE)))
        admin.execute(sql.SQL("alter role postgres password {}").format(sql.Literal(server.password)))
    (server.root / "superuser-password").unlink()
    (server.root / "bootstrapped").unlink()  # older versions wrote no marker
    server.stop()

    assert server.ensure_running()

    assert server.superuser_password != server.password
    assert stat.S_IMODE((server.root / "superuser-password").stat().st_mode) == 0o600
    with _pipeline(server) as conn:
        assert conn.execute("select rolcreaterole from pg_roles where rolname = current_user").fetchone() == (False,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("copy (select 1) to program 'true'")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.url().replace(f"//{LOGIN_ROLE}:", f"//{SUPERUSER}:"), connect_timeout=5)


def test_secrets_are_private_from_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No window in which the file exists with the umask's wider mode: chmod-after-write is not enough."""
    monkeypatch.setattr(Path, "chmod", lambda *a, **k: None)
    monkeypatch.setattr(os, "chmod", lambda *a, **k: None)
    old = os.umask(0o022)
    try:
        write_secret(tmp_path / "secret", uuid.uuid4().hex)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_server_files_and_secrets_are_private(server: EmbeddedPostgres) -> None:
    for name in ("password", "superuser-password"):
        assert stat.S_IMODE((server.root / name).stat().st_mode) == 0o600, name
    assert not (server.server_dir / ".initpw").exists()


@pytest.mark.skipif(not AS_ROOT, reason="the service user exists only when commitlake runs as root")
def test_as_root_no_directory_of_the_user_is_widened(server: EmbeddedPostgres) -> None:
    assert modes_before
    assert {d: stat.S_IMODE(d.stat().st_mode) for d in modes_before} == modes_before
    assert server.server_dir.is_relative_to("/var/lib/commitlake-pg")
    assert server.server_dir.owner() == "commitlake-pg"
    assert (server.root / "server-dir").read_text().strip() == str(server.server_dir)


def test_the_warehouse_is_set_up_by_pipeline_without_createrole(
    server: EmbeddedPostgres, capsys: pytest.CaptureFixture[str]
) -> None:
    """What every stage does on start (schemas, role matrix) still works as `pipeline`, with no warning."""
    from commitlake.config import Settings
    from commitlake.warehouse.db import open_warehouse

    settings = Settings.from_env({"COMMITLAKE_HOME": str(server.root.parent)})
    assert settings.embedded_database
    with open_warehouse(settings, keep_running=True) as warehouse:
        assert warehouse.url == server.url()
        with warehouse.connect() as conn:
            assert conn.execute("select current_user").fetchone() == (LOGIN_ROLE,)
            granted = conn.execute(
                "select has_schema_privilege('analyst', 'analytics', 'USAGE'),"
                " has_schema_privilege('analyst', 'raw', 'USAGE'),"
                " has_table_privilege('data_engineer', 'raw.github_commits', 'INSERT')"
            ).fetchone()
    assert granted == (True, False, True)
    assert "roles_skipped" not in capsys.readouterr().out


def test_once_bootstrapped_a_start_never_reads_the_superuser_secret(
    server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stages start the server; only the first start (or an upgrade's) needs the superuser."""
    server.stop()

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stage start connected as the superuser")

    monkeypatch.setattr(EmbeddedPostgres, "_superuser_connect", forbidden)
    assert server.ensure_running()
    with _pipeline(server) as conn:
        assert conn.execute("select current_user").fetchone() == (LOGIN_ROLE,)
