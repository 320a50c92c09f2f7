"""Turn DATABASE_URL into the SQLAlchemy URL Great Expectations accepts.

GX validates the string as a Postgres DSN with a host, so the embedded warehouse's socket URL
(`postgresql://user@/db?host=/path/to/socket`) is rejected as is. libpq lets a `host` query parameter win
over the URL's host, so we keep the socket directory there and give the URL a placeholder host. The driver is
psycopg 3, the one commitlake already depends on.
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from commitlake.errors import ConfigError

__all__ = ["gx_connection_string"]

_URL_PARTS = ("user", "password", "host", "port", "dbname")


def gx_connection_string(database_url: str) -> str:
    """Accepts a postgres:// URL or a libpq key=value string; returns postgresql+psycopg://…"""
    from sqlalchemy.engine import URL

    try:
        params = {key: str(value) for key, value in conninfo_to_dict(database_url).items()}
    except Exception as exc:  # psycopg raises ProgrammingError on an unparsable DSN
        raise ConfigError(f"DATABASE_URL is not a valid Postgres DSN: {exc}") from None
    host = params.get("host") or "localhost"
    query = {k: v for k, v in params.items() if k not in _URL_PARTS}
    if host.startswith("/") or "," in host:  # a socket directory or a host list: only libpq understands it
        query["host"] = host
        if "port" in params:
            query["port"] = params["port"]
        url_host, url_port = "localhost", None
    else:
        url_host, url_port = host, int(params["port"]) if params.get("port") else None
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
