"""In CI a test may not skip for want of something CI provides: ../shared, a tool, a service.

Locally a missing ../shared or tool skips (a laptop may not have them); with `CI` or COMMITLAKE_REQUIRE_SHARED
set, such a skip is reported as a failure instead, so a CI run that silently lost its data cannot pass green.
Which skips count: those whose reason says something is missing (see MISSING); others (a root-only test on a
non-root run) stay skips. Loaded by conftest.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["MISSING", "REQUIRE_ENV", "must_not_skip", "pytest_runtest_makereport", "strict"]

REQUIRE_ENV = "COMMITLAKE_REQUIRE_SHARED"
#: A skip reason naming something absent: the shared data, a tool, a server, a rendered file.
MISSING = re.compile(r"shared|not found|not installed|missing|no postgres|cannot find|not rendered", re.IGNORECASE)


def strict(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    ci = env.get("CI", "").strip().lower()
    return bool(env.get(REQUIRE_ENV)) or ci not in ("", "0", "false", "no")


def must_not_skip(reason: str, env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return strict(env) and MISSING.search(reason) is not None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = str(report.longrepr[2]).removeprefix("Skipped: ")
    if must_not_skip(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI ({REQUIRE_ENV} or CI is set), which must not happen: {reason}"
