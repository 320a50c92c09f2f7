"""ingest: every source batch becomes one immutable gzip JSON-lines object in the raw lake.

Per repository: read the stored cursor from ops.ingest_state, stream batches into objects, write the
manifest last (the loader's commit marker), then store the new cursor. A rerun with the same run id skips
repositories whose manifest exists; a crash before the manifest leaves only uncommitted objects, which the
retry replaces. Repositories run concurrently (bounded), and memory holds one batch per worker.

One bad source does not sink the others: a source that cannot be read at all is reported `failed`, one that
breaks part-way (a truncated file) keeps what it yielded before the damage and is reported `partial`; the
stage then succeeds for everything else and hands the failures (source → reason) back in
`StageResult.failures`, which the command turns into EXIT_PARTIAL. Counts keep records apart from lines the
source could not parse (rejects) and bytes it could not read at all.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from commitlake.errors import AuthError, BudgetExhausted, LakeError, NothingIngested, RepoUnavailable, SourceError
from commitlake.faults import fault_point
from commitlake.lake import Lake, Manifest, ManifestObject, manifest_key, part_key, run_prefix
from commitlake.lake.sweep import sweep_orphans
from commitlake.logs import bind, current_run_id, current_stage, get_logger
from commitlake.pipeline import FAN_OUT_LIST, stage_by_name
from commitlake.progress import Progress
from commitlake.sources import Cursor, Record, Source, build_source, scheme_of
from commitlake.stages import StageContext, StageResult, read_stage_details
from commitlake.stages.plan import github_client, is_wildcard, plan_uris
from commitlake.warehouse import runs
from commitlake.warehouse.db import Warehouse
from commitlake.warehouse.runs import claim_ended_run
from commitlake.wording import plural

__all__ = [
    "FAILED_STATUSES",
    "LAKE_GZIP_LEVEL",
    "encode_batch",
    "ingest_source",
    "merge",
    "nothing_ingested",
    "planned_uris",
    "run",
    "sweep",
]

#: Outcomes that make the stage partial: the source was not (fully) ingested.
FAILED_STATUSES = frozenset({"failed", "partial", "incomplete"})

_log = get_logger("ingest")


@dataclass
class RepoOutcome:
    uri: str
    repo: str
    status: str  # ingested | unchanged | already_done | skipped | incomplete | partial | failed
    #: Every line written to the lake; `rejected` of them are lines the source could not parse (not commits).
    records: int = 0
    rejected: int = 0
    unreadable_bytes: int = 0
    objects: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    wait_seconds: float = 0.0
    reason: str | None = None
    #: A failure a later run may not meet (the API kept failing): see nothing_ingested.
    transient: bool = False


#: gzip level of the lake's objects. 1, not 6: on the 1M benchmark's commits level 6 compressed 49 MB/s and level 1
#: 139 MB/s, for objects 25 % larger (7.5 MB against 6.0 MB per 39 MB of JSON); at 1.35 GB of JSON that is
#: 18 CPU seconds of ingest's 46, and the loader inflates level 1 a little faster too. Any level reads back alike.
LAKE_GZIP_LEVEL = 1


def encode_batch(records: Sequence[Record]) -> bytes:
    """Gzip JSON lines, byte-for-byte reproducible (mtime 0) so a retried write of the same page is a no-op.

    A record that is already a line (a file source's) is written as it is, so a line the source could not parse
    reaches the loader's quarantine verbatim.
    """
    lines = [record if type(record) is bytes else orjson.dumps(record) for record in records]
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=LAKE_GZIP_LEVEL, mtime=0)


def _read_cursors(warehouse: Warehouse) -> dict[tuple[str, str, str], Cursor]:
    with warehouse.connect() as conn:
        rows = runs.read_ingest_state(conn) or []
    return {(r[0], r[1], r[2]): Cursor(r[3], r[4], r[5], r[6]) for r in rows}


def _store_cursor(warehouse: Warehouse, source: Source, cursor: Cursor, run_id: str) -> None:
    with warehouse.connect(autocommit=True) as conn:
        runs.store_ingest_state(
            conn, (source.kind, source.repo, source.branch or ""), cursor.last_committed_at, cursor.etag,
            cursor.head_sha, cursor.resume, run_id,
        )  # fmt: skip


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
        done = Manifest.from_bytes(lake.get_bytes(manifest_key(prefix)))
        if done.stats.get("status") in FAILED_STATUSES:  # a retry of the run must not forget the damage
            source.stats.damage = source.stats.skipped_reason = done.stats.get("reason")
            return done, str(done.stats["status"])
        return done, "already_done"
    started = datetime.now(UTC).isoformat()
    objects, status = _write_parts(source, cursor, lake, prefix, progress)
    # After a budget stop ("incomplete") the cursor is where the next run resumes; a damaged source keeps none.
    next_cursor = source.next_cursor() if status == "incomplete" or status not in FAILED_STATUSES else None
    manifest = Manifest(
        run_id=run_id,
        source_uri=source.uri,
        source_kind=source.kind,
        repo=source.repo,
        branch=source.branch,
        started_at=started,
        finished_at=datetime.now(UTC).isoformat(),
        objects=objects,
        stats=_manifest_stats(source, status),
        cursor=_cursor_fields(next_cursor),
    )
    listed = {obj.key for obj in objects} | {manifest_key(prefix)}
    for stale in [key for key in lake.list_keys(prefix) if key not in listed]:  # an earlier try wrote more parts
        lake.delete(stale)
    fault_point("lake.before_manifest")
    lake.put_bytes(manifest_key(prefix), manifest.to_bytes())
    return manifest, status


def _write_parts(
    source: Source, cursor: Cursor | None, lake: Lake, prefix: str, progress: Progress | None
) -> tuple[list[ManifestObject], str]:
    """Write the source's batches as parts under `prefix`; returns (parts, status). A source that breaks after
    some parts keeps them ("partial"); one that breaks before any raises for the caller to report."""
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
    except (AuthError, RepoUnavailable):
        raise
    except SourceError as exc:
        if not objects:
            raise  # nothing read: the caller reports the source as failed
        source.stats.damage = str(exc)  # broke part-way: keep what came before
    if source.stats.damage and status == "ingested":
        status = "partial"
        source.stats.skipped_reason = source.stats.damage
    if status == "ingested" and not objects and source.stats.not_modified:
        status = "unchanged"
    return objects, status


def _manifest_stats(source: Source, status: str) -> dict[str, Any]:
    return {
        "requests": source.stats.requests,
        "not_modified": source.stats.not_modified,
        "retries": source.stats.retries,
        "wait_seconds": round(source.stats.wait_seconds, 3),
        "status": status,
        "reason": source.stats.skipped_reason,
        "rejected": source.stats.rejected,
        "unreadable_bytes": source.stats.unreadable_bytes,
    }


def _cursor_fields(cursor: Cursor | None) -> dict[str, Any]:
    """The manifest's copy of the cursor the next run starts from (all None when it must start over)."""
    return {
        "last_committed_at": cursor.last_committed_at.isoformat() if cursor and cursor.last_committed_at else None,
        "etag": cursor.etag if cursor else None,
        "head_sha": cursor.head_sha if cursor else None,
        "resume": cursor.resume if cursor else None,
    }


def planned_uris(ctx: StageContext) -> list[str]:
    """What to ingest: the one item this fan-out pod was given, else the list plan kept in this run's record.

    Only a run without a plan record (`commitlake ingest` on its own) plans here, and says so in the log.
    """
    given = ctx.settings.repos
    if len(given) == 1 and not is_wildcard(given[0]):
        return list(given)
    source_stage = stage_by_name("ingest").fan_out_over or "plan"
    details = read_stage_details(ctx.warehouse, ctx.run_id, source_stage)
    if details is not None and FAN_OUT_LIST in details and not given:
        return [str(uri) for uri in details[FAN_OUT_LIST]]
    _log.info("ingest.unplanned", reason=f"no {source_stage} record for this run" if not given else "--repos given")
    return plan_uris(ctx.settings)


def _summary(details: dict[str, Any]) -> str:
    repositories = details["repositories"]
    records = sum(o["records"] for o in repositories)
    rejected = sum(o.get("rejected", 0) for o in repositories)
    unreadable = sum(o.get("unreadable_bytes", 0) for o in repositories)
    skipped = sum(1 for o in repositories if o["status"] == "skipped")
    failed = sum(1 for o in repositories if o["status"] == "failed")
    unchanged = sum(1 for o in repositories if o["status"] == "unchanged")
    read = len(repositories) - skipped - failed
    summary = f"{plural(records - rejected, 'commit')} from {plural(read, 'repository')}"
    if unchanged:
        summary += f" ({unchanged} unchanged)"
    if records == 0 and read:  # say why nothing came in
        summary += ": nothing new since the stored cursors"
    if rejected:
        summary += f", {rejected} unparseable lines passed on for quarantine"
    if unreadable:
        summary += f", {unreadable} unreadable bytes"
    if skipped:
        summary += f", {skipped} skipped"
    broken = {o["uri"]: f"{o['status']}: {o['reason']}" for o in repositories
              if o["status"] in FAILED_STATUSES - {"incomplete"}}
    if broken:
        summary += f"; {len(broken)} not fully ingested: " + "; ".join(f"{u} ({r})" for u, r in broken.items())
    for outcome in repositories:
        if outcome["status"] == "incomplete":  # e.g. "budget reached: 2849 commits left for the next run"
            summary += f"; {outcome['repo']}: {outcome['reason']}"
    return summary


def nothing_ingested(result: StageResult) -> NothingIngested | None:
    """The stage's verdict on its (merged) result: an error when sources failed and none went through, so that
    the run stops here, naming each source, instead of validating a warehouse this run added nothing to (on
    first use, an empty one that fails the quality gate for a reason that hides the real one). Sources that
    were only skipped (a repository GitHub no longer serves) are not a failure, as everywhere else."""
    repositories = result.details.get("repositories", [])
    statuses = {o["status"] for o in repositories}
    if "failed" not in statuses or statuses - {"failed", "skipped"}:
        return None
    reasons = "; ".join(o["reason"] if str(o["reason"]).startswith(o["uri"]) else f"{o['uri']}: {o['reason']}"
                        for o in repositories)  # fmt: skip
    transient = all(o["status"] == "failed" and o.get("transient") for o in repositories)
    return NothingIngested(f"no source could be ingested: {reasons}", transient=transient)


def merge(results: list[StageResult]) -> StageResult:
    """One result for the fan-out items of a run (each item is one `ingest` call on one repository)."""
    details: dict[str, Any] = {"repositories": [], "skipped": [], "failures": {}, "requests": 0, "not_modified": 0,
                               "retries": 0}
    rows: dict[str, int] = {}
    failures: dict[str, str] = {}
    for result in results:
        for key in ("repositories", "skipped"):
            details[key].extend(result.details.get(key, []))
        for key in ("requests", "not_modified", "retries"):
            details[key] += result.details.get(key, 0)
        for key, value in result.row_counts.items():
            rows[key] = rows.get(key, 0) + value
        failures.update(result.failures)
    details["failures"] = failures
    return StageResult(_summary(details), rows, details, failures=failures)


def sweep(ctx: StageContext) -> int:
    """Delete the parts killed runs left without a manifest (see lake.sweep); a lake error only warns."""
    try:
        with ctx.warehouse.connect(autocommit=True) as conn:
            report = sweep_orphans(ctx.lake, lambda run_id: claim_ended_run(conn, run_id), own_run=ctx.run_id)
    except LakeError as exc:
        _log.warning("ingest.sweep_failed", reason=str(exc))
        return 0
    if report.deleted or report.kept_runs:
        _log.info("ingest.orphans_swept", deleted=len(report.deleted), runs_left_alone=report.kept_runs)
    return len(report.deleted)


def run(ctx: StageContext) -> StageResult:
    settings = ctx.settings
    uris = planned_uris(ctx)
    swept = sweep(ctx)
    progress = Progress("ingest", unit="commits", enabled=ctx.progress)
    client = github_client(settings, progress.note) if any(scheme_of(u) == "github" for u in uris) else None
    cursors = {} if settings.full_refresh else _read_cursors(ctx.warehouse)
    lake = ctx.lake
    lock = threading.Lock()
    finished: list[str] = []
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
            except AuthError:
                raise
            except SourceError as exc:
                _log.error("ingest.source_failed", source=uri, reason=str(exc))
                return RepoOutcome(uri, uri, "failed", reason=str(exc), transient=exc.transient)
            cursor = cursors.get((source.kind, source.repo, source.branch or ""))
            try:
                manifest, status = ingest_source(source, cursor, lake, ctx.run_id, progress=progress)
            except RepoUnavailable as exc:
                _log.warning("ingest.repo_skipped", source=uri, repo=source.repo, reason=str(exc))
                return RepoOutcome(uri, source.repo, "skipped", reason=str(exc))
            except AuthError:
                raise
            except SourceError as exc:
                _log.error("ingest.source_failed", source=uri, repo=source.repo, reason=str(exc))
                return RepoOutcome(uri, source.repo, "failed", reason=str(exc), transient=exc.transient)
            if status in ("ingested", "unchanged", "incomplete"):
                next_cursor = source.next_cursor()
                if next_cursor is not None:
                    with lock:
                        _store_cursor(ctx.warehouse, source, next_cursor, ctx.run_id)
            outcome = _outcome(uri, source, manifest, status)
            with lock:
                finished.append(source.repo)
                progress.note(f"{len(finished)}/{len(uris)} repositories, last {source.repo}")
            _log.info("ingest.repo_finished", source=uri, repo=source.repo, status=status, records=outcome.records,
                      rejected=outcome.rejected, unreadable_bytes=outcome.unreadable_bytes, objects=outcome.objects,
                      requests=outcome.requests, not_modified=outcome.not_modified, reason=outcome.reason)
            return outcome

    try:  # an AuthError (bad token) propagates: every other repository would fail the same way
        with ThreadPoolExecutor(max_workers=settings.ingest_concurrency, thread_name_prefix="ingest") as pool:
            outcomes = list(pool.map(one, uris))
    finally:
        progress.close()
    return _result(outcomes, swept)


def _outcome(uri: str, source: Source, manifest: Manifest | None, status: str) -> RepoOutcome:
    return RepoOutcome(
        uri, source.repo, status,
        records=manifest.records if manifest else 0,
        rejected=int(manifest.stats.get("rejected") or 0) if manifest else 0,
        unreadable_bytes=int(manifest.stats.get("unreadable_bytes") or 0) if manifest else 0,
        objects=len(manifest.objects) if manifest else 0,
        requests=source.stats.requests, not_modified=source.stats.not_modified,
        retries=source.stats.retries, wait_seconds=round(source.stats.wait_seconds, 3),
        reason=source.stats.skipped_reason,
    )  # fmt: skip


def _result(outcomes: list[RepoOutcome], swept: int) -> StageResult:
    """The stage's summary, counts and details from every repository's outcome."""
    records = sum(o.records for o in outcomes)
    rejected = sum(o.rejected for o in outcomes)
    unreadable = sum(o.unreadable_bytes for o in outcomes)
    failures = {o.uri: f"{o.status}: {o.reason}" for o in outcomes if o.status in FAILED_STATUSES}
    details: dict[str, Any] = {
        "repositories": [dict(o.__dict__) for o in outcomes],
        "skipped": [{"repo": o.repo, "reason": o.reason} for o in outcomes if o.status == "skipped"],
        "failures": failures,
        "requests": sum(o.requests for o in outcomes),
        "not_modified": sum(o.not_modified for o in outcomes),
        "retries": sum(o.retries for o in outcomes),
        "orphans_swept": swept,
    }
    counts = {
        "records": records,
        "commits_ingested": records - rejected,
        "records_rejected": rejected,
        "unreadable_bytes": unreadable,
        "objects": sum(o.objects for o in outcomes),
    }
    return StageResult(_summary(details), counts, details, failures=failures)
