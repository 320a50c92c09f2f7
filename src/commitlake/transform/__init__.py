"""Run dbt in-process against the warehouse in use, with state (target, logs) under COMMITLAKE_HOME."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from commitlake.config import Settings
from commitlake.errors import CommitlakeError
from commitlake.warehouse.dsn import dbt_env

__all__ = ["dbt_env", "run_dbt"]


@contextlib.contextmanager
def _dbt_environment(extra: Mapping[str, str]) -> Iterator[None]:
    """dbt, for this invocation only, sees os.environ plus `extra`; os.environ itself is never written.

    dbt runs in-process (its callbacks drive the progress display and its result objects the stage's summary),
    and it takes the environment its env_var() reads from `dbt_common.clients.system.get_env()` once per
    invocation (`dbt.cli.requires.preflight`). Giving that one call our mapping keeps the password out of the
    process environment that every later child (git, pg_dump, a plugin) would inherit.
    """
    from dbt.cli import requires

    if not callable(getattr(requires, "get_env", None)):  # a dbt release that reads its environment elsewhere
        raise CommitlakeError("this dbt version has no dbt.cli.requires.get_env: pin dbt-core as pyproject.toml says")
    original = requires.get_env
    requires.get_env = lambda: dict(os.environ) | dict(extra)
    try:
        yield
    finally:
        requires.get_env = original


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
    from dbt.cli.main import dbtRunner

    full_args = [
        *args,
        "--project-dir", str(project),
        "--profiles-dir", str(profiles),
        "--target-path", str(state / "target"),
        "--log-path", str(state / "logs"),
    ]
    with _dbt_environment(dbt_env(database_url)):
        result = dbtRunner(callbacks=[on_event] if on_event is not None else None).invoke(full_args)
    if isinstance(result.exception, KeyboardInterrupt):  # Ctrl-C (`make docs` serves until then): not an error
        raise result.exception
    if result.exception is not None:
        raise CommitlakeError(f"dbt {' '.join(args)} could not run: {result.exception}")
    return result
