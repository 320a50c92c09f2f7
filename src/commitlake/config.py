"""Settings: the one object built from the environment. No other module reads os.environ."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from commitlake.contract import RUN_ID_PATTERN
from commitlake.errors import ConfigError

__all__ = ["DEFAULT_GITHUB_API_URL", "Settings"]

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_INGEST_CONCURRENCY = 4
#: COPY connections the load stage uses at once: Postgres parses jsonb on one core per connection, so two use
#: both cores of a small box; 1 is the plain single-connection loader.
DEFAULT_LOAD_STREAMS = min(2, os.cpu_count() or 1)
DEFAULT_MODEL_NAME = "commitlake-commit-type"
#: Fewer labelled (Conventional Commits) commits than this and `train` skips instead of fitting noise.
DEFAULT_MIN_LABELLED = 30


def _split_list(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(item for item in re.split(r"[\s,]+", value.strip()) if item)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser().absolute() if value else None


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def _database_url(value: str | None) -> str | None:
    """DATABASE_URL must be a PostgreSQL URL libpq can read: say so now, as bad input, rather than as a driver
    traceback or a connection failure that looks worth retrying (a bad port, an unknown option) later."""
    if not value:
        return None
    from commitlake.warehouse.db import redact_url

    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.netloc or parts.query):
        raise ConfigError(
            f"DATABASE_URL={redact_url(value)!r} is not a PostgreSQL URL; "
            "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to use the embedded server)"
        )
    problem = _conninfo_problem(value)
    if problem:
        raise ConfigError(f"DATABASE_URL={redact_url(value)!r} is malformed: {problem}")
    return value


def _conninfo_problem(url: str) -> str | None:
    """What libpq would refuse in `url` (its own parser, then the values it checks only when connecting)."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as exc:
        return str(exc).splitlines()[0]
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            return f"port {port!r} is not a number from 1 to 65535"
    sslmode = params.get("sslmode")
    if sslmode is not None and sslmode not in _SSLMODES:
        return f"sslmode {sslmode!r} is not one of {', '.join(_SSLMODES)}"
    return None


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL")
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off", "")


def _checked_flag(env: Mapping[str, str], name: str, default: str = "") -> bool:
    """A yes/no setting; a value that is neither (`maybe`) is refused rather than read as no."""
    raw = env.get(name)
    value = (raw or default).strip().lower()
    if value not in _YES + _NO:
        raise ConfigError(f"{name}={raw!r} is not a yes/no value; use 1/true/yes/on or 0/false/no/off")
    return value in _YES


def _positive(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    """An optional integer setting that must be at least 1 when given (as the matching flags require)."""
    value = _int(env, name, default)
    if value is not None and value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


def _log_level(value: str | None) -> str:
    level = (value or "INFO").strip().upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"COMMITLAKE_LOG_LEVEL={value!r} is not one of {', '.join(_LOG_LEVELS)}")
    return level


def _log_format(value: str | None) -> str:
    from commitlake.logs import LOG_FORMATS

    fmt = (value or "auto").strip().lower()
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"COMMITLAKE_LOG_FORMAT={value!r} is not one of {', '.join(LOG_FORMATS)}")
    return fmt


@dataclass(frozen=True)
class Settings:
    """Everything a stage needs to know about where things live. Built once, passed down."""

    home: Path
    database_url: str | None = None
    lake_uri: str | None = None
    s3_endpoint_url: str | None = None
    mlflow_tracking_uri: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_token: str | None = field(default=None, repr=False)
    repos: tuple[str, ...] = ()
    run_id: str | None = None
    ingest_concurrency: int = DEFAULT_INGEST_CONCURRENCY
    load_streams: int = DEFAULT_LOAD_STREAMS
    max_requests: int | None = None
    with_files: bool = False
    full_refresh: bool = False
    model_name: str = DEFAULT_MODEL_NAME
    min_labelled: int = DEFAULT_MIN_LABELLED
    log_level: str = "INFO"
    #: auto (human on a terminal, JSON elsewhere), human or json; see commitlake.logs.
    log_format: str = "auto"
    project_dir: Path = field(default_factory=Path.cwd)
    #: The dbt project (default: dbt/ in the project directory; images set it to where they ship it).
    dbt_dir: Path | None = None
    #: The local runner runs its stages in child processes (the data stages in one, train and predict in
    #: another: commitlake.stage_process); COMMITLAKE_STAGE_PROCESSES=0 runs them all in the runner's process.
    stage_processes: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("COMMITLAKE_HOME") or ".commitlake").expanduser().absolute()
        concurrency = _positive(env, "COMMITLAKE_INGEST_CONCURRENCY", DEFAULT_INGEST_CONCURRENCY)
        streams = _positive(env, "COMMITLAKE_LOAD_STREAMS", DEFAULT_LOAD_STREAMS)
        assert concurrency is not None and streams is not None
        return cls(
            home=home,
            database_url=_database_url(env.get("DATABASE_URL")),
            lake_uri=env.get("COMMITLAKE_LAKE_URI") or None,
            s3_endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            github_api_url=(env.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/"),
            github_token=env.get("GITHUB_TOKEN") or None,
            repos=_split_list(env.get("COMMITLAKE_REPOS")),
            run_id=env.get("COMMITLAKE_RUN_ID") or None,
            ingest_concurrency=concurrency,
            load_streams=streams,
            max_requests=_positive(env, "COMMITLAKE_MAX_REQUESTS", None),
            with_files=_checked_flag(env, "COMMITLAKE_WITH_FILES"),
            full_refresh=_checked_flag(env, "COMMITLAKE_FULL_REFRESH"),
            model_name=env.get("COMMITLAKE_MODEL_NAME") or DEFAULT_MODEL_NAME,
            min_labelled=_int(env, "COMMITLAKE_MIN_LABELLED", DEFAULT_MIN_LABELLED) or DEFAULT_MIN_LABELLED,
            log_level=_log_level(env.get("COMMITLAKE_LOG_LEVEL")),
            log_format=_log_format(env.get("COMMITLAKE_LOG_FORMAT")),
            project_dir=Path(env.get("COMMITLAKE_PROJECT_DIR") or Path.cwd()).absolute(),
            dbt_dir=_path(env.get("COMMITLAKE_DBT_PROJECT_DIR")),
            stage_processes=_checked_flag(env, "COMMITLAKE_STAGE_PROCESSES", "1"),
        )

    def __post_init__(self) -> None:
        if self.run_id is not None and not re.fullmatch(RUN_ID_PATTERN, self.run_id):
            raise ConfigError(
                f"run id {self.run_id!r} (COMMITLAKE_RUN_ID or --run-id) is not one path segment of letters, digits, "
                "'.', '_' and '-'"
            )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with CLI flags applied on top of the environment (None means: keep)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    # Embedded defaults ---------------------------------------------------------------------------------
    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def effective_lake_uri(self) -> str:
        return self.lake_uri or (self.home / "lake").as_uri()

    @property
    def effective_mlflow_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_artifact_root(self) -> Path:
        """Where the embedded MLflow store keeps artifacts (only used without MLFLOW_TRACKING_URI)."""
        return self.home / "mlflow" / "artifacts"

    @property
    def dbt_project_dir(self) -> Path:
        return self.dbt_dir or self.project_dir / "dbt"
