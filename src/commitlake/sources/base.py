"""What every source produces: batches of GitHub list-commits items for one repository.

Sources only produce records. They know nothing of the lake or the warehouse: the ingest stage hands them a
cursor (the incremental state it stored last time) and writes each batch they yield as one lake object.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = ["Batch", "Cursor", "Record", "Source", "SourceStats"]


@dataclass(frozen=True)
class Cursor:
    """Incremental state for one repository and branch, passed in as a value (dlt-style)."""

    #: Newest committer date seen so far (informative: merged commits keep older dates, so it is no cutoff).
    last_committed_at: datetime | None = None
    #: ETag of the first page of the last full answer, sent back as If-None-Match.
    etag: str | None = None
    #: The branch head whose every ancestor is in the lake: the next run asks only for what it lacks.
    head_sha: str | None = None
    #: Where a walk stopped by the request budget resumes (opaque to the stage, JSON-serialisable); None
    #: when the last walk finished. A rerun continues there instead of fetching the same commits again.
    resume: dict[str, Any] | None = None


@dataclass
class SourceStats:
    """What fetching cost; the ingest stage copies it into the run manifest and ops tables."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    skipped_reason: str | None = None
    #: Records passed on although the source could not parse them (the loader quarantines them): not commits.
    rejected: int = 0
    #: Bytes of the input that could not be read at all (a damaged file's tail), so were not passed on.
    unreadable_bytes: int = 0
    #: Why the source stopped before its end (e.g. a truncated gzip); what came before was still yielded.
    damage: str | None = None


#: One list-commits item: parsed (the API, git), or a line already in JSON-lines form (a file's line, passed on as
#: it is, valid or not: the loader judges it).
Record = dict[str, Any] | bytes


@dataclass
class Batch:
    """One page (API) or chunk (git/jsonl) of list-commits items, written as one lake object."""

    records: Sequence[Record]
    #: Extra provenance copied into the manifest entry of the object (e.g. the request URL).
    meta: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A repository to ingest. `kind` is the URI scheme; `repo` is `owner/name`."""

    uri: str
    kind: str
    repo: str
    branch: str | None
    stats: SourceStats

    def batches(self, cursor: Cursor | None) -> Iterator[Batch]:
        """Yield batches (a full walk newest first); a `cursor` asks only for what is new since it."""
        ...

    def next_cursor(self) -> Cursor | None:
        """The cursor to store after `batches` was fully consumed (None: nothing to store)."""
        ...
