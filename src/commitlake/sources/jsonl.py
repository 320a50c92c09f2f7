"""`jsonl:PATH`: a file of GitHub list-commits items, one per line (gzip or plain).

The file name `OWNER__REPO.jsonl[.gz]` names the repository. Lines are passed on as parsed objects; a line
that is not JSON is kept as a record `{"_unparsed": <text>}` so the loader quarantines it with its line
number instead of this source silently dropping it. The cursor's `etag` is the file's sha256: an
unchanged file costs nothing on the next run.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from commitlake.errors import SourceError
from commitlake.sources.base import Batch, Cursor, SourceStats

__all__ = ["JsonlSource"]

CHUNK_RECORDS = 10_000
_NAME = re.compile(r"^(?P<owner>[^_/][^/]*?)__(?P<name>[^/]+?)\.jsonl(?:\.gz)?$")


def _open(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    handle: Any = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115
    return handle


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class JsonlSource:
    kind = "jsonl"

    def __init__(self, uri: str, path: Path, *, chunk_records: int = CHUNK_RECORDS) -> None:
        self.uri = uri
        self.path = path
        self.branch: str | None = None
        self.stats = SourceStats()
        self.chunk_records = chunk_records
        match = _NAME.match(path.name)
        if not match:
            raise SourceError(
                f"{uri}: file name must be OWNER__REPO.jsonl or OWNER__REPO.jsonl.gz to name the repository"
            )
        self.repo = f"{match['owner']}/{match['name']}"
        if not path.is_file():
            raise SourceError(f"{uri}: no such file {path}")
        self._digest: str | None = None
        self._newest: str | None = None

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        try:
            self._digest = _file_digest(self.path)
        except OSError as exc:
            raise SourceError(f"{self.uri}: cannot read {self.path}: {exc.strerror or exc}") from exc
        if cursor is not None and cursor.etag == self._digest:
            self.stats.not_modified += 1
            return
        chunk: list[dict[str, Any]] = []
        try:
            with _open(self.path) as handle:
                for line_no, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = orjson.loads(line)
                        if not isinstance(record, dict):
                            raise ValueError("not an object")
                    except (orjson.JSONDecodeError, ValueError):
                        record = {"_unparsed": line.decode("utf-8", "replace").rstrip("\n"), "_line": line_no}
                    chunk.append(record)
                    if len(chunk) >= self.chunk_records:
                        yield Batch(chunk, {"path": str(self.path)})
                        chunk = []
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{self.uri}: cannot read {self.path}: {exc}") from exc
        if chunk:
            yield Batch(chunk, {"path": str(self.path)})

    def next_cursor(self) -> Cursor | None:
        return Cursor(etag=self._digest) if self._digest else None
