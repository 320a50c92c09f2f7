"""The run ledger as the tests read it: each stage row of one run, straight from ops.pipeline_runs."""

from __future__ import annotations

import psycopg


def stage_rows(url: str, run_id: str) -> dict[str, tuple[str, str | None]]:
    """stage -> (status, error) for every row of `run_id`, the run's own `_run` row included."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("select stage, status, error from ops.pipeline_runs where run_id = %s", [run_id])
        return {stage: (status, error) for stage, status, error in rows}
