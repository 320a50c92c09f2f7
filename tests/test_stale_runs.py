"""Stale state (issue 10, item 13): a stage killed mid-run is marked `abandoned` by the next run, never a live one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commitlake.config import Settings
from commitlake.runner import run_pipeline
from commitlake.status import print_status

INGEST = "ingest[git:.]"  # the row of a fan-out stage over one source names it

# A run whose ingest stage hangs (as a slow or stuck one would) until the test kills or ends it.
_CHILD = textwrap.dedent(
    """
    import sys, time
    import commitlake.stages.ingest as ingest
    from commitlake.config import Settings
    from commitlake.runner import run_pipeline

    def hang(ctx):
        time.sleep(600)

    ingest.run = hang
    settings = Settings.from_env({"COMMITLAKE_HOME": sys.argv[1], "DATABASE_URL": sys.argv[2],
                                  "COMMITLAKE_RUN_ID": sys.argv[3], "COMMITLAKE_REPOS": "git:.",
                                  "COMMITLAKE_STAGE_PROCESSES": "0"})  # the patched stage is this process's
    run_pipeline(settings, only=["ingest"], progress=False)
    """
)


def _settings(home: Path, database: str, **extra: str) -> Settings:
    return Settings.from_env({"COMMITLAKE_HOME": str(home), "DATABASE_URL": database, "COMMITLAKE_REPOS": "git:.",
                              **extra})


def _rows(url: str) -> dict[tuple[str, str], tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute("select run_id, stage, status, finished_at, details from ops.pipeline_runs").fetchall()
        except psycopg.errors.UndefinedTable:  # the first run has not created the schema yet
            return {}
    return {(r[0], r[1]): r[2:] for r in rows}


def _start_hanging_run(tmp_path: Path, database: str, run_id: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path / "home"), database, run_id])
    deadline = time.monotonic() + 60
    while _rows(database).get((run_id, INGEST), ("",))[0] != "running":
        assert child.poll() is None and time.monotonic() < deadline, "the child run never started its stage"
        time.sleep(0.2)
    return child


def test_killed_stage_is_marked_abandoned_and_a_live_one_is_not(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    killed = _start_hanging_run(tmp_path, fresh_database, "run-killed")
    alive = _start_hanging_run(tmp_path, fresh_database, "run-alive")
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        time.sleep(0.5)  # the server notices the dead client's closed socket
        before = time.time()
        run_pipeline(_settings(tmp_path / "home", fresh_database, COMMITLAKE_RUN_ID="run-next"), only=["plan"],
                     progress=False)
        rows = _rows(fresh_database)
        for stage in (INGEST, "_run"):
            status, finished, details = rows[("run-killed", stage)]
            assert status == "abandoned"
            assert finished is not None and abs(finished.timestamp() - before) < 30  # when it was noticed
            assert details["abandoned_noticed_by"] == "run-next"
        assert rows[("run-alive", INGEST)][0] == rows[("run-alive", "_run")][0] == "running"
        assert rows[("run-next", "_run")][0] == "succeeded"

        capsys.readouterr()
        print_status(_settings(tmp_path / "home", fresh_database), limit=5)
        out = capsys.readouterr().out
        killed_line = next(line for line in out.splitlines() if line.startswith("run-killed"))
        assert "abandoned" in killed_line
        assert any("ingest" in line and "abandoned" in line and "noticed" in line for line in out.splitlines())
    finally:
        for child in (killed, alive):
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)


def test_argo_exit_handler_marks_the_killed_pods_stage(tmp_path: Path, fresh_database: str) -> None:
    """A pod killed by its deadline never records its end; the workflow's exit handler does, for it."""
    from commitlake.status import record_exit

    killed = _start_hanging_run(tmp_path, fresh_database, "wf-1")
    killed.kill()
    killed.wait(timeout=30)
    time.sleep(0.5)
    record_exit(_settings(tmp_path / "home", fresh_database, COMMITLAKE_RUN_ID="wf-1"), "Failed")
    rows = _rows(fresh_database)
    assert rows[("wf-1", INGEST)][0] == "abandoned"
    assert rows[("wf-1", INGEST)][2]["abandoned_noticed_by"] == "wf-1"
    assert rows[("wf-1", "_run")][0] == "failed"


def test_a_warehouse_created_before_accepts_the_new_statuses(fresh_database: str) -> None:
    """Tables created by the previous schema (same DDL as then) are upgraded in place by ensure_schema."""
    from commitlake.warehouse.db import ensure_schema

    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create schema ops")
        conn.execute("create schema raw")
        conn.execute(
            """
            create table ops.pipeline_runs (
                run_id text not null, stage text not null,
                status text not null check (status in ('running', 'succeeded', 'failed', 'skipped')),
                started_at timestamptz not null default now(), finished_at timestamptz, duration_s double precision,
                row_counts jsonb not null default '{}'::jsonb, details jsonb not null default '{}'::jsonb,
                error text, primary key (run_id, stage))
            """
        )
        conn.execute(
            """
            create table raw.rejected_records (
                id bigserial primary key, lake_key text not null, line_no integer not null, reason text not null,
                detail text, original_text text not null, run_id text not null,
                rejected_at timestamptz not null default now(), unique (lake_key, line_no))
            """
        )
        conn.execute("insert into ops.pipeline_runs (run_id, stage, status) values ('old', 'ingest', 'running')")
    ensure_schema(fresh_database)
    ensure_schema(fresh_database)  # and again: a no-op the second time
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("insert into ops.pipeline_runs (run_id, stage, status) values ('r', 'ingest', 'partial')")
        conn.execute("update ops.pipeline_runs set status = 'abandoned' where run_id = 'old'")
        conn.execute("insert into raw.rejected_records (lake_key, line_no, reason, original_text, original_bytes,"
                     " run_id) values ('k', 1, 'invalid_utf8', 'caf\\xe9', '\\xcafe'::bytea, 'r')")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("insert into ops.pipeline_runs (run_id, stage, status) values ('r', 'load', 'bogus')")
