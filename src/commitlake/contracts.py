"""Contracts shared by dbt, the quality checks and the classifier, read from where they are defined once.

The Conventional Commits types live in the dbt project (`vars.commitlake_commit_types` in dbt_project.yml), because
dbt is the first reader: the macros that label commits and the accepted_values tests use the var directly. Python
readers (quality, ML) call `commit_types()` instead of keeping their own copy.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from commitlake.errors import ConfigError

__all__ = ["COMMIT_TYPES_VAR", "commit_types", "default_dbt_dir"]

#: The dbt project var that holds the list.
COMMIT_TYPES_VAR = "commitlake_commit_types"


def default_dbt_dir() -> Path:
    """The dbt project the running process uses (COMMITLAKE_DBT_PROJECT_DIR, else <project dir>/dbt)."""
    from commitlake.config import Settings

    return Settings.from_env().dbt_project_dir


def commit_types(dbt_dir: Path | None = None) -> tuple[str, ...]:
    """The lowercase commit types a label may take, in the order dbt_project.yml lists them."""
    return _read_commit_types((dbt_dir or default_dbt_dir()).absolute())


@cache
def _read_commit_types(dbt_dir: Path) -> tuple[str, ...]:
    path = dbt_dir / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the dbt project: {exc}") from None
    values = ((project or {}).get("vars") or {}).get(COMMIT_TYPES_VAR)
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v.islower() for v in values):
        raise ConfigError(f"{path}: vars.{COMMIT_TYPES_VAR} must be a non-empty list of lowercase type names")
    return tuple(values)
