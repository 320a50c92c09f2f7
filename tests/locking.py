"""Where the tests find uv: the copy `make` bootstraps into .tools/uv, else one on PATH."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def uv() -> str:
    local = ROOT / ".tools" / "uv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.fail("uv not found: `make .venv/.installed-dev` bootstraps it into .tools/uv")
    return found
