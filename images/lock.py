"""Pin each image's dependencies to the versions the test suite runs with.

Why from the installed environment and not a fresh resolve: CI tests the project in .venv, so the images should
carry exactly those versions, not whatever PyPI resolves on the day of the build. For every optional-dependency
group that an image installs, this walks the requirement graph of `commitlake[<group>]` through the installed
distributions' metadata (markers evaluated for this interpreter) and writes `images/requirements/<group>.txt`.

    .venv/bin/python images/lock.py            # rewrite the lock files
    .venv/bin/python images/lock.py --check    # exit 1 if they differ from the environment
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: Image component → the pyproject group it installs (the image names come from commitlake.pipeline).
GROUPS: dict[str, str] = {"ingest": "ingest", "transform": "transform", "quality": "quality", "train": "ml"}
#: The venv tooling itself; pinned by the Dockerfiles' own base, never by a group.
_SKIP = {"pip", "setuptools", "wheel"}

HERE = Path(__file__).resolve().parent


def _applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def closure(root: str, extras: set[str]) -> dict[str, str]:
    """Installed name → version for everything `root[extras]` needs, excluding root itself."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    while todo:
        name, wanted = todo.pop()
        key = (canonicalize_name(name), frozenset(wanted))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is required by commitlake but not installed here; install the group") from None
        if canonicalize_name(name) != canonicalize_name(root):
            pins[dist.metadata["Name"]] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if _applies(req, wanted) and canonicalize_name(req.name) not in _SKIP:
                todo.append((req.name, set(req.extras)))
    return dict(sorted(pins.items(), key=lambda item: canonicalize_name(item[0])))


def render(group: str) -> str:
    lines = [
        f"# commitlake[{group}] pinned to the test environment: regenerate with `python images/lock.py`.",
        *(f"{name}=={version}" for name, version in closure("commitlake", {group}).items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    stale = []
    for group in sorted(set(GROUPS.values())):
        path = HERE / "requirements" / f"{group}.txt"
        text = render(group)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"stale: {path} (run python images/lock.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
