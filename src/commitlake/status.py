"""`commitlake status`: recent runs from ops.pipeline_runs, and the Argo exit handler's record."""

from __future__ import annotations

from commitlake.config import Settings
from commitlake.contract import RUN_FINISHED_EVENT
from commitlake.errors import ConfigError
from commitlake.logs import bind, get_logger
from commitlake.warehouse.db import open_warehouse
from commitlake.warehouse.runs import recent_runs, record_stage, run_end, run_stages

__all__ = ["print_status", "record_exit"]

_ARGO_TO_STATUS = {"succeeded": "succeeded", "failed": "failed", "error": "failed"}
_log = get_logger("runner")


def record_exit(settings: Settings, workflow_status: str) -> str:
    """Record the outcome Argo reports ({{workflow.status}}) as the run's `_run` row, and log the same
    `run.finished` line the local runner writes (the "run failed" alert counts those lines)."""
    from commitlake.runner import RUN_STAGE

    if not settings.run_id:
        raise ConfigError("--record-exit needs COMMITLAKE_RUN_ID")
    status = _ARGO_TO_STATUS.get(workflow_status.strip().lower(), "failed")
    with bind(run_id=settings.run_id), open_warehouse(settings) as warehouse:
        end = run_end(warehouse, settings.run_id, RUN_STAGE)
        record_stage(warehouse, settings.run_id, RUN_STAGE, status, duration_s=end.duration_s,
                     details={"workflow_status": workflow_status})
        if status == "succeeded":
            _log.info(RUN_FINISHED_EVENT, status=status, duration_s=end.duration_s)
        else:
            _log.error(RUN_FINISHED_EVENT, status=status, duration_s=end.duration_s, failed_stage=end.failed_stage)
    return status


def print_status(settings: Settings, limit: int) -> None:
    from commitlake.runner import RUN_STAGE

    with open_warehouse(settings) as warehouse:
        runs = recent_runs(warehouse, RUN_STAGE, limit)
        if not runs:
            print("no runs recorded yet")
            return
        for run in runs:
            print(f"{run.run_id}  {run.status:<9}  started {run.started:%Y-%m-%d %H:%M:%S %Z}")
            for row in run_stages(warehouse, run.run_id, RUN_STAGE):
                counts = ", ".join(f"{k}={v}" for k, v in row.row_counts.items())
                seconds = f"{row.duration_s:7.1f}s" if row.duration_s is not None else "       -"
                line = f"    {row.stage:<10} {row.status:<9} {seconds}  {counts}"
                if row.error:
                    line += f"  error: {row.error[:160]}"
                print(line)
