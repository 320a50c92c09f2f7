"""Settings: the one object built from the environment. No other module reads os.environ."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

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


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


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
    """DATABASE_URL must be a PostgreSQL URL: say so now rather than in a driver traceback later."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not (parts.netloc or parts.query):
        from commitlake.warehouse.db import redact_url

        raise ConfigError(
            f"DATABASE_URL={redact_url(value)!r} is not a PostgreSQL URL; "
            "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to use the embedded server)"
        )
    return value


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
        concurrency = _int(env, "COMMITLAKE_INGEST_CONCURRENCY", DEFAULT_INGEST_CONCURRENCY)
        assert concurrency is not None
        if concurrency < 1:
            raise ConfigError(f"COMMITLAKE_INGEST_CONCURRENCY must be at least 1, got {concurrency}")
        streams = _int(env, "COMMITLAKE_LOAD_STREAMS", DEFAULT_LOAD_STREAMS)
        assert streams is not None
        if streams < 1:
            raise ConfigError(f"COMMITLAKE_LOAD_STREAMS must be at least 1, got {streams}")
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
            max_requests=_int(env, "COMMITLAKE_MAX_REQUESTS", None),
            with_files=_flag(env.get("COMMITLAKE_WITH_FILES")),
            full_refresh=_flag(env.get("COMMITLAKE_FULL_REFRESH")),
            model_name=env.get("COMMITLAKE_MODEL_NAME") or DEFAULT_MODEL_NAME,
            min_labelled=_int(env, "COMMITLAKE_MIN_LABELLED", DEFAULT_MIN_LABELLED) or DEFAULT_MIN_LABELLED,
            log_level=(env.get("COMMITLAKE_LOG_LEVEL") or "INFO").upper(),
            log_format=_log_format(env.get("COMMITLAKE_LOG_FORMAT")),
            project_dir=Path(env.get("COMMITLAKE_PROJECT_DIR") or Path.cwd()).absolute(),
            dbt_dir=_path(env.get("COMMITLAKE_DBT_PROJECT_DIR")),
            stage_processes=_flag(env.get("COMMITLAKE_STAGE_PROCESSES") or "1"),
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
