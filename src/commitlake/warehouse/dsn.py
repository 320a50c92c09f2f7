"""DATABASE_URL, parsed once by libpq's own rules, in the shape each client needs.

Every client of the warehouse receives the same connection: psycopg (a libpq conninfo string), Great
Expectations (a SQLAlchemy URL), dbt (the PG* variables its profiles.yml reads) and the PostgreSQL command-line
tools (a conninfo without the password, which travels in the child's PGPASSWORD so it never shows in `ps`).
Parsing is psycopg's `conninfo_to_dict`, so a URL, a key=value string, percent-escapes and socket directories
mean what libpq says they mean. Environments built here are handed to one child process or one dbt invocation;
nothing here writes to `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commitlake.errors import ConfigError

__all__ = ["conninfo", "dbt_env", "libpq_env", "parse", "sqlalchemy_url", "tool_conninfo_and_env"]

#: libpq connection parameters and the environment variables libpq reads for them (PostgreSQL docs 34.15).
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "passfile": "PGPASSFILE",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
#: dbt must not phone home from a pipeline pod.
_DBT_QUIET = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
_URL_PARTS = ("user", "password", "host", "port", "dbname")


def parse(database_url: str) -> dict[str, str]:
    """libpq's parameters of a postgres:// URL or key=value string; one clear line if it is not one."""
    try:
        return {key: str(value) for key, value in conninfo_to_dict(database_url).items() if value is not None}
    except Exception as exc:  # psycopg raises ProgrammingError on an unparsable DSN
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"DATABASE_URL is not a valid Postgres DSN: {reason}") from None


def conninfo(database_url: str, *, password: bool = True) -> str:
    """The libpq key=value string psycopg connects with (without the password when `password` is False)."""
    params = parse(database_url)
    if not password:
        params.pop("password", None)
    return make_conninfo(**params)


def libpq_env(database_url: str) -> dict[str, str]:
    """The PG* variables equal to the URL: for one child process's environment, never for os.environ."""
    params = parse(database_url)
    unknown = sorted(set(params) - set(LIBPQ_ENV))
    if unknown:
        raise ConfigError(f"DATABASE_URL parameter(s) {', '.join(unknown)} have no libpq environment variable")
    return {LIBPQ_ENV[key]: value for key, value in params.items()}


def dbt_env(database_url: str) -> dict[str, str]:
    """What dbt/profiles.yml reads with env_var(): the PG* variables, with the profile's defaults filled in."""
    env = {"PGHOST": "localhost", "PGPORT": "5432", "PGUSER": "postgres", "PGPASSWORD": "", "PGDATABASE": "postgres"}
    env.update(libpq_env(database_url))
    return env | _DBT_QUIET


def tool_conninfo_and_env(database_url: str, base: Mapping[str, str] | None = None) -> tuple[str, dict[str, str]]:
    """(conninfo without password, environment) for psql/pg_dump/pg_restore.

    The environment is `base` (default os.environ) without any inherited PG* variable (they would override
    nothing the conninfo says, but a stray PGPASSWORD would be sent to the wrong server), plus PGPASSWORD.
    """
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("PG")}
    password = parse(database_url).get("password")
    if password:
        env["PGPASSWORD"] = password
    return conninfo(database_url, password=False), env


def sqlalchemy_url(database_url: str, *, search_path: str | None = None) -> str:
    """postgresql+psycopg://… for SQLAlchemy (Great Expectations), password escaped as SQLAlchemy requires.

    GX validates the string as a Postgres DSN with a host, so a socket directory (the embedded warehouse) or a
    host list goes to libpq's `host` query parameter, which wins over the placeholder host in the URL.
    `search_path` adds libpq's `options=-csearch_path=…` so unqualified table names resolve in that schema.
    """
    from sqlalchemy.engine import URL

    params = parse(database_url)
    host = params.get("host") or "localhost"
    query = {k: v for k, v in params.items() if k not in _URL_PARTS}
    if host.startswith("/") or "," in host:  # a socket directory or a host list: only libpq understands it
        query["host"] = host
        if "port" in params:
            query["port"] = params["port"]
        url_host, url_port = "localhost", None
    else:
        url_host, url_port = host, int(params["port"]) if params.get("port") else None
    if search_path is not None:
        query["options"] = f"-csearch_path={search_path}"
    url = URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=url_host,
        port=url_port,
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)
