"""Stage implementations, one module each, and the wrapper that records every stage in ops.pipeline_runs.

A stage reads only what earlier stages left in durable storage (lake or warehouse), so it can run in its
own container, be retried, or be resumed after a crash.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from commitlake.config import Settings
from commitlake.errors import CommitlakeError, StageFailed
from commitlake.lake import Lake, open_lake
from commitlake.logs import bind, get_logger
from commitlake.warehouse.db import Warehouse

__all__ = ["StageContext", "StageResult", "execute_stage", "record_stage"]

_log = get_logger("stages")


@dataclass
class StageContext:
    settings: Settings
    run_id: str
    warehouse: Warehouse
    progress: bool = False
    _lake: Lake | None = None

    @property
    def lake(self) -> Lake:
        if self._lake is None:
            self._lake = open_lake(self.settings.effective_lake_uri, endpoint_url=self.settings.s3_endpoint_url)
        return self._lake


@dataclass
class StageResult:
    summary: str
    row_counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    #: The stage ran and found nothing sound to do (e.g. too few labelled commits to train on).
    skipped: bool = False
    #: Inputs the stage could not (fully) process, with why; the rest was done. Recorded as status
    #: `partial`, and the command exits with EXIT_PARTIAL.
    failures: dict[str, str] = field(default_factory=dict)


StageFunction = Callable[[StageContext], StageResult]


def _function_for(name: str) -> StageFunction:
    module = importlib.import_module(f"commitlake.stages.{name}")
    function: StageFunction = module.run
    return function


def record_stage(
    warehouse: Warehouse,
    run_id: str,
    stage: str,
    status: str,
    *,
    duration_s: float | None = None,
    row_counts: dict[str, int] | None = None,
    details: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Upsert one row of ops.pipeline_runs (a rerun of the same run id and stage overwrites it)."""
    finished = status != "running"
    with warehouse.connect(autocommit=True) as conn:
        conn.execute(
            """
            insert into ops.pipeline_runs (run_id, stage, status, started_at, finished_at, duration_s,
                                           row_counts, details, error)
            values (%(run_id)s, %(stage)s, %(status)s, now() - make_interval(secs => coalesce(%(duration)s, 0)),
                    case when %(finished)s then now() end, %(duration)s, %(rows)s, %(details)s, %(error)s)
            on conflict (run_id, stage) do update set
                status = excluded.status,
                started_at = case when excluded.status = 'running' then excluded.started_at
                                  else ops.pipeline_runs.started_at end,
                finished_at = excluded.finished_at,
                duration_s = excluded.duration_s,
                row_counts = excluded.row_counts,
                details = excluded.details,
                error = excluded.error
            """,
            {
                "run_id": run_id,
                "stage": stage,
                "status": status,
                "finished": finished,
                "duration": duration_s,
                "rows": orjson.dumps(row_counts or {}).decode(),
                "details": orjson.dumps(details or {}, default=str).decode(),
                "error": error,
            },
        )


def _record_name(name: str, ctx: StageContext) -> str:
    """Fan-out pods of one run share the run id: each records its own row, `ingest[<source uri>]`."""
    from commitlake.pipeline import stage_by_name

    if stage_by_name(name).fan_out_over and len(ctx.settings.repos) == 1:
        return f"{name}[{ctx.settings.repos[0]}]"
    return name


def execute_stage(name: str, ctx: StageContext) -> StageResult:
    """Run one stage with logging and bookkeeping; any failure becomes StageFailed naming the stage."""
    function = _function_for(name)
    record_as = _record_name(name, ctx)
    with bind(run_id=ctx.run_id, stage=name):
        _log.info("stage.started")
        record_stage(ctx.warehouse, ctx.run_id, record_as, "running")
        started = time.monotonic()
        try:
            result = function(ctx)
        except Exception as exc:
            duration = round(time.monotonic() - started, 3)
            message = str(exc) if isinstance(exc, CommitlakeError) else f"{type(exc).__name__}: {exc}"
            _log.error("stage.finished", status="failed", duration_s=duration, error=message)
            # The warehouse itself may be what failed; the original error matters more.
            with contextlib.suppress(CommitlakeError):
                record_stage(ctx.warehouse, ctx.run_id, record_as, "failed", duration_s=duration, error=message)
            raise StageFailed(name, exc) from exc
        duration = round(time.monotonic() - started, 3)
        status = "skipped" if result.skipped else ("partial" if result.failures else "succeeded")
        record_stage(
            ctx.warehouse, ctx.run_id, record_as, status,
            duration_s=duration, row_counts=result.row_counts, details=result.details,
        )
        _log.info(
            "stage.finished", status=status, duration_s=duration, rows=result.row_counts, summary=result.summary
        )
        return result
