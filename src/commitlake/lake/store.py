"""Object stores behind one small interface: put once, read, list.

Objects are immutable: `put_bytes` never overwrites different content, so a retried or resumed ingest can
only add objects. Local writes go to a temp file and rename (atomic on one filesystem); S3 writes are a
single PUT, which S3 makes visible all at once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from commitlake.errors import LakeError

__all__ = ["Lake", "LocalLake", "S3Lake", "open_lake"]


class Lake(Protocol):
    uri: str

    def put_bytes(self, key: str, data: bytes, *, replace: bool = False) -> None:
        """Write once. `replace` is only for objects no manifest has committed yet (a retried ingest)."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under `prefix`, in lexical order."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object no manifest lists (an orphaned part); a missing key is not an error."""
        ...


class LocalLake:
    """A directory on disk laid out exactly like the bucket would be."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.as_uri()

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise LakeError(f"invalid lake key {key!r}", transient=False)
        return self.root / key

    def put_bytes(self, key: str, data: bytes, *, replace: bool = False) -> None:
        path = self._path(key)
        if path.exists() and not replace:
            if path.read_bytes() == data:
                return
            raise _immutable(self.uri, key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            raise LakeError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise LakeError(f"cannot read {self.uri}/{key}: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        # "raw/a" is a prefix, not a folder: it covers raw/ab/ too (as S3 lists it), so walk from its parent
        start = base if not prefix or prefix.endswith("/") else base.parent
        if not start.is_dir():
            return
        keys = []
        for dirpath, _dirs, files in os.walk(start):
            for name in files:
                if name.startswith(".tmp-"):
                    continue
                key = os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/")
                if key.startswith(prefix):
                    keys.append(key)
        yield from sorted(keys)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
            for parent in path.parents:  # drop the folders it leaves empty, as a bucket has none
                if parent == self.root or not parent.is_relative_to(self.root) or any(parent.iterdir()):
                    break
                parent.rmdir()
        except FileNotFoundError:  # a concurrent sweep removed the same folder
            return
        except OSError as exc:
            raise LakeError(f"cannot delete {path}: {exc.strerror or exc}") from exc


class S3Lake:
    """A bucket and prefix on S3, MinIO or any S3-compatible server (path-style addressing)."""

    def __init__(self, bucket: str, prefix: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
            )
        self._s3 = client

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, action: str, key: str, exc: Exception) -> LakeError:
        return LakeError(f"cannot {action} {self.uri}/{key}: {exc}")

    def put_bytes(self, key: str, data: bytes, *, replace: bool = False) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if not replace and self.exists(key):
                existing = self.get_bytes(key)
                if existing == data:
                    return
                raise _immutable(self.uri, key)
            self._s3.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("write", key, exc) from exc

    def get_bytes(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
            return body
        except (BotoCoreError, ClientError) as exc:
            raise self._error("read", key, exc) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.head_object(Bucket=self.bucket, Key=self._full(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise self._error("stat", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("stat", key, exc) from exc

    def list_keys(self, prefix: str) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            paginator = self._s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
                for item in page.get("Contents", []):
                    yield item["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", prefix, exc) from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3.delete_object(Bucket=self.bucket, Key=self._full(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("delete", key, exc) from exc


def open_lake(uri: str, *, endpoint_url: str | None = None) -> Lake:
    """`file:///abs/dir`, a plain path, or `s3://bucket/prefix`."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise LakeError(f"lake URI {uri!r} names no bucket (expected s3://bucket/prefix)", transient=False)
        return S3Lake(parsed.netloc, parsed.path, endpoint_url=endpoint_url)
    if parsed.scheme in ("file", ""):
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
        return LocalLake(path.expanduser().absolute())  # a relative directory is relative to where commitlake runs
    raise LakeError(
        f"unsupported lake URI {uri!r}: use a directory, file:///dir or s3://bucket/prefix", transient=False
    )


def _immutable(uri: str, key: str) -> LakeError:
    """Writing other bytes under an existing key: a bug or a clash of runs, never worth a retry."""
    return LakeError(f"{uri}/{key} already exists with other content; lake objects are immutable", transient=False)
