"""One lock for every install: the venv holds exactly uv.lock's versions, and the lock check catches drift."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import tomllib
from pathlib import Path

from packaging.utils import canonicalize_name

from locking import uv
from test_images import locked_set

ROOT = Path(__file__).resolve().parents[1]
#: Installed beside the locked set by the venv tooling itself, never by a dependency.
TOOLING = {"pip", "setuptools", "wheel"}


def test_venv_holds_exactly_the_locked_versions() -> None:
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extras = sorted(set(optional) - {"mutation"})  # `make mutation` adds that one, then drops the dev stamp
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    installed.pop("commitlake")
    for name in TOOLING:
        installed.pop(name, None)
    locked = locked_set(extras)
    assert len(locked) > 100  # every extra, not an empty export
    differences = {
        name: (installed.get(name), locked.get(name))
        for name in installed.keys() | locked.keys()
        if installed.get(name) != locked.get(name)
    }
    assert differences == {}, "installed vs locked (run `make test` to re-sync, `make lock` to move versions)"


def _project_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path


def _lock_check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([uv(), "lock", "--check", "--no-progress"], cwd=project, capture_output=True, text=True)


def test_lock_check_passes_on_the_committed_lock_and_fails_on_drift(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    clean = _lock_check(project)
    assert clean.returncode == 0, clean.stderr

    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    drifted = text.replace("dependencies = [\n", 'dependencies = [\n    "tabulate>=0.9",\n', 1)
    assert drifted != text
    pyproject.write_text(drifted)
    result = _lock_check(project)
    assert result.returncode != 0
    assert "needs to be updated" in result.stderr, result.stderr


def test_the_version_is_written_once_and_flows_everywhere() -> None:
    import re

    import yaml

    from commitlake import __version__

    assert importlib.metadata.version("commitlake") == __version__  # pyproject reads it (dynamic)
    assert "version" in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dynamic"]
    chart = yaml.safe_load((ROOT / "charts" / "commitlake" / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    rendered = (ROOT / "workflows" / "rendered" / "workflow-template.yaml").read_text()
    images = re.findall(r"image: (\S+)", rendered)
    assert images and all(image.endswith(f":{__version__}") for image in images)
    # Nothing hand-written repeats it: the Dockerfile and build script take it as an argument.
    for path in ("images/Dockerfile", "images/build.sh", "Makefile", "README.md"):
        assert __version__ not in (ROOT / path).read_text(), path


#: The imports every stage pays for at start-up (GX at validate, MLflow and skops at train and predict, scikit-learn
#: in every worker process, dbt at transform).
HEAVY_IMPORTS = ("great_expectations", "mlflow", "sklearn", "skops", "dbt.cli", "matplotlib")


def test_the_venv_carries_bytecode_for_what_the_stages_import() -> None:
    """`make` installs with UV_COMPILE_BYTECODE: without .pyc files, a machine with PYTHONDONTWRITEBYTECODE (CI's)
    compiles every imported module on every start: 18.6 s instead of 8.2 s to import GX here."""
    import importlib.util

    missing = []
    for name in HEAVY_IMPORTS:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        if not Path(importlib.util.cache_from_source(spec.origin)).is_file():
            missing.append(name)
    assert missing == [], f"no bytecode for {missing}: reinstall with `rm .venv/.installed-*; make test`"
