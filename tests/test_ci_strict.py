"""A skip for want of ../shared or a tool is a skip on a laptop and a failure in CI (tests/ci_strict.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ci_strict import REQUIRE_ENV, must_not_skip, strict

TESTS = Path(__file__).resolve().parent
SHARED = TESTS.parents[1] / "shared"


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, False), ({"CI": "true"}, True), ({"CI": "false"}, False), ({"CI": "1"}, True), ({REQUIRE_ENV: "1"}, True)],
)
def test_strict_mode(env: dict[str, str], expected: bool) -> None:
    assert strict(env) is expected


@pytest.mark.parametrize(
    ("reason", "fails"),
    [
        (f"shared data not found at {SHARED / 'data' / 'commits'}", True),
        (f"shared commit data not found at {SHARED}", True),
        ("no Postgres at postgresql://x: refused", True),
        ("helm not installed", True),
        ("charts/commitlake/files/workflow-template.yaml not rendered yet", True),
        ("the service user exists only when commitlake runs as root", False),
    ],
)
def test_which_skips_fail_in_ci(reason: str, fails: bool) -> None:
    assert must_not_skip(reason, {"CI": "true"}) is fails
    assert must_not_skip(reason, {}) is False


_SAMPLE = f'''
import pytest
pytestmark_missing = pytest.mark.skipif(True, reason="shared commit data not found at {SHARED}")

@pytestmark_missing
def test_marked():
    pass

def test_called():
    pytest.skip("shared data not found at {SHARED}")

@pytest.mark.skipif(True, reason="the service user exists only when commitlake runs as root")
def test_root_only():
    pass
'''


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text("from ci_strict import pytest_runtest_makereport  # noqa: F401\n")
    (tmp_path / "test_sample.py").write_text(textwrap.dedent(_SAMPLE))
    base = {k: v for k, v in os.environ.items() if k not in ("CI", REQUIRE_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "test_sample.py"],
        cwd=tmp_path, env={**base, "PYTHONPATH": str(TESTS), **env}, capture_output=True, text=True, timeout=120,
    )


def test_locally_they_skip(tmp_path: Path) -> None:
    done = _run(tmp_path)
    assert done.returncode == 0, done.stdout
    assert "3 skipped" in done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {REQUIRE_ENV: "1"}])
def test_in_ci_missing_data_fails(tmp_path: Path, env: dict[str, str]) -> None:
    done = _run(tmp_path, **env)
    assert done.returncode == 1, done.stdout
    # a skipif mark skips during setup, so it surfaces as an error; pytest.skip() in the body as a failure
    assert "1 failed, 1 skipped, 1 error" in done.stdout
    assert "test_root_only" not in [line.split("::")[-1] for line in done.stdout.splitlines() if "FAILED" in line]
