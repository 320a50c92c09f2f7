"""`commitlake status`: recent runs from ops.pipeline_runs, the Argo exit handler's record, and stale rows.

A stage killed mid-run (SIGKILL, OOM, a node gone) leaves its row `running` for ever. Every process that runs
stages holds a shared advisory lock on its run id for as long as it lives (`run_alive`); Postgres drops the
lock with the dead process's connection. So when the next run starts, a `running` row whose run id nobody else
holds is provably abandoned: `mark_abandoned` says so, with the time it noticed, and `status` shows it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from commitlake.config import Settings
from commitlake.errors import ConfigError
from commitlake.logs import get_logger
from commitlake.warehouse.db import Warehouse, open_warehouse

__all__ = ["RUN_ALIVE_LOCK", "mark_abandoned", "print_status", "record_exit", "run_alive"]

#: First key of the shared advisory lock (RUN_ALIVE_LOCK, hashtext(run_id)) a live run holds.
RUN_ALIVE_LOCK = 7204153

_ARGO_TO_STATUS = {"succeeded": "succeeded", "failed": "failed", "error": "failed"}
_log = get_logger("status")

_MARK_ABANDONED = """
update ops.pipeline_runs r set
    status = 'abandoned',
    finished_at = now(),
    details = r.details || jsonb_build_object('abandoned_noticed_at', now(), 'abandoned_noticed_by', %(run_id)s::text),
    error = coalesce(r.error, 'abandoned: its process ended while the stage was running')
where r.status = 'running'
  and not exists (
      select 1 from pg_locks l
      where l.locktype = 'advisory' and l.database = (select oid from pg_database where datname = current_database())
        and l.classid = %(lock)s::int::oid and l.objid = hashtext(r.run_id)::oid and l.objsubid = 2
        and l.pid <> pg_backend_pid() and l.granted)
returning r.run_id, r.stage
"""


@contextlib.contextmanager
def run_alive(warehouse: Warehouse, run_id: str) -> Iterator[list[tuple[str, str]]]:
    """Hold this run's liveness lock while the block runs; yields the rows found abandoned on entry."""
    with warehouse.connect(autocommit=True) as conn:
        conn.execute("select pg_advisory_lock_shared(%s, hashtext(%s))", [RUN_ALIVE_LOCK, run_id])
        abandoned = mark_abandoned(conn, run_id)
        yield abandoned


def mark_abandoned(conn: psycopg.Connection[Any], noticed_by: str) -> list[tuple[str, str]]:
    """Mark `running` rows whose process is gone as `abandoned`; returns their (run_id, stage)."""
    rows: list[tuple[str, str]] = conn.execute(
        _MARK_ABANDONED, {"run_id": noticed_by, "lock": RUN_ALIVE_LOCK}
    ).fetchall()
    for run_id, stage in rows:
        _log.warning("run.abandoned_stage", abandoned_run_id=run_id, abandoned_stage=stage)
    return rows


def record_exit(settings: Settings, workflow_status: str) -> None:
    """Record the outcome Argo reports ({{workflow.status}}) as the run's `_run` row."""
    from commitlake.stages import record_stage

    if not settings.run_id:
        raise ConfigError("--record-exit needs COMMITLAKE_RUN_ID")
    status = _ARGO_TO_STATUS.get(workflow_status.strip().lower(), "failed")
    with open_warehouse(settings) as warehouse:
        with warehouse.connect(autocommit=True) as conn:  # a pod killed by its deadline left its row running
            mark_abandoned(conn, settings.run_id)
        record_stage(warehouse, settings.run_id, "_run", status, details={"workflow_status": workflow_status})


def print_status(settings: Settings, limit: int) -> None:
    with open_warehouse(settings) as warehouse, warehouse.connect() as conn:
        runs = conn.execute(
            """
            select run_id, min(started_at) as started, max(finished_at) as finished,
                   coalesce(max(status) filter (where stage = '_run'),
                            case when bool_or(status = 'abandoned') then 'abandoned' else 'running' end) as status
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
                select stage, status, duration_s, row_counts, error, finished_at, details from ops.pipeline_runs
                where run_id = %s and stage <> '_run' order by started_at
                """,
                [run_id],
            ).fetchall()
            for stage, stage_status, duration, rows, error, finished, details in stages:
                counts = ", ".join(f"{k}={v}" for k, v in (rows or {}).items())
                seconds = f"{duration:7.1f}s" if duration is not None else "       -"
                line = f"    {stage:<10} {stage_status:<9} {seconds}  {counts}"
                if stage_status == "abandoned" and finished is not None:
                    line += f"  (noticed {finished:%Y-%m-%d %H:%M:%S %Z})"
                if error:
                    line += f"  error: {error[:160]}"
                print(line)
                for key, why in ((details or {}).get("failures") or {}).items():  # a partial stage: what failed
                    print(f"      failed {key}: {str(why)[:200]}")
