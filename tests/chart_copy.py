"""A copy of charts/ with the umbrella chart's dependencies built, for the tests that render it with helm.

`helm dependency build` writes into the chart, so it runs on a temporary copy, never on the tree.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / ".tools" / "bin" / "helm"


@contextlib.contextmanager
def built_charts(prefix: str) -> Iterator[Path]:
    """Yields the copied charts/ directory; removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        shutil.copytree(ROOT / "charts", tmp / "charts", ignore=shutil.ignore_patterns("*.tgz", "Chart.lock"))
        result = subprocess.run([str(HELM), "dependency", "build", str(tmp / "charts" / "commitlake")],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        yield tmp / "charts"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
