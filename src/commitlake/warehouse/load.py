"""Load lake objects into raw.github_commits exactly once, at COPY speed, with bad records quarantined.

How exactly-once works:

- Only objects listed in a `_manifest.json` are loaded (the ingest stage writes the manifest last, so a crashed
  ingest leaves nothing loadable half-written).
- Each object is one transaction: COPY its good rows straight into raw.github_commits, COPY its rejects into
  raw.rejected_records, insert its ledger row into ops.loaded_objects, commit. A kill -9 anywhere leaves
  either the whole object or nothing; the rerun skips what the ledger holds and redoes the rest.
- A session advisory lock lets one loader run at a time. That is what makes the fast path safe: the set of
  shas already loaded per repository is read once, when the repository is first touched, and kept current in
  memory, so rows that would violate the primary key (duplicates inside an object, between objects, or
  against earlier loads) are dropped and counted as `duplicates` instead of needing a staging table and
  INSERT ... ON CONFLICT (measured: 1.5x slower). If a row written by something else than this loader still
  collides, the object is retried once with that repository's shas re-read.
- The first object that holds a commit wins: raw is append-only, later copies are duplicates.

Why the COPY stream carries the original line bytes: re-serialising a million parsed payloads would double the
Python work; jsonb normalises the text anyway. Lines are validated with orjson first (see quarantine.py), and
only the COPY text escapes are applied (backslash, and tab/CR which JSON allows as whitespace).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from commitlake.errors import LakeError, WarehouseError
from commitlake.lake import MANIFEST_NAME, Lake, Manifest
from commitlake.logs import get_logger
from commitlake.warehouse.quarantine import DateWindow, Rejected, check_line, date_window, original_text

__all__ = ["LOADER_LOCK", "LoadReport", "ObjectResult", "load_lake"]

# pg_advisory_lock key held for the whole load: one loader per database at a time.
LOADER_LOCK = 7204152
_CHUNK_BYTES = 1 << 20  # COPY payload handed to libpq at once
_INFLATE_BYTES = 4 << 20  # decompressed bytes produced per step, bounds memory for big objects

_COPY_COMMITS = (
    "copy raw.github_commits (sha, authored_at, committed_at, line_no, payload,"
    " repo_full_name, source_kind, lake_key, run_id) from stdin"
)
_COPY_REJECTS = "copy raw.rejected_records (lake_key, line_no, reason, detail, original_text, run_id) from stdin"
_INSERT_LEDGER = (
    "insert into ops.loaded_objects (lake_key, run_id, records, inserted, duplicates, rejected, sha256)"
    " values (%s, %s, %s, %s, %s, %s, %s)"
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
            raise LakeError(f"manifest {key} is unreadable: {exc}") from exc
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
            raise LakeError("truncated gzip stream")
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
        known = self.shas.get(repo)
        if known is None or refresh:
            with self.conn.cursor() as cur:
                cur.execute("select sha from raw.github_commits where repo_full_name = %s", [repo])
                known = {row[0] for row in cur}
            self.conn.commit()
            self.shas[repo] = known
        return known

    def load(self, item: _Pending) -> ObjectResult:
        started = time.perf_counter()
        data = self.lake.get_bytes(item.key)
        digest = hashlib.sha256(data).hexdigest()
        if item.sha256 and digest != item.sha256:
            return ObjectResult(item.key, "failed", error=f"sha256 {digest} differs from the manifest's")
        for attempt in (1, 2):
            try:
                result = self._load_once(item, data, digest)
            except _Collision:
                if attempt == 2:
                    raise
                _log.warning("load_collision_retry", key=item.key, repo=item.repo)
                self._repo_shas(item.repo, refresh=True)
                continue
            except (LakeError, zlib.error, EOFError) as exc:
                return ObjectResult(item.key, "failed", error=str(exc), seconds=time.perf_counter() - started)
            result.seconds = time.perf_counter() - started
            return result
        raise AssertionError("unreachable")

    def _load_once(self, item: _Pending, data: bytes, digest: str) -> ObjectResult:
        known = self._repo_shas(item.repo)
        added: list[str] = []
        rejects: list[tuple[int, str, str, str]] = []
        records = duplicates = 0
        suffix = b"\t" + b"\t".join(
            _copy_text(v) for v in (item.repo, item.source_kind, item.key, self.run_id)
        ) + b"\n"
        window = self.window
        check = check_line
        try:
            with self.conn.transaction(), self.conn.cursor() as cur:
                with cur.copy(_COPY_COMMITS) as copy:
                    line_no = 0
                    out = bytearray()
                    for lines in _lines(data):
                        for line in lines:
                            line_no += 1
                            if line[:1] != b"{" and _blank(line):
                                continue
                            records += 1
                            res = check(line, window)
                            if type(res) is Rejected:
                                rejects.append((line_no, res.reason, res.detail, original_text(line)))
                                continue
                            sha = res[0]
                            if sha in known:
                                duplicates += 1
                                continue
                            known.add(sha)
                            added.append(sha)
                            if b"\\" in line:
                                line = line.replace(b"\\", b"\\\\")
                            if b"\t" in line or b"\r" in line:
                                line = line.replace(b"\t", b"\\t").replace(b"\r", b"\\r")
                            out += f"{sha}\t{res[1]}\t{res[2]}\t{line_no}\t".encode()
                            out += line
                            out += suffix
                        if len(out) >= _CHUNK_BYTES:
                            copy.write(out)
                            out = bytearray()
                    if out:
                        copy.write(out)
                if rejects:
                    with cur.copy(_COPY_REJECTS) as copy:
                        for line_no, reason, detail, text in rejects:
                            copy.write_row((item.key, line_no, reason, detail, text, self.run_id))
                cur.execute(
                    _INSERT_LEDGER,
                    [item.key, self.run_id, records, len(added), duplicates, len(rejects), digest],
                )
        except BaseException as exc:
            known.difference_update(added)  # the transaction is gone, so are its shas
            if isinstance(exc, psycopg.errors.UniqueViolation) and "github_commits" in str(exc):
                raise _Collision() from exc
            raise
        if item.records is not None and item.records != records:
            _log.warning("manifest_count_mismatch", key=item.key, manifest=item.records, found=records)
        return ObjectResult(
            item.key, "loaded", records, len(added), duplicates, Counter(reason for _, reason, _, _ in rejects)
        )


def _loaded_keys(conn: psycopg.Connection[Any], keys: list[str]) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("select lake_key from ops.loaded_objects where lake_key = any(%s)", [keys])
        return {row[0] for row in cur}


def _check_encoding(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute("select current_setting('server_encoding')").fetchone()
    if row is None or row[0].upper() not in ("UTF8", "UTF-8"):
        raise WarehouseError(f"the warehouse database must use UTF8 encoding (jsonb \\u escapes), not {row}")


def load_lake(
    conninfo: str,
    lake: Lake,
    run_id: str,
    *,
    progress: Progress | None = None,
    prefix: str = "raw/",
    now: Any = None,
) -> LoadReport:
    """Load every manifest-listed object under `prefix` not yet in the ledger; see the module docstring.

    `progress(done, total, result)` is called after each object (skipped ones included). `now` fixes the date
    window's upper bound (tests); it defaults to the current time.
    """
    started = time.perf_counter()
    report = LoadReport()
    rejected: Counter[str] = Counter()
    try:
        conn = psycopg.connect(conninfo, options="-c client_encoding=UTF8")
    except psycopg.OperationalError as exc:
        raise WarehouseError(f"cannot connect to the warehouse: {str(exc).strip().splitlines()[-1]}") from exc
    with conn:
        _check_encoding(conn)
        conn.commit()
        if not conn.execute("select pg_try_advisory_lock(%s)", [LOADER_LOCK]).fetchone()[0]:  # type: ignore[index]
            _log.info("load_waiting_for_lock", lock=LOADER_LOCK)
            conn.execute("select pg_advisory_lock(%s)", [LOADER_LOCK])
        conn.commit()
        try:
            pending = _discover(lake, prefix)
            report.objects_seen = len(pending)
            done = _loaded_keys(conn, [p.key for p in pending]) if pending else set()
            conn.commit()
            loader = _Loader(conn, lake, run_id, date_window(now))
            for index, item in enumerate(pending, 1):
                if item.key in done:
                    result = ObjectResult(item.key, "skipped")
                    report.objects_skipped += 1
                else:
                    result = loader.load(item)
                    if result.status == "loaded":
                        report.objects_loaded += 1
                        report.rows_inserted += result.inserted
                        report.duplicates += result.duplicates
                        report.records += result.records
                        rejected.update(result.rejected)
                        _log.debug(
                            "object_loaded",
                            key=item.key,
                            inserted=result.inserted,
                            duplicates=result.duplicates,
                            rejected=sum(result.rejected.values()),
                            seconds=round(result.seconds, 3),
                        )
                    else:
                        report.objects_failed[item.key] = result.error or "failed"
                        _log.error("object_failed", key=item.key, error=result.error)
                if progress is not None:
                    progress(index, len(pending), result)
        except psycopg.Error as exc:
            raise WarehouseError(f"load failed: {str(exc).strip()}") from exc
        finally:
            if not conn.closed and not conn.broken:
                conn.rollback()
                conn.execute(sql.SQL("select pg_advisory_unlock({})").format(sql.Literal(LOADER_LOCK)))
                conn.commit()
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
