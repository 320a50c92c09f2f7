"""Stage implementations, one module each, and the wrapper that records every stage in ops.pipeline_runs.

A stage reads only what earlier stages left in durable storage (lake or warehouse), so it can run in its
own container, be retried, or be resumed after a crash.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import os
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
from commitlake.warehouse.runs import last_record, ran_in_run, raw_watermark, record_stage
from commitlake.warehouse.runs import stage_details as read_stage_details

__all__ = [
    "NO_NEW_DATA",
    "RERUN_UNCHANGED_ENV",
    "SKIP_WHEN_RAW_UNCHANGED",
    "StageContext",
    "StageResult",
    "StageTimeout",
    "execute_stage",
    "function_for",
    "judged",
    "merge_for",
    "read_stage_details",
    "record_stage",
]

_log = get_logger("stages")

#: Stages whose output follows from raw.github_commits alone (for a given scope): a run whose load added
#: nothing skips them when their last attempt succeeded on the same raw watermark. A rerun with nothing new
#: then takes seconds instead of rebuilding, revalidating, retraining and rescoring the same rows.
SKIP_WHEN_RAW_UNCHANGED = frozenset({"transform", "validate", "train", "predict"})
#: The reason a skipped stage records (details.reason) and shows in `commitlake status`.
NO_NEW_DATA = "no new data"
#: Set to 1 to run those stages even when raw is unchanged (e.g. after changing a dbt model or a suite).
RERUN_UNCHANGED_ENV = "COMMITLAKE_RERUN_UNCHANGED"


@dataclass
class StageContext:
    settings: Settings
    run_id: str
    warehouse: Warehouse
    progress: bool = False
    #: Whether an unchanged raw layer may skip the stage: inside a run (`commitlake run`, or an Argo pod with the
    #: workflow's run id). A stage command a user runs by itself is an explicit request, so it always runs.
    skip_unchanged: bool = True
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


def judged(stage: Stage, result: StageResult, ctx: StageContext) -> StageResult:
    """`result`, unless the stage's verdict on it (Stage.verdict) is an error: then the stage is recorded failed
    and StageFailed names it, so that `commitlake <stage>` and `commitlake run` stop alike, with that error's
    exit status."""
    if stage.verdict is None:
        return result
    verdict: Callable[[StageResult], CommitlakeError | None] = _resolve(stage.verdict)  # type: ignore[assignment]
    error = verdict(result)
    if error is None:
        return result
    with bind(run_id=ctx.run_id, stage=stage.name):
        _log.error("stage.verdict", error=str(error), transient=error.transient)
    record_stage(ctx.warehouse, ctx.run_id, _record_name(stage, ctx), "failed", row_counts=result.row_counts,
                 details=result.details, error=str(error))  # fmt: skip
    raise StageFailed(stage.name, error)


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
    """Fan-out pods of one run share the run id: each records its own row, `ingest[<source uri>]`. A validate of
    some layers only (the raw check right after load) is `validate[raw]`: under the plain name, the full
    validate of the same run would overwrite its row, and the ledger would lose that attempt and its time."""
    if stage.fan_out_over and len(ctx.settings.repos) == 1:
        return f"{stage.name}[{ctx.settings.repos[0]}]"
    if stage.name == "validate":
        from commitlake.quality import LAYERS
        from commitlake.stages.validate import selected_layers

        layers = selected_layers()
        if layers != tuple(LAYERS):
            return f"validate[{','.join(layers)}]"
    return stage.name


@dataclass(frozen=True)
class _Freshness:
    """What a skippable stage is about to work on: raw's watermark and the stage's own scope."""

    watermark: dict[str, Any]
    scope: dict[str, Any]
    built_by: str | None  # the run whose records already cover this watermark and scope; None: run the stage


def _scope(stage: Stage, ctx: StageContext) -> dict[str, Any]:
    """What else than raw decides the stage's output: validate's layers (the early raw-only check is another
    scope than the full one), the model trained and scored."""
    if stage.name == "validate":
        from commitlake.stages.validate import selected_layers

        return {"layers": list(selected_layers())}
    if stage.name in ("train", "predict"):
        return {"model": ctx.settings.model_name}
    return {}


def _freshness(stage: Stage, record_as: str, ctx: StageContext) -> _Freshness | None:
    """None for a stage that always runs; else whether raw is unchanged since the stage last succeeded.

    Skip only when the latest attempt of this stage and scope (a failed, abandoned or running one counts
    too, so a crash never leads to a skip) succeeded on the same watermark, and no stage it depends on has
    run in this run (its output may have changed even though raw has not)."""
    if stage.name not in SKIP_WHEN_RAW_UNCHANGED:
        return None
    watermark, scope = raw_watermark(ctx.warehouse), _scope(stage, ctx)
    if os.environ.get(RERUN_UNCHANGED_ENV) == "1" or not ctx.skip_unchanged:
        return _Freshness(watermark, scope, None)
    last = last_record(ctx.warehouse, record_as, scope)
    if last is None or last.details.get("raw_watermark") != watermark:
        return _Freshness(watermark, scope, None)
    done = last.status == "succeeded" or (last.status == "skipped" and last.details.get("reason") == NO_NEW_DATA)
    upstream = [d for d in stage.depends_on if d in SKIP_WHEN_RAW_UNCHANGED]
    if not done or ran_in_run(ctx.warehouse, ctx.run_id, upstream):
        return _Freshness(watermark, scope, None)
    built_by = last.run_id if last.status == "succeeded" else str(last.details.get("built_by") or last.run_id)
    return _Freshness(watermark, scope, built_by)


def _skip_unchanged(record_as: str, ctx: StageContext, fresh: _Freshness) -> StageResult:
    summary = f"skipped: {NO_NEW_DATA} (raw unchanged since run {fresh.built_by})"
    details = {
        "reason": NO_NEW_DATA,
        "built_by": fresh.built_by,
        "raw_watermark": fresh.watermark,
        "skip_scope": fresh.scope,
    }
    record_stage(ctx.warehouse, ctx.run_id, record_as, "skipped", duration_s=0.0, details=details)
    _log.info("stage.finished", status="skipped", duration_s=0.0, summary=summary)
    return StageResult(summary, {}, details, skipped=True)


def execute_stage(name: str, ctx: StageContext) -> StageResult:
    """Run one stage with logging, bookkeeping and its timeout; any failure becomes StageFailed naming it.

    The one wrapper every stage goes through, in a pod (`commitlake <stage>`) as in `commitlake run`.
    """
    stage = stage_by_name(name)
    function = function_for(stage)
    record_as = _record_name(stage, ctx)
    with bind(run_id=ctx.run_id, stage=name):
        _log.info("stage.started")
        fresh = _freshness(stage, record_as, ctx)  # before this attempt's own record, which would hide the last
        if fresh is not None and fresh.built_by == ctx.run_id:  # a resumed run: its own success stands
            _log.info("stage.finished", status="skipped", duration_s=0.0, summary="already succeeded in this run")
            return StageResult("skipped: already succeeded in this run", {}, {"reason": NO_NEW_DATA}, skipped=True)
        if fresh is not None and fresh.built_by is not None:
            return _skip_unchanged(record_as, ctx, fresh)
        scoped = {"skip_scope": fresh.scope} if fresh is not None else None
        record_stage(ctx.warehouse, ctx.run_id, record_as, "running", details=scoped)
        started = time.monotonic()
        try:
            result = _call_with_timeout(function, ctx, stage.timeout_seconds)
        except Exception as exc:
            duration = round(time.monotonic() - started, 3)
            message = str(exc) if isinstance(exc, CommitlakeError) else f"{type(exc).__name__}: {exc}"
            _log.error("stage.finished", status="failed", duration_s=duration, error=message)
            # The warehouse itself may be what failed; the original error matters more.
            with contextlib.suppress(CommitlakeError):
                record_stage(
                    ctx.warehouse, ctx.run_id, record_as, "failed", duration_s=duration, error=message, details=scoped
                )
            raise StageFailed(name, exc) from exc
        duration = round(time.monotonic() - started, 3)
        status = "skipped" if result.skipped else ("partial" if result.failures else "succeeded")
        recorded = result.details
        if fresh is not None:  # the watermark read before the stage began: rows loaded meanwhile count as new
            recorded = {**result.details, "raw_watermark": fresh.watermark, "skip_scope": fresh.scope}
        record_stage(
            ctx.warehouse,
            ctx.run_id,
            record_as,
            status,
            duration_s=duration,
            row_counts=result.row_counts,
            details=recorded,
        )
        _log.info("stage.finished", status=status, duration_s=duration, rows=result.row_counts, summary=result.summary)
        return result
