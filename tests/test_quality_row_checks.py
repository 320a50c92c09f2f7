"""Row-returning SQL checks (unexpected_rows_expectation) run their query once when nothing is wrong.

GX's own expectation runs the query twice, as a count and for the rows, even when no row comes back: at 1M
commits that was the orphan checks' full anti-joins twice over. Each query below draws from a sequence once per
row it reads, so the sequence tells how many times the server ran it.
"""

from __future__ import annotations

import psycopg

from commitlake.quality._checks import Check
from commitlake.quality._gx import run_checks


def _executions(url: str, sequence: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"select last_value, is_called from {sequence}").fetchone()
    assert row is not None
    return int(row[0]) if row[1] else 0


def test_a_passing_row_check_runs_once_and_a_failing_one_still_shows_its_rows(fresh_database: str) -> None:
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("create table public.probe (x int)")
        conn.execute("insert into public.probe values (7)")
        conn.execute("create sequence public.passing_runs")
        conn.execute("create sequence public.failing_runs")
    checks = [
        Check(table="public.probe", expectation="unexpected_rows_expectation", name="nothing_wrong",
              kwargs={"unexpected_rows_query": "select x from {batch} where nextval('passing_runs') < 0"}),
        Check(table="public.probe", expectation="unexpected_rows_expectation", name="one_offender",
              kwargs={"unexpected_rows_query": "select x from {batch} where nextval('failing_runs') > 0"}),
    ]  # fmt: skip

    passing, failing = run_checks(fresh_database, checks, {})

    assert passing.success and passing.observed == {"observed_value": 0}
    assert _executions(fresh_database, "public.passing_runs") == 1
    assert not failing.success
    assert failing.observed == {"observed_value": 1, "unexpected_sample": [{"x": 7}]}
    # counted once, then GX's own expectation for the rows: its count and its fetch
    assert _executions(fresh_database, "public.failing_runs") == 3
