"""Run dbt in-process against the warehouse in use, with state (target, logs) under COMMITLAKE_HOME."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlparse

from commitlake.config import Settings
from commitlake.errors import CommitlakeError

__all__ = ["dbt_env", "run_dbt"]


def dbt_env(database_url: str) -> dict[str, str]:
    """libpq variables that dbt/profiles.yml reads with env_var()."""
    parsed = urlparse(database_url)
    return {
        "PGHOST": parsed.hostname or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": unquote(parsed.username or ""),
        "PGPASSWORD": unquote(parsed.password or ""),
        "PGDATABASE": (parsed.path or "/").lstrip("/") or "postgres",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def run_dbt(
    settings: Settings, database_url: str, args: list[str], on_event: Callable[[Any], None] | None = None
) -> Any:
    """`dbt <args>` with the project in dbt/ and every file it writes under COMMITLAKE_HOME/dbt.

    The profiles file is copied next to the state so the project directory can stay read-only (containers).
    `on_event` receives every dbt event (an EventMsg), e.g. to draw progress per node.
    """
    project = settings.dbt_project_dir
    if not (project / "dbt_project.yml").is_file():
        raise CommitlakeError(f"no dbt project at {project} (set COMMITLAKE_DBT_PROJECT_DIR)")
    state = settings.home / "dbt"
    profiles = state / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(project / "profiles.yml", profiles / "profiles.yml")
    os.environ.update(dbt_env(database_url))
    from dbt.cli.main import dbtRunner

    full_args = [
        *args,
        "--project-dir", str(project),
        "--profiles-dir", str(profiles),
        "--target-path", str(state / "target"),
        "--log-path", str(state / "logs"),
    ]
    result = dbtRunner(callbacks=[on_event] if on_event is not None else None).invoke(full_args)
    if result.exception is not None:
        raise CommitlakeError(f"dbt {' '.join(args)} could not run: {result.exception}")
    return result
