"""Commit histories the fake serves: the real ones in ../shared/data/commits, or those cycled to any size.

A history is indexed newest first. Each entry keeps the original JSON line (with `stats`/`files`, which
only the single-commit endpoint returns); list items are derived on demand so memory stays modest.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

__all__ = ["COMMITS_DIR", "CycledHistory", "History", "LoadedHistory", "load_history"]

COMMITS_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "commits"


def _epoch(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return datetime.fromisoformat(value[:19] + "+00:00").timestamp()


class History(Protocol):
    def __len__(self) -> int: ...

    def sha(self, index: int) -> str: ...

    def committed_epoch(self, index: int) -> float: ...

    def list_item(self, index: int) -> bytes:
        """The list-commits item (no stats/files), as JSON bytes."""
        ...

    def detail(self, index: int) -> dict[str, Any]:
        """The single-commit object, with stats and files."""
        ...

    def index_of(self, sha: str) -> int | None: ...

    def parents(self, index: int) -> list[str]:
        """The parent shas of one commit (what makes the history a graph, not a list)."""
        ...


class LoadedHistory:
    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self._shas: list[str] = []
        self._epochs: list[float] = []
        self._parents: list[list[str]] = []
        for line in lines:
            obj = orjson.loads(line)
            self._shas.append(obj["sha"])
            self._epochs.append(_epoch(obj["commit"]["committer"]["date"]))
            self._parents.append([p["sha"] for p in obj.get("parents") or [] if isinstance(p, dict)])
        self._index = {sha: i for i, sha in enumerate(self._shas)}

    def __len__(self) -> int:
        return len(self._lines)

    def sha(self, index: int) -> str:
        return self._shas[index]

    def committed_epoch(self, index: int) -> float:
        return self._epochs[index]

    def list_item(self, index: int) -> bytes:
        obj = orjson.loads(self._lines[index])
        obj.pop("stats", None)
        obj.pop("files", None)
        return orjson.dumps(obj)

    def detail(self, index: int) -> dict[str, Any]:
        obj: dict[str, Any] = orjson.loads(self._lines[index])
        return obj

    def index_of(self, sha: str) -> int | None:
        return self._index.get(sha)

    def parents(self, index: int) -> list[str]:
        return list(self._parents[index])


@functools.lru_cache(maxsize=16)
def load_history(slug: str) -> LoadedHistory:
    """`owner__name` → its real history (cached: several tests serve the same files)."""
    with gzip.open(COMMITS_DIR / f"{slug}.jsonl.gz", "rb") as handle:
        return LoadedHistory([line.rstrip(b"\n") for line in handle if line.strip()])


def _altered(sha: str, cycle: int) -> str:
    return sha if cycle == 0 else hashlib.sha1(f"{cycle}:{sha}".encode()).hexdigest()


class CycledHistory:
    """`total` commits made by repeating `base` with altered shas (cycle 0 keeps the real ones).

    Cycle c holds the base history shifted c * span seconds into the past, so dates still fall newest first.
    """

    def __init__(self, base: LoadedHistory, total: int) -> None:
        self.base = base
        self.total = total
        n = len(base)
        self._span = base.committed_epoch(0) - base.committed_epoch(n - 1) + 86_400

    def __len__(self) -> int:
        return self.total

    def _split(self, index: int) -> tuple[int, int]:
        return divmod(index, len(self.base))

    def sha(self, index: int) -> str:
        cycle, i = self._split(index)
        return _altered(self.base.sha(i), cycle)

    def committed_epoch(self, index: int) -> float:
        cycle, i = self._split(index)
        return self.base.committed_epoch(i) - cycle * self._span

    def list_item(self, index: int) -> bytes:
        cycle, i = self._split(index)
        if cycle == 0:
            return self.base.list_item(i)
        obj = orjson.loads(self.base.list_item(i))
        obj["sha"] = _altered(obj["sha"], cycle)
        obj["parents"] = [{**p, "sha": _altered(p.get("sha", ""), cycle)} for p in obj.get("parents") or []]
        return orjson.dumps(obj)

    def detail(self, index: int) -> dict[str, Any]:
        cycle, i = self._split(index)
        obj = self.base.detail(i)
        obj["sha"] = _altered(obj["sha"], cycle)
        return obj

    def index_of(self, sha: str) -> int | None:
        return self.base.index_of(sha)  # cycle 0 only (the head a walk pins its pages to); altered shas: None

    def parents(self, index: int) -> list[str]:
        cycle, i = self._split(index)
        return [_altered(p, cycle) for p in self.base.parents(i)]
