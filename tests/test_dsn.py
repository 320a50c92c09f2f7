"""One DSN helper: a password with every URL-special character reaches libpq, SQLAlchemy (GX), dbt and the
PostgreSQL tools intact, against a real server with scram-sha-256 authentication, and none of them leaves
PGPASSWORD in os.environ."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from commitlake.errors import ConfigError
from commitlake.warehouse import dsn

ROOT = Path(__file__).resolve().parents[1]
#: @ : / % # space, a quote and a backslash: each breaks a hand-rolled URL or conninfo parser somewhere.
PASSWORD = "p@ss:w/rd%20#x y'\\z"


@pytest.fixture(scope="module")
def secret_url(admin_url: str) -> Iterator[str]:
    """A database owned by a login role whose password is PASSWORD, as a percent-encoded URL."""
    role, name = f"dsn_{uuid.uuid4().hex[:8]}", f"t_dsn_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("create role {} login password {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(PASSWORD)
            )
        )
        conn.execute(
            psycopg.sql.SQL("create database {} owner {}").format(
                psycopg.sql.Identifier(name), psycopg.sql.Identifier(role)
            )
        )
    host_port = conninfo_to_dict(admin_url)
    yield f"postgresql://{role}:{quote(PASSWORD, safe='')}@{host_port['host']}:{host_port['port']}/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("drop database if exists {} with (force)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("drop role if exists {}").format(psycopg.sql.Identifier(role)))


def test_password_round_trips_through_every_output(secret_url: str) -> None:
    assert dsn.parse(secret_url)["password"] == PASSWORD
    assert conninfo_to_dict(dsn.conninfo(secret_url))["password"] == PASSWORD
    assert "password" not in conninfo_to_dict(dsn.conninfo(secret_url, password=False))
    assert dsn.dbt_env(secret_url)["PGPASSWORD"] == PASSWORD
    conninfo, env = dsn.tool_conninfo_and_env(secret_url, {"PATH": "/bin", "PGPASSWORD": "stale", "PGHOST": "x"})
    assert env == {"PATH": "/bin", "PGPASSWORD": PASSWORD}
    assert PASSWORD not in conninfo and "password" not in conninfo_to_dict(conninfo)

    from sqlalchemy.engine import make_url

    url = make_url(dsn.sqlalchemy_url(secret_url, search_path="ops"))
    assert (url.drivername, url.password, url.query["options"]) == ("postgresql+psycopg", PASSWORD, "-csearch_path=ops")


def test_every_client_logs_in_for_real(secret_url: str) -> None:
    role = dsn.parse(secret_url)["user"]
    with psycopg.connect(dsn.conninfo(secret_url)) as conn:
        assert conn.execute("select current_user").fetchone() == (role,)

    import sqlalchemy

    engine = sqlalchemy.create_engine(dsn.sqlalchemy_url(secret_url, search_path="pg_catalog"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select current_user, current_schema()")).one() == (role, "pg_catalog")
    finally:
        engine.dispose()


def test_socket_and_host_list_go_to_libpq_host_parameter() -> None:
    socket = dsn.sqlalchemy_url("postgresql://postgres@/warehouse?host=/run/commitlake&port=5544")
    assert socket.startswith("postgresql+psycopg://postgres@localhost/warehouse?")
    assert conninfo_to_dict(socket.replace("+psycopg", "")) == {
        "user": "postgres",
        "host": "/run/commitlake",
        "port": "5544",
        "dbname": "warehouse",
    }
    assert dsn.libpq_env("host=/run/commitlake port=5544 dbname=w user=u") == {
        "PGHOST": "/run/commitlake",
        "PGPORT": "5544",
        "PGDATABASE": "w",
        "PGUSER": "u",
    }


def test_bad_url_is_one_line_naming_database_url() -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL is not a valid Postgres DSN: [^\n]+$"):
        dsn.parse("postgresql://u@h/db?nosuch=1")


def test_dbt_sees_the_password_and_the_process_environment_never_does(secret_url: str, tmp_path: Path) -> None:
    from commitlake.config import Settings
    from commitlake.transform import run_dbt

    assert "PGPASSWORD" not in os.environ
    settings = Settings(home=tmp_path / "home", project_dir=ROOT)
    result = run_dbt(settings, secret_url, ["show", "--inline", "select current_user as who", "--quiet"])
    assert result.success  # dbt logged in with the scram password it could only have had from dbt_env
    assert [tuple(row) for row in result.result.results[0].agate_table.rows] == [(dsn.parse(secret_url)["user"],)]
    assert "PGPASSWORD" not in os.environ and "PGUSER" not in os.environ


def test_backup_and_restore_leave_no_password_in_the_environment(secret_url: str, tmp_path: Path) -> None:
    from commitlake.lake import LocalLake
    from commitlake.warehouse.backup import backup_database, restore_database

    with psycopg.connect(secret_url, autocommit=True) as conn:
        conn.execute("create table kept (n int); insert into kept values (7)")
    lake = LocalLake(tmp_path / "lake")
    key = backup_database(secret_url, lake).key
    with psycopg.connect(secret_url, autocommit=True) as conn:
        conn.execute("drop table kept")
    assert restore_database(secret_url, lake, key) == key
    with psycopg.connect(secret_url) as conn:
        assert conn.execute("select n from kept").fetchall() == [(7,)]
    assert "PGPASSWORD" not in os.environ
