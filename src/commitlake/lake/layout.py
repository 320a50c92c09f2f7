"""Where things go in the raw layer, and the manifest that marks an ingest as complete.

    raw/<source>/commits/repo=OWNER__NAME/ingest_date=YYYY-MM-DD/run_id=RUN/part-00000.jsonl.gz
    raw/<source>/commits/repo=OWNER__NAME/ingest_date=YYYY-MM-DD/run_id=RUN/_manifest.json
    raw/<source>/commits/repo=OWNER__NAME/branch=BRANCH/ingest_date=.../run_id=RUN/...   (a named branch)

A named branch (`github:o/r@dev`) gets its own `branch=` segment, percent-encoded, so two branches of one
repository in one run (or two Argo pods running them in parallel) never share a key or a manifest.

The manifest is written last: the loader only loads objects a manifest lists, so a crashed ingest leaves
nothing half-visible, and a rerun with the same run id writes the same keys again (idempotent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

import orjson

__all__ = [
    "MANIFEST_NAME",
    "Manifest",
    "ManifestObject",
    "branch_segment",
    "manifest_key",
    "part_key",
    "repo_slug",
    "run_prefix",
]

MANIFEST_NAME = "_manifest.json"


def repo_slug(repo: str) -> str:
    """`owner/name` → `owner__name` (a safe single path segment)."""
    return repo.replace("/", "__")


def branch_segment(branch: str) -> str:
    """A branch name as one safe path segment: `release/1.x` → `release%2F1%2Ex` (injective, no `/`, no `..`)."""
    return quote(branch, safe="-_").replace(".", "%2E").replace("~", "%7E")


def run_prefix(source_kind: str, repo: str, ingest_date: date, run_id: str, branch: str | None = None) -> str:
    """The folder of one source's objects in one run; `branch` None is the repository's default branch."""
    branch_part = f"branch={branch_segment(branch)}/" if branch else ""
    return (
        f"raw/{source_kind}/commits/repo={repo_slug(repo)}/{branch_part}"
        f"ingest_date={ingest_date.isoformat()}/run_id={run_id}/"
    )


def part_key(prefix: str, index: int) -> str:
    return f"{prefix}part-{index:05d}.jsonl.gz"


def manifest_key(prefix: str) -> str:
    return f"{prefix}{MANIFEST_NAME}"


@dataclass
class ManifestObject:
    key: str
    records: int
    sha256: str
    bytes: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    run_id: str
    source_uri: str
    source_kind: str
    repo: str
    branch: str | None
    started_at: str
    finished_at: str
    objects: list[ManifestObject] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(obj.records for obj in self.objects)

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        raw = orjson.loads(data)
        objects = [ManifestObject(**obj) for obj in raw.pop("objects", [])]
        return cls(objects=objects, **raw)
