"""`commitlake status`: recent runs from ops.pipeline_runs, the Argo exit handler's record, and stale rows.

A stage killed mid-run (SIGKILL, OOM, a node gone) leaves its row `running` for ever. Every process that runs
stages holds a shared advisory lock on its run id for as long as it lives (`run_alive`); Postgres drops the
lock with the dead process's connection. So when the next run starts, a `running` row whose run id nobody else
holds is provably abandoned: `mark_abandoned` says so, with the time it noticed, and `status` shows it.
"""

from __future__ import annotations

from commitlake.config import Settings
from commitlake.contract import RUN_FINISHED_EVENT
from commitlake.errors import ConfigError
from commitlake.logs import bind, get_logger
from commitlake.warehouse.db import open_warehouse
from commitlake.warehouse.runs import (
    RUN_ALIVE_LOCK,
    mark_abandoned,
    recent_runs,
    record_stage,
    run_alive,
    run_end,
    run_stages,
)

__all__ = ["RUN_ALIVE_LOCK", "mark_abandoned", "print_status", "record_exit", "run_alive"]

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
        with warehouse.connect(autocommit=True) as conn:  # a pod killed by its deadline left its row running
            mark_abandoned(conn, settings.run_id)
        end = run_end(warehouse, settings.run_id, RUN_STAGE)
        record_stage(warehouse, settings.run_id, RUN_STAGE, status, duration_s=end.duration_s,
                     details={"workflow_status": workflow_status})
        if status == "succeeded":
            _log.info(RUN_FINISHED_EVENT, status=status, duration_s=end.duration_s)
        else:
            _log.error(RUN_FINISHED_EVENT, status=status, duration_s=end.duration_s, failed_stage=end.failed_stage)
    return status


def print_status(settings: Settings, limit: int) -> None:
    from commitlake.ml._drift import latest_drift_lines
    from commitlake.runner import RUN_STAGE

    with open_warehouse(settings) as warehouse:
        runs = recent_runs(warehouse, RUN_STAGE, limit)
        if not runs:
            print("no runs recorded yet")
            return
        for run in runs:
            print(f"{run.run_id}  {run.status:<9}  started {run.started:%Y-%m-%d %H:%M:%S %Z}")
            rows = run_stages(warehouse, run.run_id, RUN_STAGE)
            width = max([10, *(len(row.stage) for row in rows)])  # `ingest[<source uri>]` rows are long
            for row in rows:
                counts = ", ".join(f"{k}={v}" for k, v in row.row_counts.items())
                seconds = f"{row.duration_s:7.1f}s" if row.duration_s is not None else "       -"
                line = f"    {row.stage:<{width}} {row.status:<9} {seconds}  {counts}"
                if row.status == "abandoned" and row.finished_at is not None:
                    line += f"  (noticed {row.finished_at:%Y-%m-%d %H:%M:%S %Z})"
                if row.status == "skipped" and (row.details or {}).get("reason"):  # e.g. no new data
                    line += f"  ({str((row.details or {})['reason'])[:160]})"
                if row.error:
                    line += f"  error: {row.error[:160]}"
                print(line)
                for key, why in ((row.details or {}).get("failures") or {}).items():  # a partial stage: what failed
                    print(f"      failed {key}: {str(why)[:200]}")
                data_docs = (row.details or {}).get("data_docs")
                if data_docs:
                    print(f"               data docs: {data_docs}")
        with warehouse.connect() as conn:
            for line in latest_drift_lines(conn):
                print(line)
