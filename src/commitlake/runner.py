"""The local executor: walk the pipeline definition in order, in this process, against one warehouse."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from commitlake.config import Settings
from commitlake.errors import StageFailed
from commitlake.logs import bind, get_logger
from commitlake.pipeline import STAGES
from commitlake.stages import StageContext, StageResult, execute_stage, record_stage
from commitlake.stages.validate import EARLY_LAYERS, only_layers
from commitlake.warehouse.db import open_warehouse

__all__ = ["RunSummary", "new_run_id", "run_pipeline", "run_single_stage"]

RUN_STAGE = "_run"
_log = get_logger("runner")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class RunSummary:
    run_id: str
    results: dict[str, StageResult] = field(default_factory=dict)
    seconds: float = 0.0

    def render(self) -> str:
        lines = [f"commitlake run {self.run_id} succeeded in {self.seconds:.1f} s"]
        for name, result in self.results.items():
            lines.append(f"  {name:<10} {result.summary}")
        return "\n".join(lines)


def run_pipeline(settings: Settings, *, only: list[str] | None = None, progress: bool = True) -> RunSummary:
    """Run every stage (or `only` those) in pipeline order; stop at the first failure."""
    run_id = settings.run_id or new_run_id()
    summary = RunSummary(run_id)
    started = time.monotonic()
    selected = [s for s in STAGES if only is None or s.name in only]
    with bind(run_id=run_id), open_warehouse(settings) as warehouse:
        _log.info("run.started", stages=[s.name for s in selected])
        record_stage(warehouse, run_id, RUN_STAGE, "running")
        ctx = StageContext(settings, run_id, warehouse, progress=progress)
        try:
            validating = any(s.name == "validate" for s in selected)
            for stage in selected:
                summary.results[stage.name] = execute_stage(stage.name, ctx)
                if validating and stage.name in EARLY_LAYERS:  # e.g. raw right after load, before dbt reads it
                    early = EARLY_LAYERS[stage.name]
                    with only_layers(early):
                        summary.results[f"validate[{','.join(early)}]"] = execute_stage("validate", ctx)
        except StageFailed as exc:
            seconds = round(time.monotonic() - started, 3)
            record_stage(warehouse, run_id, RUN_STAGE, "failed", duration_s=seconds, error=str(exc))
            _log.error("run.finished", status="failed", duration_s=seconds, failed_stage=exc.stage)
            raise
        summary.seconds = round(time.monotonic() - started, 3)
        rows = {f"{name}.{k}": v for name, r in summary.results.items() for k, v in r.row_counts.items()}
        record_stage(warehouse, run_id, RUN_STAGE, "succeeded", duration_s=summary.seconds, row_counts=rows)
        _log.info("run.finished", status="succeeded", duration_s=summary.seconds)
    return summary


def run_single_stage(settings: Settings, name: str, *, progress: bool = True) -> StageResult:
    """`commitlake <stage>`: one stage, as a container in Argo runs it."""
    run_id = settings.run_id or new_run_id()
    with bind(run_id=run_id), open_warehouse(settings) as warehouse:
        return execute_stage(name, StageContext(settings, run_id, warehouse, progress=progress))
