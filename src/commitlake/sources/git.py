"""`git:PATH`: a local clone read with `git log`, shaped like GitHub list-commits items with files and stats.

Offline and free: per-file stats come from `--numstat` (merges against their first parent, as the API
does), statuses from `--raw`, both with git's default rename detection (`-M`, 50 % similarity), so a moved
file is one `renamed` entry with its `previous_filename` and the rename's own line counts, as GitHub reports
it, not an add plus a delete. `-z` keeps every path exact (no C-quoting of odd names).

The cursor's `etag` is the HEAD sha: an unchanged clone costs nothing, and after new commits only
`<old head>..HEAD` is read (a rewritten history falls back to a full read; the loader de-duplicates).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from commitlake.errors import SourceError
from commitlake.sources.base import Batch, Cursor, SourceStats

__all__ = ["GitSource", "repo_from_remote"]

CHUNK_RECORDS = 5_000
_RECORD = "\x1e"
_FIELD = "\x1f"
_FORMAT = _RECORD + _FIELD.join(["%H", "%T", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%B"]) + _FIELD
#: git's --raw status letters → GitHub's file `status` (T: type change, e.g. file ↔ symlink).
_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}
_REMOTE = re.compile(r"(?:github\.com[:/]|^https?://[^/]+/)(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/?$")


def repo_from_remote(url: str | None, fallback_dir: Path) -> str:
    """owner/name from the origin remote; `local/<dir>` for clones without a recognisable remote."""
    if url:
        match = _REMOTE.search(url.strip())
        if match:
            return f"{match['owner']}/{match['name']}"
    return f"local/{fallback_dir.name}"


def _to_int(value: str) -> int:
    return int(value) if value.isdigit() else 0  # "-" for binary files


def _files(tail: str) -> list[dict[str, Any]]:
    """GitHub-shaped `files` from one commit's `-z --raw --numstat` output.

    Raw entries come first (`:modes shas STATUS\0path\0`, or `\0old\0new\0` for R/C), then numstat entries
    (`added\tremoved\tpath\0`, or `added\tremoved\t\0old\0new\0` for a rename), in the same order.
    """
    tokens = tail.split("\0")
    statuses: dict[str, tuple[str, str | None]] = {}
    files: list[dict[str, Any]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i].lstrip("\n")
        i += 1
        if token.startswith(":"):
            letter = token.rsplit(" ", 1)[-1][:1]
            if letter in "RC":
                statuses[tokens[i + 1]] = (_STATUS[letter], tokens[i])
                i += 2
            else:
                statuses[tokens[i]] = (_STATUS.get(letter, "modified"), None)
                i += 1
        elif token.count("\t") >= 2:
            added, removed, name = token.split("\t", 2)
            previous = None
            if not name:  # a rename or copy: the old and new paths follow
                previous, name = tokens[i], tokens[i + 1]
                i += 2
            status, old = statuses.get(name, ("modified", None))
            item: dict[str, Any] = {
                "filename": name,
                "additions": _to_int(added),
                "deletions": _to_int(removed),
                "changes": _to_int(added) + _to_int(removed),
                "status": status,
            }
            if previous or old:
                item["previous_filename"] = previous or old
            files.append(item)
    return files


class GitSource:
    kind = "git"

    def __init__(self, uri: str, path: Path, *, chunk_records: int = CHUNK_RECORDS) -> None:
        self.uri = uri
        self.stats = SourceStats()
        self.chunk_records = chunk_records
        self.branch: str | None = None
        top = self._git(path, "rev-parse", "--show-toplevel", check_path=path).strip()
        self.path = Path(top)
        remote = self._git(self.path, "config", "--get", "remote.origin.url", allow_fail=True)
        self.repo = repo_from_remote(remote, self.path)
        self._head: str | None = None

    def _git(self, cwd: Path, *args: str, allow_fail: bool = False, check_path: Path | None = None) -> str:
        if check_path is not None and not check_path.exists():
            raise SourceError(f"{self.uri}: no such directory {check_path}")
        try:
            result = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
        except FileNotFoundError as exc:
            raise SourceError(f"{self.uri}: the git command is not installed") from exc
        if result.returncode != 0 and not allow_fail:
            raise SourceError(f"{self.uri}: {cwd} is not a readable git clone ({result.stderr.strip()})")
        return result.stdout if result.returncode == 0 else ""

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        head = self._git(self.path, "rev-parse", "HEAD", allow_fail=True).strip()
        if not head:
            return  # a clone with no commits yet
        self._head = head
        revision = "HEAD"
        if cursor is not None and cursor.etag:
            if cursor.etag == head:
                self.stats.not_modified += 1
                return
            is_ancestor = subprocess.run(
                ["git", "-C", str(self.path), "merge-base", "--is-ancestor", cursor.etag, head], capture_output=True
            )
            if is_ancestor.returncode == 0:
                revision = f"{cursor.etag}..HEAD"
        yield from self._log(revision)

    def _log(self, revision: str) -> Iterator[Batch]:
        args = [
            "git", "-C", str(self.path), "-c", "core.quotepath=off", "log", revision, "--no-color", "-z",
            "--find-renames", "--diff-merges=first-parent", "--raw", "--numstat", f"--format={_FORMAT}",
        ]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
        assert proc.stdout is not None
        chunk: list[dict[str, Any]] = []
        buffer = ""
        for block in iter(lambda: proc.stdout.read(1 << 16), ""):  # type: ignore[union-attr]
            buffer += block
            parts = buffer.split(_RECORD)
            buffer = parts.pop()
            for part in parts:
                if part.strip():
                    chunk.append(self._parse(part))
                    if len(chunk) >= self.chunk_records:
                        yield Batch(chunk, {"revision": revision})
                        chunk = []
        if buffer.strip():
            chunk.append(self._parse(buffer))
        if proc.wait() != 0:
            raise SourceError(f"{self.uri}: git log failed: {proc.stderr.read().strip() if proc.stderr else ''}")
        if chunk:
            yield Batch(chunk, {"revision": revision})

    @staticmethod
    def _parse(part: str) -> dict[str, Any]:
        fields = part.split(_FIELD)
        sha, tree, parents, an, ae, ad, cn, ce, cd, message = fields[:10]
        files = _files(fields[10] if len(fields) > 10 else "")
        additions = sum(f["additions"] for f in files)
        deletions = sum(f["deletions"] for f in files)
        return {
            "sha": sha,
            "node_id": None,
            "commit": {
                "author": {"name": an, "email": ae, "date": ad},
                "committer": {"name": cn, "email": ce, "date": cd},
                "message": message.rstrip("\n"),
                "tree": {"sha": tree},
                "comment_count": 0,
                "verification": None,
            },
            "author": None,
            "committer": None,
            "parents": [{"sha": p} for p in parents.split()],
            "stats": {"additions": additions, "deletions": deletions, "total": additions + deletions},
            "files": files,
        }

    def next_cursor(self) -> Cursor | None:
        return Cursor(etag=self._head) if self._head else None
