"""Stage implementations, one module each, and the wrapper that records every stage in ops.pipeline_runs.

A stage reads only what earlier stages left in durable storage (lake or warehouse), so it can run in its
own container, be retried, or be resumed after a crash.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commitlake.config import Settings
from commitlake.errors import CommitlakeError, StageFailed
from commitlake.lake import Lake, open_lake
from commitlake.logs import bind, get_logger
from commitlake.pipeline import Stage, stage_by_name
from commitlake.warehouse.db import Warehouse
from commitlake.warehouse.runs import record_stage
from commitlake.warehouse.runs import stage_details as read_stage_details

__all__ = [
    "StageContext",
    "StageResult",
    "StageTimeout",
    "execute_stage",
    "function_for",
    "merge_for",
    "read_stage_details",
    "record_stage",
]

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


class StageTimeout(CommitlakeError):
    """The stage ran past its `timeout_seconds` (not retried: Argo's activeDeadlineSeconds is not either)."""


def _resolve(reference: str) -> Callable[..., object]:
    module_name, _, attribute = reference.partition(":")
    function: Callable[..., object] = getattr(importlib.import_module(module_name), attribute)
    return function


def function_for(stage: Stage) -> StageFunction:
    """The function a Stage names (`module:attribute`): what `commitlake <stage>` and `commitlake run` call."""
    return _resolve(stage.function)  # type: ignore[return-value]


def merge_for(stage: Stage) -> Callable[[list[StageResult]], StageResult]:
    """How the fan-out items of `stage` combine into one result (the stage names it; default: first item)."""
    if stage.merge is None:
        return lambda results: results[0]
    return _resolve(stage.merge)  # type: ignore[return-value]


def _call_with_timeout(function: StageFunction, ctx: StageContext, seconds: float) -> StageResult:
    """Run `function` in a daemon thread and give up after `seconds`: the run stops, the thread is abandoned
    (a pod would be killed; a process cannot kill a thread, so the CLI exits right after)."""
    outcome: dict[str, object] = {}
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome["result"] = context.run(function, ctx)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="stage", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise StageTimeout(f"timed out after {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def _record_name(stage: Stage, ctx: StageContext) -> str:
    """Fan-out pods of one run share the run id: each records its own row, `ingest[<source uri>]`."""
    if stage.fan_out_over and len(ctx.settings.repos) == 1:
        return f"{stage.name}[{ctx.settings.repos[0]}]"
    return stage.name


def execute_stage(name: str, ctx: StageContext) -> StageResult:
    """Run one stage with logging, bookkeeping and its timeout; any failure becomes StageFailed naming it.

    The one wrapper every stage goes through, in a pod (`commitlake <stage>`) as in `commitlake run`.
    """
    stage = stage_by_name(name)
    function = function_for(stage)
    record_as = _record_name(stage, ctx)
    with bind(run_id=ctx.run_id, stage=name):
        _log.info("stage.started")
        record_stage(ctx.warehouse, ctx.run_id, record_as, "running")
        started = time.monotonic()
        try:
            result = _call_with_timeout(function, ctx, stage.timeout_seconds)
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
