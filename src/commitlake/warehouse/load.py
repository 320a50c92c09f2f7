"""Load lake objects into raw.github_commits exactly once, at COPY speed, with bad records quarantined.

How exactly-once works:

- Only objects listed in a `_manifest.json` are loaded (the ingest stage writes the manifest last, so a crashed
  ingest leaves nothing loadable half-written).
- Each object is one transaction: COPY its good rows straight into raw.github_commits, COPY its rejects into
  raw.rejected_records, insert its ledger row into ops.loaded_objects, commit. A kill -9 anywhere leaves
  either the whole object or nothing; the rerun skips what the ledger holds and redoes the rest.
- A session advisory lock lets one loader run at a time. A loader waits for it at most `lock_wait_s` (by
  default half the load stage's deadline, so a waiting pod gives up well before Argo kills it) and then fails
  with a transient WarehouseError: the CLI exits EXIT_TRANSIENT and Argo retries the stage later. One loader
  at a time is what makes the fast path safe: the set of
  shas already loaded per repository is read once, when the repository is first touched, and kept current in
  memory, so rows that would violate the primary key (duplicates inside an object, between objects, or
  against earlier loads) are dropped and counted as `duplicates` instead of needing a staging table and
  INSERT ... ON CONFLICT (bench/bench_load.py measures both). If a row written by something else than this loader still
  collides, the object is retried once with that repository's shas re-read.
- The first object that holds a commit wins: raw is append-only, later copies are duplicates.

Why the COPY stream carries the original line bytes: re-serialising a million parsed payloads would double the
Python work; jsonb normalises the text anyway. Only the COPY text escapes are applied (backslash, and tab/CR
which JSON allows as whitespace).

Why two passes at most: a full Python parse of every line (15-20 µs for a 1.3 kB commit) takes CPU that Postgres'
COPY needs too on a busy 2-core box, where the two costs add up instead of overlapping. So a group is first
loaded on the fast path (`check_line_fast`: only sha and dates are decoded; Postgres' jsonb input judges the
rest), with the COPY data handed to a writer thread so Python prepares the next block while libpq waits on the
socket. If Postgres refuses the group (a NUL escape, invalid UTF-8 or bad JSON in a field the fast path
skipped), the transaction is rolled back and the group is loaded again through the strict `check_line`, which
quarantines each bad record with its reason.

Why several COPY streams (`streams`, COMMITLAKE_LOAD_STREAMS, default min(2, cpus)): Postgres parses jsonb on
one core per COPY, which is most of a load's CPU; one stream leaves a second core to Python's much smaller
share. With more, the leader thread still parses every group in order and alone keeps the known shas, while
worker connections COPY the groups it has prepared, each in its own transaction (rows, rejects and ledger rows
together, as above). A worker commits only after the group before it committed, so the database always holds
a prefix of the groups, as with one stream; a group that fails rolls back the ones after it, whose shas are
taken back, and those groups are loaded again one by one on the leader's connection, exactly as one stream
would. The leader's session holds the loader lock throughout, and a worker commits only after checking, in
its transaction, that it still does (if the leader's session was killed, another loader may have started).
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from commitlake.config import DEFAULT_LOAD_STREAMS
from commitlake.errors import LakeError, WarehouseError
from commitlake.faults import fault_point
from commitlake.lake import MANIFEST_NAME, Lake, Manifest
from commitlake.logs import get_logger
from commitlake.pipeline import stage_by_name
from commitlake.warehouse.locks import Lock
from commitlake.warehouse.quarantine import (
    Accepted,
    DateWindow,
    Rejected,
    check_line,
    check_line_fast,
    date_window,
    original_text,
)
from commitlake.warehouse.runs import INSERT_LOADED_OBJECT, loaded_keys

__all__ = [
    "GROUP_RECORDS",
    "LOADER_LOCK",
    "LOCK_WAIT_SECONDS",
    "LoadReport",
    "ObjectResult",
    "load_lake",
]

# pg_advisory_lock key held for the whole load: one loader per database at a time.
LOADER_LOCK = int(Lock.LOADER)
#: How long a loader waits for LOADER_LOCK: half the load stage's deadline leaves the other half to load.
LOCK_WAIT_SECONDS = stage_by_name("load").timeout_seconds / 2
_CHUNK_BYTES = 128 << 10  # COPY payload queued at once (psycopg splits bigger writes into copies of this size)
_INFLATE_BYTES = 4 << 20  # decompressed bytes produced per step, bounds memory for big objects
GROUP_RECORDS = 10_000  # records per transaction, roughly (objects are never split)
_GROUP_BYTES = 32 << 20  # compressed bytes per transaction, at most about this
_FETCH_THREADS = 4
_FETCH_AHEAD = 16
_STREAM_QUEUE_CHUNKS = 512  # COPY text queued per stream, at most 512 x 128 kB: a 10,000-record group fits

_COPY_COMMITS = (
    "copy raw.github_commits (sha, authored_at, committed_at, line_no, payload,"
    " repo_full_name, source_kind, lake_key, run_id) from stdin"
)
_COPY_REJECTS = (
    "copy raw.rejected_records (lake_key, line_no, reason, detail, original_text, original_bytes, run_id) from stdin"
)

_log = get_logger("warehouse.load")


@dataclass
class ObjectResult:
    """What happened to one object; handed to the progress callback."""

    key: str
    status: str  # loaded | skipped | failed
    records: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class LoadReport:
    objects_seen: int = 0
    objects_loaded: int = 0
    objects_skipped: int = 0
    rows_inserted: int = 0
    duplicates: int = 0
    records: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    # Objects that could not be loaded (corrupt gzip, checksum mismatch): left out of the ledger, so the
    # next run tries again; the caller decides whether that fails the stage.
    objects_failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rejected_total": self.rejected_total}


Progress = Callable[[int, int, ObjectResult], None]


@dataclass(frozen=True)
class _Pending:
    key: str
    repo: str
    source_kind: str
    sha256: str | None
    records: int | None


class _Collision(Exception):
    """A row collided with one this loader did not know about; retry the object with fresh shas."""


def _copy_text(value: str) -> bytes:
    """A constant column value in COPY text format."""
    escaped = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return escaped.encode("utf-8")


def _object_key(manifest_key: str, key: str) -> str:
    """Manifest entries hold full lake keys; tolerate ones relative to the manifest's folder."""
    if "/" in key:
        return key
    return manifest_key[: manifest_key.rfind("/") + 1] + key


def _discover(lake: Lake, prefix: str) -> list[_Pending]:
    """Every object some manifest lists, in manifest key order (older ingest dates first), each once."""
    seen: set[str] = set()
    pending: list[_Pending] = []
    for key in lake.list_keys(prefix):
        if not key.endswith("/" + MANIFEST_NAME):
            continue
        try:
            manifest = Manifest.from_bytes(lake.get_bytes(key))
        except (ValueError, TypeError) as exc:
            raise LakeError(f"manifest {key} is unreadable: {exc}", transient=False) from exc
        for obj in manifest.objects:
            full = _object_key(key, obj.key)
            if full in seen:
                continue
            seen.add(full)
            pending.append(_Pending(full, manifest.repo, manifest.source_kind, obj.sha256 or None, obj.records))
    return pending


def _inflate(data: bytes) -> Iterator[bytes]:
    """The object's bytes, decompressed in bounded steps if gzip (multi-member too), else as they are."""
    if data[:2] != b"\x1f\x8b":
        yield data
        return
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        chunk = inflater.decompress(rest, _INFLATE_BYTES)
        while chunk:
            yield chunk
            chunk = inflater.decompress(inflater.unconsumed_tail, _INFLATE_BYTES)
        if not inflater.eof:
            raise LakeError("truncated gzip stream", transient=False)
        rest = inflater.unused_data


def _lines(data: bytes) -> Iterator[list[bytes]]:
    """Lists of complete lines (without newline) from the object; line numbers follow from their order."""
    tail = b""
    for chunk in _inflate(data):
        lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
        tail = lines.pop()
        yield lines
    if tail:
        yield [tail]


def _lossy_as_text(line: bytes) -> bool:
    """original_text would alter this line (invalid UTF-8 or NUL bytes): keep its bytes as well."""
    if b"\x00" in line:
        return True
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _blank(line: bytes) -> bool:
    return not line or line.isspace()


class _Loader:
    def __init__(self, conn: psycopg.Connection[Any], lake: Lake, run_id: str, window: DateWindow) -> None:
        self.conn = conn
        self.lake = lake
        self.run_id = run_id
        self.window = window
        self.shas: dict[str, set[str]] = {}

    def _repo_shas(self, repo: str, *, refresh: bool = False) -> set[str]:
        """The shas raw.github_commits holds for `repo`, read once (COPY: a repository may hold millions)."""
        known = self.shas.get(repo)
        if known is None or refresh:
            known = set()
            with (
                self.conn.cursor() as cur,
                cur.copy(
                    sql.SQL("copy (select sha from raw.github_commits where repo_full_name = {}) to stdout").format(
                        sql.Literal(repo)
                    )
                ) as copy,
            ):
                tail = b""
                for block in copy:
                    parts = (tail + bytes(block)).split(b"\n")
                    tail = parts.pop()
                    known.update(part.decode() for part in parts)
            self.conn.commit()
            self.shas[repo] = known
        return known

    def load(self, group: list[tuple[_Pending, bytes]]) -> list[ObjectResult]:
        """Load a group of objects in one transaction; if one of them is unreadable, each on its own."""
        started = time.perf_counter()
        results, ready = _verify(group)
        if not ready:
            return results
        try:
            try:
                loaded = self._load_retrying(ready, strict=False)
            except psycopg.errors.DataError as exc:
                # something the fast path did not look at: judge every line strictly, quarantining the culprits
                keys = [item.key for item, _, _ in ready]
                _log.info("load_strict_retry", keys=keys, error=str(exc).strip().splitlines()[0])
                loaded = self._load_retrying(ready, strict=True)
        except (LakeError, zlib.error, psycopg.errors.DataError) as exc:
            # an unreadable object, or a value Postgres refuses that the checks let through: load the group's
            # objects one by one so only the culprit is left out (and retried by the next run)
            if len(ready) == 1:
                return [*results, ObjectResult(ready[0][0].key, "failed", error=str(exc))]
            loaded = []
            for one in ready:
                loaded.extend(self.load([(one[0], one[1])]))
        elapsed = time.perf_counter() - started
        for result in loaded:
            result.seconds = elapsed
        return results + loaded

    def _load_retrying(self, ready: list[tuple[_Pending, bytes, str]], *, strict: bool) -> list[ObjectResult]:
        try:
            return self._load_once(ready, strict=strict)
        except _Collision:
            _log.warning("load_collision_retry", keys=[item.key for item, _, _ in ready])
            for repo in {item.repo for item, _, _ in ready}:
                self._repo_shas(repo, refresh=True)
            return self._load_once(ready, strict=strict)

    def _load_once(self, ready: list[tuple[_Pending, bytes, str]], *, strict: bool) -> list[ObjectResult]:
        """One transaction: the group's rows, its rejects and its ledger rows, or nothing at all."""
        batch = _Batch(self.run_id, self.window, check_line if strict else check_line_fast)
        for repo in {item.repo for item, _, _ in ready}:
            self._repo_shas(repo)  # outside the transaction: it commits
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                with cur.copy(_COPY_COMMITS, writer=QueuedLibpqWriter(cur)) as copy:
                    for item, data, _digest in ready:
                        batch.add_object(item, data, self._repo_shas(item.repo), copy.write)
                    batch.flush(copy.write)
                _finish(cur, batch, ready)
        except BaseException as exc:
            batch.forget()  # the transaction is gone, so are its shas
            if isinstance(exc, psycopg.errors.UniqueViolation) and "github_commits" in str(exc):
                raise _Collision() from exc
            raise
        return _counted(ready, batch)


def _verify(group: list[tuple[_Pending, bytes]]) -> tuple[list[ObjectResult], list[tuple[_Pending, bytes, str]]]:
    """The group's objects whose bytes match their manifest's sha256 (with it), and failures for the others."""
    failed: list[ObjectResult] = []
    ready: list[tuple[_Pending, bytes, str]] = []
    for item, data in group:
        digest = hashlib.sha256(data).hexdigest()
        if item.sha256 and digest != item.sha256:
            failed.append(ObjectResult(item.key, "failed", error=f"sha256 {digest} differs from the manifest's"))
        else:
            ready.append((item, data, digest))
    return failed, ready


def _finish(cur: psycopg.Cursor[Any], batch: _Batch, ready: list[tuple[_Pending, bytes, str]]) -> None:
    """Inside the group's transaction, after its rows: its rejects, then its ledger rows."""
    if batch.rejects:
        with cur.copy(_COPY_REJECTS) as copy:
            for row in batch.rejects:
                copy.write_row(row)
    fault_point("load.after_copy")
    cur.executemany(INSERT_LOADED_OBJECT, batch.ledger_rows(ready))
    fault_point("load.before_ledger_commit")


def _counted(ready: list[tuple[_Pending, bytes, str]], batch: _Batch) -> list[ObjectResult]:
    """The committed group's results, warning about objects whose record count differs from the manifest's."""
    for (item, _data, _digest), result in zip(ready, batch.results, strict=True):
        if item.records is not None and item.records != result.records:
            _log.warning("manifest_count_mismatch", key=item.key, manifest=item.records, found=result.records)
    return batch.results


Check = Callable[[bytes, DateWindow], "Accepted | Rejected"]


class _Batch:
    """The COPY text of one transaction's objects, built a chunk at a time, with what it rejected and counted.

    Shas it adds to the loader's known sets are remembered so a rolled-back transaction can take them back.
    """

    def __init__(self, run_id: str, window: DateWindow, check: Check) -> None:
        self.run_id = run_id
        self.window = window
        self.check = check
        self.out = bytearray()
        self.added: list[tuple[set[str], str]] = []
        self.results: list[ObjectResult] = []
        self.rejects: list[tuple[str, int, str, str, str, bytes | None, str]] = []

    def add_object(self, item: _Pending, data: bytes, known: set[str], write: Callable[[bytes], None]) -> None:
        """Append the object's new rows (writing every full chunk), quarantine its bad lines, count it."""
        suffix = b"\t" + b"\t".join(_copy_text(v) for v in (item.repo, item.source_kind, item.key, self.run_id))
        suffix += b"\n"
        result = ObjectResult(item.key, "loaded")
        out, check, window = self.out, self.check, self.window
        line_no = 0
        for lines in _lines(data):
            for line in lines:
                line_no += 1
                if line[:1] != b"{" and _blank(line):
                    continue
                result.records += 1
                res = check(line, window)
                if isinstance(res, Rejected):
                    self._reject(item.key, line_no, line, res, result)
                    continue
                sha = res[0]
                if sha in known:
                    result.duplicates += 1
                    continue
                known.add(sha)
                self.added.append((known, sha))
                result.inserted += 1
                out += f"{sha}\t{res[1]}\t{res[2]}\t{line_no}\t".encode()
                out += _copy_escaped(line)
                out += suffix
                if len(out) >= _CHUNK_BYTES:
                    self.flush(write)
        self.results.append(result)

    def _reject(self, key: str, line_no: int, line: bytes, res: Rejected, result: ObjectResult) -> None:
        raw = line if res.original is None else res.original.encode("utf-8", "surrogateescape")
        lossy = raw if _lossy_as_text(raw) else None
        self.rejects.append((key, line_no, res.reason, res.detail, original_text(raw), lossy, self.run_id))
        result.rejected[res.reason] += 1

    def flush(self, write: Callable[[bytes], None]) -> None:
        if self.out:
            write(bytes(self.out))  # the writer thread holds it: hand over a frozen copy
            self.out.clear()

    def ledger_rows(self, ready: list[tuple[_Pending, bytes, str]]) -> list[tuple[Any, ...]]:
        return [
            (item.key, self.run_id, r.records, r.inserted, r.duplicates, r.rejected.total(), digest)
            for (item, _data, digest), r in zip(ready, self.results, strict=True)
        ]

    def forget(self) -> None:
        for known, sha in self.added:
            known.discard(sha)
        self.added.clear()


def _copy_escaped(line: bytes) -> bytes:
    """A JSON line as one COPY text field: only backslash, tab and CR need escaping (JSON has no raw newline)."""
    if b"\\" in line:
        line = line.replace(b"\\", b"\\\\")
    if b"\t" in line or b"\r" in line:
        line = line.replace(b"\t", b"\\t").replace(b"\r", b"\\r")
    return line


# A stream commits only while the leader's session holds LOADER_LOCK (a bigint key: high and low 32 bits).
_LEADER_HOLDS_LOCK = (
    "select 1 from pg_locks where locktype = 'advisory' and pid = %s and granted"
    f" and classid = {LOADER_LOCK >> 32} and objid = {LOADER_LOCK & 0xFFFFFFFF} and objsubid = 1"
)


class _Abandoned(Exception):
    """A stream rolled its group back: the group before it failed, or the leader could not read the group."""


class _Ticket:
    """One group on its way through a stream. The leader writes its COPY text into `chunks` (bounded, so a huge
    object cannot fill memory) and a stream thread copies it out; the stream commits only after the group
    before it committed, so the database always holds a prefix of the groups, exactly as with one stream."""

    def __init__(self, ready: list[tuple[_Pending, bytes, str]], batch: _Batch, prev: _Ticket | None) -> None:
        self.ready = ready
        self.batch = batch
        self.prev = prev
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_STREAM_QUEUE_CHUNKS)
        self.unreadable = False  # set by the leader before its end-of-data None
        self.ended = False  # the stream has taken the end-of-data None
        self.done = threading.Event()
        self.committed = False
        self.error: BaseException | None = None
        self.started = time.perf_counter()

    def take(self) -> bytes | None:
        chunk = self.chunks.get()
        self.ended = chunk is None
        return chunk

    def drain(self) -> None:
        """Take the rest of the COPY text, so a leader still writing it is not left blocked."""
        while not self.ended:
            self.take()


class _Streams:
    """Several worker connections COPYing groups at once while the leader thread parses the next one.

    Why: Postgres parses jsonb on one core per COPY stream, so one stream leaves the second core of a small box
    to Python alone. Only the leader touches the known-sha sets, in group order as one stream would; a group
    that fails (or is rolled back because one before it failed) is taken back and loaded again through
    `_Loader.load`, one group at a time, on the leader's connection.
    """

    def __init__(self, loader: _Loader, conns: list[psycopg.Connection[Any]], pool: ThreadPoolExecutor) -> None:
        self.loader = loader
        self.leader_pid = loader.conn.info.backend_pid
        self.free: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
        for conn in conns:
            self.free.put(conn)
        self.streams = len(conns)
        self.pool = pool
        self.last: _Ticket | None = None

    def run(self, groups: Iterator[list[tuple[_Pending, bytes]]]) -> Iterator[ObjectResult]:
        inflight: deque[_Ticket] = deque()
        for group in groups:
            failed, ready = _verify(group)
            yield from failed
            if not ready:
                continue
            if len(inflight) == self.streams:
                yield from self._settle(inflight)
            inflight.append(self._dispatch(ready))
        while inflight:
            yield from self._settle(inflight)

    def _dispatch(self, ready: list[tuple[_Pending, bytes, str]]) -> _Ticket:
        """Hand the group to a stream and write its COPY text; an unreadable object abandons the group."""
        loader = self.loader
        for repo in {item.repo for item, _, _ in ready}:
            loader._repo_shas(repo)  # before the stream starts: reading commits on the leader's connection
        batch = _Batch(loader.run_id, loader.window, check_line_fast)
        ticket = _Ticket(ready, batch, self.last)
        self.last = ticket
        self.pool.submit(self._stream, ticket)
        try:
            for item, data, _digest in ready:
                batch.add_object(item, data, loader._repo_shas(item.repo), ticket.chunks.put)
            batch.flush(ticket.chunks.put)
        except BaseException as exc:
            ticket.unreadable = True
            ticket.chunks.put(None)
            if not isinstance(exc, LakeError | zlib.error):
                raise
        else:
            ticket.chunks.put(None)
        return ticket

    def _stream(self, ticket: _Ticket) -> None:
        """Runs in a stream thread: the group's transaction, committed in group order, or rolled back."""
        conn = self.free.get()
        try:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(_COPY_COMMITS) as copy:
                    while (chunk := ticket.take()) is not None:
                        copy.write(chunk)
                if ticket.unreadable:
                    raise _Abandoned("an object of the group could not be read")
                _finish(cur, ticket.batch, ticket.ready)
                if ticket.prev is not None:
                    ticket.prev.done.wait()
                    if not ticket.prev.committed:
                        raise _Abandoned("the group before this one was not committed")
                if not cur.execute(_LEADER_HOLDS_LOCK, [self.leader_pid]).fetchone():
                    raise _Abandoned("the leader's session no longer holds the loader lock")
            ticket.committed = True
        except BaseException as exc:
            ticket.error = exc
            ticket.drain()
        finally:
            ticket.prev = None  # let a long chain of settled tickets be freed
            ticket.done.set()
            self.free.put(conn)

    def _settle(self, inflight: deque[_Ticket]) -> list[ObjectResult]:
        """The oldest group's results once it committed; if it did not, every group in flight again, one by one."""
        ticket = inflight.popleft()
        ticket.done.wait()
        if ticket.committed:
            results = _counted(ticket.ready, ticket.batch)
            for result in results:
                result.seconds = time.perf_counter() - ticket.started
            return results
        rest = [ticket, *inflight]
        inflight.clear()
        for later in rest:
            later.done.wait()  # each one rolls back: the one before it did not commit
        for later in reversed(rest):
            later.batch.forget()
        self.last = None
        error = ticket.error
        _log.info("load_stream_retry", keys=[i.key for i, _, _ in ticket.ready], error=str(error).strip()[:200])
        redone: list[ObjectResult] = []
        for later in rest:
            redone.extend(self.loader.load([(item, data) for item, data, _digest in later.ready]))
        return redone


def _groups(lake: Lake, pending: list[_Pending], group_records: int) -> Iterator[list[tuple[_Pending, bytes]]]:
    """Objects with their bytes, fetched ahead by a few threads (S3 latency), grouped so a transaction holds
    about `group_records` records: one GitHub page (100 commits) per transaction would spend its time
    committing."""
    with ThreadPoolExecutor(max_workers=_FETCH_THREADS, thread_name_prefix="lake-fetch") as pool:
        futures: deque[tuple[_Pending, Future[bytes]]] = deque()
        queue = iter(pending)
        group: list[tuple[_Pending, bytes]] = []
        records = size = 0
        while True:
            while len(futures) < _FETCH_AHEAD:
                item = next(queue, None)
                if item is None:
                    break
                futures.append((item, pool.submit(lake.get_bytes, item.key)))
            if not futures:
                break
            item, future = futures.popleft()
            data = future.result()
            group.append((item, data))
            records += item.records or 0
            size += len(data)
            if records >= group_records or size >= _GROUP_BYTES:
                yield group
                group, records, size = [], 0, 0
        if group:
            yield group


def _check_encoding(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("select current_setting('server_encoding')").fetchone()
    if row is None or row[0].upper() not in ("UTF8", "UTF-8"):
        raise WarehouseError(f"the warehouse database must use UTF8 encoding (jsonb \\u escapes), not {row}")


def _take_lock(conn: psycopg.Connection[Any], wait_s: float) -> None:
    """LOADER_LOCK, waiting at most `wait_s` (lock_timeout bounds an advisory lock wait like any other)."""
    if conn.execute("select pg_try_advisory_lock(%s)", [LOADER_LOCK]).fetchone()[0]:  # type: ignore[index]
        conn.commit()
        return
    _log.info("load_waiting_for_lock", lock=LOADER_LOCK, wait_s=wait_s)
    try:
        conn.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(f"{max(1, round(wait_s * 1000))}ms")))
        conn.execute("select pg_advisory_lock(%s)", [LOADER_LOCK])
        conn.commit()
    except psycopg.errors.LockNotAvailable as exc:
        conn.rollback()
        raise WarehouseError(
            f"another loader held the load lock for over {wait_s:g} s; giving up so the stage is retried later"
        ) from exc


def load_lake(
    conninfo: str,
    lake: Lake,
    run_id: str,
    *,
    progress: Progress | None = None,
    prefix: str = "raw/",
    now: datetime | None = None,
    group_records: int = GROUP_RECORDS,
    lock_wait_s: float = LOCK_WAIT_SECONDS,
    streams: int = DEFAULT_LOAD_STREAMS,
) -> LoadReport:
    """Load every manifest-listed object under `prefix` not yet in the ledger; see the module docstring.

    `progress(done, total, result)` is called after each object (skipped ones included). `now` fixes the date
    window's upper bound (tests); it defaults to the current time. `group_records`: objects are loaded
    in transactions of about this many records (small objects, e.g. one GitHub page each, share one).
    `lock_wait_s`: how long to wait for another loader to finish before giving up with a transient error.
    `streams`: connections COPYing groups at once (1: the leader's connection alone); the guarantees are the
    same for any number.
    """
    if streams < 1:
        raise ValueError(f"streams must be at least 1, got {streams}")
    started = time.perf_counter()
    report = LoadReport()
    rejected: Counter[str] = Counter()
    with _connect(conninfo) as conn:
        _check_encoding(conn)
        conn.commit()
        _take_lock(conn, lock_wait_s)
        try:
            pending = _discover(lake, prefix)
            report.objects_seen = len(pending)
            done = loaded_keys(conn, [p.key for p in pending]) if pending else set()
            conn.commit()
            tally = _Tally(report, rejected, len(pending), progress)
            for item in pending:
                if item.key in done:
                    tally.add(ObjectResult(item.key, "skipped"))
            loader = _Loader(conn, lake, run_id, date_window(now))
            groups = _groups(lake, [p for p in pending if p.key not in done], group_records)
            for result in _load_groups(conninfo, loader, groups, streams):
                tally.add(result)
        except psycopg.Error as exc:
            raise WarehouseError(f"load failed: {str(exc).strip()}") from exc
        finally:
            _release_lock(conn)
    report.rejected = dict(sorted(rejected.items()))
    report.seconds = time.perf_counter() - started
    _log.info(
        "load_done",
        objects_seen=report.objects_seen,
        objects_loaded=report.objects_loaded,
        objects_skipped=report.objects_skipped,
        objects_failed=len(report.objects_failed),
        rows_inserted=report.rows_inserted,
        duplicates=report.duplicates,
        rejected=report.rejected,
        seconds=round(report.seconds, 3),
    )
    return report


def _load_groups(
    conninfo: str, loader: _Loader, groups: Iterator[list[tuple[_Pending, bytes]]], streams: int
) -> Iterator[ObjectResult]:
    """Every group's results: on the leader's connection alone, or through `streams` worker connections."""
    if streams == 1:
        for group in groups:
            yield from loader.load(group)
        return
    conns: list[psycopg.Connection[Any]] = []
    try:
        conns.extend(_connect(conninfo) for _ in range(streams))
        with ThreadPoolExecutor(max_workers=streams, thread_name_prefix="load-stream") as pool:
            yield from _Streams(loader, conns, pool).run(groups)
    finally:
        for conn in conns:
            conn.close()


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(conninfo, options="-c client_encoding=UTF8")
    except psycopg.OperationalError as exc:
        raise WarehouseError(f"cannot connect to the warehouse: {str(exc).strip().splitlines()[-1]}") from exc


def _release_lock(conn: psycopg.Connection[Any]) -> None:
    """Give LOADER_LOCK back (a broken connection has lost it with its session anyway)."""
    if not conn.closed and not conn.broken:
        try:
            conn.rollback()
            conn.execute(sql.SQL("select pg_advisory_unlock({})").format(sql.Literal(LOADER_LOCK)))
            conn.commit()
        except psycopg.OperationalError:
            pass  # the session ended under us (it was terminated): its lock ended with it


@dataclass
class _Tally:
    """Adds each object's outcome to the report and tells the progress callback."""

    report: LoadReport
    rejected: Counter[str]
    total: int
    progress: Progress | None
    index: int = 0

    def add(self, result: ObjectResult) -> None:
        self.index += 1
        report = self.report
        if result.status == "skipped":
            report.objects_skipped += 1
        elif result.status == "loaded":
            report.objects_loaded += 1
            report.rows_inserted += result.inserted
            report.duplicates += result.duplicates
            report.records += result.records
            self.rejected.update(result.rejected)
        else:
            report.objects_failed[result.key] = result.error or "failed"
            _log.error("object_failed", key=result.key, error=result.error)
        if self.progress is not None:
            self.progress(self.index, self.total, result)
