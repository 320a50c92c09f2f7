"""`commitlake status`: recent runs from ops.pipeline_runs, and the Argo exit handler's record."""

from __future__ import annotations

from commitlake.config import Settings
from commitlake.errors import ConfigError
from commitlake.warehouse.db import open_warehouse

__all__ = ["print_status", "record_exit"]

_ARGO_TO_STATUS = {"succeeded": "succeeded", "failed": "failed", "error": "failed"}


def record_exit(settings: Settings, workflow_status: str) -> None:
    """Record the outcome Argo reports ({{workflow.status}}) as the run's `_run` row."""
    from commitlake.stages import record_stage

    if not settings.run_id:
        raise ConfigError("--record-exit needs COMMITLAKE_RUN_ID")
    status = _ARGO_TO_STATUS.get(workflow_status.strip().lower(), "failed")
    with open_warehouse(settings) as warehouse:
        record_stage(warehouse, settings.run_id, "_run", status, details={"workflow_status": workflow_status})


def print_status(settings: Settings, limit: int) -> None:
    with open_warehouse(settings) as warehouse, warehouse.connect() as conn:
        runs = conn.execute(
            """
            select run_id, min(started_at) as started, max(finished_at) as finished,
                   coalesce(max(status) filter (where stage = '_run'), 'running') as status
            from ops.pipeline_runs group by run_id order by min(started_at) desc limit %s
            """,
            [limit],
        ).fetchall()
        if not runs:
            print("no runs recorded yet")
            return
        for run_id, started, _finished, status in runs:
            print(f"{run_id}  {status:<9}  started {started:%Y-%m-%d %H:%M:%S %Z}")
            stages = conn.execute(
                """
                select stage, status, duration_s, row_counts, error, details from ops.pipeline_runs
                where run_id = %s and stage <> '_run' order by started_at
                """,
                [run_id],
            ).fetchall()
            for stage, stage_status, duration, rows, error, details in stages:
                counts = ", ".join(f"{k}={v}" for k, v in (rows or {}).items())
                seconds = f"{duration:7.1f}s" if duration is not None else "       -"
                line = f"    {stage:<10} {stage_status:<9} {seconds}  {counts}"
                if error:
                    line += f"  error: {error[:160]}"
                print(line)
                if (details or {}).get("data_docs"):
                    print(f"               data docs: {details['data_docs']}")
