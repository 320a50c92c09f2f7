"""The validate stage enforces the gate: `commitlake validate` on a warehouse with a critical failure exits 1
naming the failed check, and 0 on the same warehouse intact. (`enforce` alone is tested in test_quality.py;
this proves the stage calls it.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_quality import BREAKAGES, SMALL_REPO, _execute, _load_warehouse, _raw_rows, _read_commits

ROOT = Path(__file__).resolve().parents[1]
BREAKAGE = "orphan file row"


def _validate(url: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "MLFLOW_"))}
    env.update({"DATABASE_URL": url, "COMMITLAKE_HOME": str(home), "COMMITLAKE_PROJECT_DIR": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "commitlake", "validate"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture
def warehouse(fresh_database: str) -> str:
    rows: list[tuple[Any, ...]] = _raw_rows(SMALL_REPO, _read_commits(SMALL_REPO))
    _load_warehouse(fresh_database, rows)
    return fresh_database


def test_validate_stage_fails_on_a_critical_failure(warehouse: str, tmp_path: Path) -> None:
    intact = _validate(warehouse, tmp_path / "a")
    assert intact.returncode == 0, intact.stderr[-2000:]
    statement, expected = BREAKAGES[BREAKAGE]
    _execute(warehouse, statement)
    broken = _validate(warehouse, tmp_path / "b")
    assert broken.returncode == 1, broken.stderr[-2000:]
    for _suite, expectation, _column, _severity in expected:
        assert expectation in broken.stderr
