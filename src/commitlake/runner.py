"""The local executor: the pipeline graph of commitlake.pipeline against one warehouse, its stages in two child
processes (the data stages, then train and predict: commitlake.stage_process) or all in this one.

It executes what Argo executes, from the same definition: stages in dependency order, a fan-out stage once per
item of its source stage's list (through the same `execute_stage` a pod runs, at most `ingest_concurrency` at
once), retries of a transient failure (exit code 75 in a pod) with the same backoff, and per-stage timeouts.
A run whose load added nothing skips transform, validate, train and predict (`skipped: no new data`): that
decision is in `execute_stage`, so an Argo pod makes the same one (see stages.SKIP_WHEN_RAW_UNCHANGED).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from graphlib import TopologicalSorter

from commitlake.config import Settings
from commitlake.contract import RUN_FINISHED_EVENT
from commitlake.errors import ConfigError, StageFailed
from commitlake.logs import bind, current_run_id, get_logger
from commitlake.memory import release_free_memory
from commitlake.pipeline import FAN_OUT_LIST, Backoff, Stage, stage_by_name
from commitlake.stage_process import GroupRequest, StageProcessDied, process_groups, run_group_in_child
from commitlake.stages import (
    StageContext,
    StageResult,
    execute_stage,
    judged,
    merge_for,
    read_stage_details,
    record_stage,
)
from commitlake.stages.validate import EARLY_LAYERS, only_layers
from commitlake.warehouse.db import Warehouse, open_warehouse
from commitlake.warehouse.runs import run_alive, run_stages

__all__ = [
    "RUN_STAGE", "RunSummary", "execution_order", "new_run_id", "run_pipeline", "run_single_stage", "run_step",
]

RUN_STAGE = "_run"
_log = get_logger("runner")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class RunSummary:
    run_id: str
    results: dict[str, StageResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failures(self) -> dict[str, str]:
        """What some stage could not process (e.g. ingest: source URI → why); empty when all went through."""
        return {key: why for result in self.results.values() for key, why in result.failures.items()}

    def render(self) -> str:
        outcome = "partially succeeded" if self.failures else "succeeded"
        lines = [f"commitlake run {self.run_id} {outcome} in {self.seconds:.1f} s"]
        for name, result in self.results.items():
            lines.append(f"  {name:<10} {result.summary}")
            for key, why in result.failures.items():
                lines.append(f"  {'':<10} FAILED {key}: {why}")
        return "\n".join(lines)


def execution_order(stages: tuple[Stage, ...], only: list[str] | None = None) -> list[Stage]:
    """The stages to run, each after the stages it depends on (ties keep the definition's order)."""
    names = [s.name for s in stages]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ConfigError(f"--stages names no stage {', '.join(unknown)}; stages: {', '.join(names)}")
    by_name = {s.name: s for s in stages}
    missing = {d for s in stages for d in s.depends_on} - set(by_name)
    if missing:
        raise ConfigError(f"pipeline definition: depends_on names unknown stages {sorted(missing)}")
    sorter = TopologicalSorter({s.name: s.depends_on for s in stages})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=names.index)
        order.extend(ready)
        sorter.done(*ready)
    return [by_name[n] for n in order if only is None or n in only]


def _with_retries(stage: Stage, attempt: Callable[[], StageResult], backoff: Backoff,
                  sleep: Callable[[float], None]) -> StageResult:
    """Retry a transient failure up to stage.retries times, waiting as Argo's retryStrategy would."""
    for retry in range(stage.retries + 1):
        try:
            return attempt()
        except StageFailed as exc:
            if not exc.transient or retry == stage.retries:
                raise
            wait = backoff.seconds(retry + 1)
            _log.warning("stage.retry", stage=stage.name, retry=retry + 1, wait_seconds=wait, error=str(exc.cause))
            sleep(wait)
    raise AssertionError("unreachable")


@dataclass
class _Executor:
    """Runs one stage of a run: once, or once per fan-out item, each attempt through execute_stage."""

    ctx: StageContext
    backoff: Backoff
    sleep: Callable[[float], None]

    def run(self, stage: Stage) -> StageResult:
        return judged(stage, self._run(stage), self.ctx)

    def _run(self, stage: Stage) -> StageResult:
        if stage.fan_out_over is None:
            return _with_retries(stage, lambda: execute_stage(stage.name, self.ctx), self.backoff, self.sleep)
        items = self._items(stage.fan_out_over)
        if items is None:  # no list recorded (the source stage was not run): one call over the configured repos
            return _with_retries(stage, lambda: execute_stage(stage.name, self.ctx), self.backoff, self.sleep)
        run_id = current_run_id()

        def one(item: str) -> StageResult:
            ctx = StageContext(self.ctx.settings.with_overrides(repos=(item,)), self.ctx.run_id,
                               self.ctx.warehouse, progress=self.ctx.progress)
            with bind(run_id=run_id):
                return _with_retries(stage, lambda: execute_stage(stage.name, ctx), self.backoff, self.sleep)

        workers = max(1, min(self.ctx.settings.ingest_concurrency, len(items)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=stage.name) as pool:
            futures = [pool.submit(one, item) for item in items]
        failures = [f.exception() for f in futures if f.exception() is not None]
        if failures:  # like Argo: every item finishes, then the first failure fails the stage
            raise failures[0]  # type: ignore[misc]
        return merge_for(stage)([f.result() for f in futures])

    def _items(self, source: str) -> list[str] | None:
        details = read_stage_details(self.ctx.warehouse, self.ctx.run_id, source)
        if details is None or FAN_OUT_LIST not in details:
            return None
        return [str(item) for item in details[FAN_OUT_LIST]]


def run_step(ctx: StageContext, stage: Stage, validating: bool, backoff: Backoff,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, StageResult]:
    """One step of a run: `stage` (each fan-out item, with retries), then the early validation of what it
    wrote when the run validates (raw right after load, before dbt reads it). Results by ledger name."""
    results = {stage.name: _Executor(ctx, backoff, sleep).run(stage)}
    release_free_memory()  # the next stage may run in this process: what this one freed must not stay resident
    if validating and stage.name in EARLY_LAYERS:
        early = EARLY_LAYERS[stage.name]
        with only_layers(early):
            results[f"validate[{','.join(early)}]"] = execute_stage("validate", ctx)
        release_free_memory()
    return results


def _in_child(warehouse: Warehouse, request: GroupRequest) -> dict[str, StageResult]:
    """run_group_in_child; a child that died without a word fails the stages it left `running` with why."""
    try:
        return run_group_in_child(request)
    except StageProcessDied as exc:
        dead = [row.stage for row in run_stages(warehouse, request.run_id, RUN_STAGE) if row.status == "running"]
        for stage in dead:
            record_stage(warehouse, request.run_id, stage, "failed", error=str(exc))
            with bind(stage=stage):
                _log.error("stage.finished", status="failed", error=str(exc))
        raise StageFailed(dead[0] if dead else request.stages[0], exc) from None


def run_pipeline(
    settings: Settings,
    *,
    only: list[str] | None = None,
    progress: bool = True,
    backoff: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> RunSummary:
    """Run the pipeline graph (or `only` those stages, in graph order); stop at the first failed stage."""
    from commitlake import pipeline

    run_id = settings.run_id or new_run_id()
    summary = RunSummary(run_id)
    started = time.monotonic()
    selected = execution_order(pipeline.STAGES, only)
    with bind(run_id=run_id), open_warehouse(settings) as warehouse, run_alive(warehouse, run_id):
        _log.info("run.started", stages=[s.name for s in selected])
        record_stage(warehouse, run_id, RUN_STAGE, "running")
        ctx = StageContext(settings, run_id, warehouse, progress=progress)
        retry_backoff = backoff or pipeline.RETRY_BACKOFF
        validating = any(s.name == "validate" for s in selected)
        try:
            if settings.stage_processes:
                for group in process_groups(selected):
                    request = GroupRequest(settings, run_id, tuple(s.name for s in group), validating, progress,
                                           retry_backoff)
                    summary.results.update(_in_child(warehouse, request))
            else:
                for stage in selected:
                    summary.results.update(run_step(ctx, stage, validating, retry_backoff, sleep))
        except StageFailed as exc:
            seconds = round(time.monotonic() - started, 3)
            record_stage(warehouse, run_id, RUN_STAGE, "failed", duration_s=seconds, error=str(exc))
            _log.error(RUN_FINISHED_EVENT, status="failed", duration_s=seconds, failed_stage=exc.stage)
            raise
        summary.seconds = round(time.monotonic() - started, 3)
        rows = {f"{name}.{k}": v for name, r in summary.results.items() for k, v in r.row_counts.items()}
        status = "partial" if summary.failures else "succeeded"
        record_stage(warehouse, run_id, RUN_STAGE, status, duration_s=summary.seconds, row_counts=rows,
                     details={"failures": summary.failures} if summary.failures else None)
        _log.info(RUN_FINISHED_EVENT, status=status, duration_s=summary.seconds)
    return summary


def run_single_stage(settings: Settings, name: str, *, progress: bool = True) -> StageResult:
    """`commitlake <stage>`: one stage, as a container in Argo runs it (Argo retries the pod)."""
    run_id = settings.run_id or new_run_id()
    with bind(run_id=run_id), open_warehouse(settings) as warehouse, run_alive(warehouse, run_id):
        # on its own (no run id given) a stage is an explicit request and runs even when raw is unchanged
        ctx = StageContext(settings, run_id, warehouse, progress=progress, skip_unchanged=settings.run_id is not None)
        return judged(stage_by_name(name), execute_stage(name, ctx), ctx)
