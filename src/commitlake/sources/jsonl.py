"""`jsonl:PATH`: a file of GitHub list-commits items, one per line (gzip or plain).

The file name `OWNER__REPO.jsonl[.gz]` names the repository. Every line is passed on as its bytes, so the lake
holds exactly what the file had: a line that is not a JSON object (or not UTF-8) too, which the loader then
quarantines with its reason instead of this source dropping or altering it; `stats.rejected` counts those.

Why bytes and not parsed objects: ingest would only serialise them again. Keeping 10k parsed commits per chunk
alive made parsing 23 µs a line instead of 5, and parsing and serialising held the GIL for 43 % of a source's
ingest, so sources ingested side by side waited on each other; the lines are still parsed once here, and
dropped at once, to count the ones the loader will refuse.

A damaged file (a gzip stream cut short or corrupt part-way) is not all-or-nothing: the records before the
damage are yielded, and `stats.damage` / `stats.unreadable_bytes` say what could not be read, so the stage
reports the source as partial. The cursor's `etag` is the file's sha256: an unchanged file costs nothing on
the next run.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson

from commitlake.errors import SourceError
from commitlake.sources.base import Batch, Cursor, Record, SourceStats

__all__ = ["JsonlSource"]

CHUNK_RECORDS = 10_000
_BLOCK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_NAME = re.compile(r"^(?P<owner>[^_/][^/]*?)__(?P<name>[^/]+?)\.jsonl(?:\.gz)?$")


class _Damaged(Exception):
    """The file cannot be read past this point; `unread` compressed bytes were not decoded."""

    def __init__(self, reason: str, unread: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unread = unread


def _contents(path: Path) -> Iterator[bytes]:
    """The file's bytes, gunzipped (multi-member too) when it starts with the gzip magic, in blocks.

    Raises `_Damaged` after the last block that could be decoded, so the caller keeps what came before.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        data = handle.read(_BLOCK)
        if data[:2] != _GZIP_MAGIC:
            while data:
                yield data
                data = handle.read(_BLOCK)
            return
        inflater = zlib.decompressobj(wbits=31)
        fed = 0  # compressed bytes handed to the current inflater's predecessors and itself
        while True:
            if not data:
                data = handle.read(_BLOCK)
                if not data:
                    break
            try:
                out = inflater.decompress(data)
            except zlib.error as exc:
                raise _Damaged(f"corrupt gzip data ({exc})", size - fed) from exc
            fed += len(data)
            if out:
                yield out
            data = b""
            if inflater.eof:  # one gzip member ended: what follows (if anything) is the next one
                data = inflater.unused_data
                fed -= len(data)
                if not data:
                    data = handle.read(_BLOCK)
                    if not data:
                        return
                inflater = zlib.decompressobj(wbits=31)
        raise _Damaged("truncated gzip (the file ends before the end of its compressed stream)", 0)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
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

    def _record(self, line: bytes) -> bytes:
        """The line as it is; counted as rejected unless it is a JSON object in UTF-8 (orjson refuses the rest)."""
        try:
            is_object = type(orjson.loads(line)) is dict
        except orjson.JSONDecodeError:
            is_object = False
        if not is_object:
            self.stats.rejected += 1
        return line

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        try:
            self._digest = _file_digest(self.path)
        except OSError as exc:
            raise SourceError(f"{self.uri}: cannot read {self.path}: {exc.strerror or exc}") from exc
        if cursor is not None and cursor.etag == self._digest:
            self.stats.not_modified += 1
            return
        meta = {"path": str(self.path)}
        chunk: list[Record] = []
        tail = b""
        line_no = 0
        try:
            for block in _contents(self.path):
                lines = (tail + block).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    line_no += 1
                    if line.strip():
                        chunk.append(self._record(line))
                        if len(chunk) >= self.chunk_records:
                            yield Batch(chunk, meta)
                            chunk = []
        except _Damaged as exc:
            # the partial line before the damage is unreadable too; everything before it goes on
            self.stats.unreadable_bytes += exc.unread + len(tail)
            self.stats.damage = f"{exc.reason}: {line_no} lines read, the rest is unreadable"
            tail = b""
        except OSError as exc:
            raise SourceError(f"{self.uri}: cannot read {self.path}: {exc.strerror or exc}") from exc
        if tail.strip():  # an intact file's last line without a newline
            chunk.append(self._record(tail))
        if chunk:
            yield Batch(chunk, meta)
        if self.stats.damage and line_no == 0 and not chunk:
            raise SourceError(f"{self.uri}: cannot read {self.path}: {self.stats.damage}")

    def next_cursor(self) -> Cursor | None:
        # a damaged file is read again next time, so its damage is reported again until someone fixes it
        return Cursor(etag=self._digest) if self._digest and not self.stats.damage else None
