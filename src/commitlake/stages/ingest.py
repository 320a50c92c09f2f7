"""ingest: every source batch becomes one immutable gzip JSON-lines object in the raw lake.

Per repository: read the stored cursor from ops.ingest_state, stream batches into objects, write the
manifest last (the loader's commit marker), then store the new cursor. A rerun with the same run id skips
repositories whose manifest exists; a crash before the manifest leaves only uncommitted objects, which the
retry replaces. Repositories run concurrently (bounded), and memory holds one batch per worker.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from commitlake.errors import BudgetExhausted, RepoUnavailable
from commitlake.faults import fault_point
from commitlake.lake import Lake, Manifest, ManifestObject, manifest_key, part_key, run_prefix
from commitlake.logs import bind, current_run_id, current_stage, get_logger
from commitlake.progress import Progress
from commitlake.sources import Cursor, Source, build_source, scheme_of
from commitlake.stages import StageContext, StageResult
from commitlake.stages.plan import github_client, plan_uris
from commitlake.warehouse.db import Warehouse

__all__ = ["encode_batch", "ingest_source", "run"]

_log = get_logger("ingest")


@dataclass
class RepoOutcome:
    uri: str
    repo: str
    status: str  # ingested | unchanged | already_done | skipped | incomplete
    records: int = 0
    objects: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    reason: str | None = None


def encode_batch(records: list[dict[str, Any]]) -> bytes:
    """Gzip JSON lines, byte-for-byte reproducible (mtime 0) so a retried write of the same page is a no-op.

    Lines a source could not parse travel as their original text so the loader quarantines them verbatim.
    """
    lines = []
    for record in records:
        if "_unparsed" in record and len(record) <= 2:
            lines.append(str(record["_unparsed"]).encode("utf-8", "surrogatepass"))
        else:
            lines.append(orjson.dumps(record))
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6, mtime=0)


def _read_cursors(warehouse: Warehouse) -> dict[tuple[str, str, str], Cursor]:
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select source_kind, repo_full_name, branch, last_committed_at, etag, head_sha, resume"
            " from ops.ingest_state"
        ).fetchall()
    return {(r[0], r[1], r[2]): Cursor(r[3], r[4], r[5], r[6]) for r in rows}


def _store_cursor(warehouse: Warehouse, source: Source, cursor: Cursor, run_id: str) -> None:
    with warehouse.connect(autocommit=True) as conn:
        conn.execute(
            """
            insert into ops.ingest_state (source_kind, repo_full_name, branch, last_committed_at, etag,
                                          head_sha, resume, updated_at, updated_by_run)
            values (%s, %s, %s, %s, %s, %s, %s, now(), %s)
            on conflict (source_kind, repo_full_name, branch) do update set
                last_committed_at = excluded.last_committed_at, etag = excluded.etag,
                head_sha = excluded.head_sha, resume = excluded.resume,
                updated_at = excluded.updated_at, updated_by_run = excluded.updated_by_run
            """,
            [source.kind, source.repo, source.branch or "", cursor.last_committed_at, cursor.etag,
             cursor.head_sha, Jsonb(cursor.resume) if cursor.resume is not None else None, run_id],
        )


def ingest_source(
    source: Source,
    cursor: Cursor | None,
    lake: Lake,
    run_id: str,
    *,
    today: date | None = None,
    progress: Progress | None = None,
) -> tuple[Manifest | None, str]:
    """Write one repository's batches and manifest. Returns (manifest, status)."""
    prefix = run_prefix(source.kind, source.repo, today or datetime.now(UTC).date(), run_id, source.branch)
    if lake.exists(manifest_key(prefix)):
        return Manifest.from_bytes(lake.get_bytes(manifest_key(prefix))), "already_done"
    started = datetime.now(UTC).isoformat()
    objects: list[ManifestObject] = []
    status = "ingested"
    try:
        for index, batch in enumerate(source.batches(cursor)):
            data = encode_batch(batch.records)
            key = part_key(prefix, index)
            lake.put_bytes(key, data, replace=True)  # no manifest yet: nothing has committed this key
            fault_point("lake.after_part")
            objects.append(
                ManifestObject(key, len(batch.records), hashlib.sha256(data).hexdigest(), len(data), batch.meta)
            )
            if progress is not None:
                progress.advance(len(batch.records))
    except BudgetExhausted as exc:
        status = "incomplete"
        source.stats.skipped_reason = str(exc)
    if status == "ingested" and not objects and source.stats.not_modified:
        status = "unchanged"
    next_cursor = source.next_cursor()  # after a budget stop: where the next run resumes
    manifest = Manifest(
        run_id=run_id,
        source_uri=source.uri,
        source_kind=source.kind,
        repo=source.repo,
        branch=source.branch,
        started_at=started,
        finished_at=datetime.now(UTC).isoformat(),
        objects=objects,
        stats={
            "requests": source.stats.requests,
            "not_modified": source.stats.not_modified,
            "retries": source.stats.retries,
            "wait_seconds": round(source.stats.wait_seconds, 3),
            "status": status,
            "reason": source.stats.skipped_reason,
        },
        cursor={
            "last_committed_at": next_cursor.last_committed_at.isoformat()
            if next_cursor and next_cursor.last_committed_at
            else None,
            "etag": next_cursor.etag if next_cursor else None,
            "head_sha": next_cursor.head_sha if next_cursor else None,
            "resume": next_cursor.resume if next_cursor else None,
        },
    )
    fault_point("lake.before_manifest")
    lake.put_bytes(manifest_key(prefix), manifest.to_bytes())
    return manifest, status


def run(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    uris = plan_uris(settings)
    progress = Progress("ingest", unit="commits", enabled=ctx.progress)
    client = github_client(settings, progress.note) if any(scheme_of(u) == "github" for u in uris) else None
    cursors = {} if settings.full_refresh else _read_cursors(ctx.warehouse)
    lake = ctx.lake
    lock = threading.Lock()
    run_id, stage = current_run_id(), current_stage()

    def one(uri: str) -> RepoOutcome:
        with bind(run_id=run_id, stage=stage):
            try:
                source = build_source(
                    uri, github_client=client, with_files=settings.with_files, full_refresh=settings.full_refresh
                )
            except RepoUnavailable as exc:
                _log.warning("ingest.repo_skipped", source=uri, reason=str(exc))
                return RepoOutcome(uri, uri, "skipped", reason=str(exc))
            cursor = cursors.get((source.kind, source.repo, source.branch or ""))
            try:
                manifest, status = ingest_source(source, cursor, lake, ctx.run_id, progress=progress)
            except RepoUnavailable as exc:
                _log.warning("ingest.repo_skipped", source=uri, repo=source.repo, reason=str(exc))
                return RepoOutcome(uri, source.repo, "skipped", reason=str(exc))
            if status in ("ingested", "unchanged", "incomplete"):
                next_cursor = source.next_cursor()
                if next_cursor is not None:
                    with lock:
                        _store_cursor(ctx.warehouse, source, next_cursor, ctx.run_id)
            outcome = RepoOutcome(
                uri, source.repo, status,
                records=manifest.records if manifest else 0,
                objects=len(manifest.objects) if manifest else 0,
                requests=source.stats.requests, not_modified=source.stats.not_modified,
                retries=source.stats.retries, wait_seconds=round(source.stats.wait_seconds, 3),
                reason=source.stats.skipped_reason,
            )
            _log.info("ingest.repo_finished", source=uri, repo=source.repo, status=status, records=outcome.records,
                      objects=outcome.objects, requests=outcome.requests, not_modified=outcome.not_modified)
            return outcome

    try:  # an AuthError (bad token) propagates: every other repository would fail the same way
        with ThreadPoolExecutor(max_workers=settings.ingest_concurrency, thread_name_prefix="ingest") as pool:
            outcomes = list(pool.map(one, uris))
    finally:
        progress.close()
    records = sum(o.records for o in outcomes)
    skipped = [{"repo": o.repo, "reason": o.reason} for o in outcomes if o.status == "skipped"]
    details = {
        "repositories": [o.__dict__ for o in outcomes],
        "skipped": skipped,
        "requests": sum(o.requests for o in outcomes),
        "not_modified": sum(o.not_modified for o in outcomes),
        "retries": sum(o.retries for o in outcomes),
    }
    unchanged = sum(1 for o in outcomes if o.status == "unchanged")
    summary = f"{records} commits from {len(outcomes) - len(skipped)} repositories"
    if unchanged:
        summary += f" ({unchanged} unchanged)"
    if skipped:
        summary += f", {len(skipped)} skipped"
    for outcome in outcomes:
        if outcome.status == "incomplete":  # e.g. "budget reached: 2849 commits left for the next run"
            summary += f"; {outcome.repo}: {outcome.reason}"
    return StageResult(summary, {"commits_ingested": records, "objects": sum(o.objects for o in outcomes)}, details)
