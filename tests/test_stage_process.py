"""The local runner's stage processes (commitlake.stage_process): the data stages in one child, train and
predict in another, the runner itself lean; a kill of the runner takes its children along, and a child killed
on its own fails the run naming the stage it was in."""

from __future__ import annotations

import ast
import gzip
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from commitlake import pipeline
from commitlake.config import Settings
from commitlake.errors import EXIT_BAD_INPUT, StageFailed
from commitlake.runner import RUN_STAGE, run_pipeline
from commitlake.stage_process import GroupRequest, StageProcessError, process_groups, run_group_in_child
from ledger import stage_rows

ROOT = Path(__file__).resolve().parents[1]


def test_groups_cut_before_each_stage_that_asks_for_a_fresh_process() -> None:
    stages = list(pipeline.STAGES)
    assert [[s.name for s in g] for g in process_groups(stages)] == [
        ["plan", "ingest", "load", "transform", "validate"], ["train", "predict"]]
    assert [[s.name for s in g] for g in process_groups([pipeline.stage_by_name("predict")])] == [["predict"]]
    assert process_groups([]) == []


# Runs the data stages on a JSON-lines source, then names the stage modules this process imported.
_RUNNER = textwrap.dedent(
    """
    import sys
    from commitlake.config import Settings
    from commitlake.runner import run_pipeline

    settings = Settings.from_env({"COMMITLAKE_HOME": sys.argv[1], "DATABASE_URL": sys.argv[2],
                                  "COMMITLAKE_REPOS": sys.argv[3], "COMMITLAKE_STAGE_PROCESSES": sys.argv[4]})
    summary = run_pipeline(settings, only=["plan", "ingest", "load"], progress=False)
    print(summary.results["load"].row_counts["rows_inserted"])
    print(sorted(m for m in sys.modules if m.startswith(("commitlake.stages.", "commitlake.warehouse.load"))))
    """
)


@pytest.mark.parametrize("processes", ["1", "0"])
def test_stages_run_outside_the_runner_unless_told_not_to(tmp_path: Path, fresh_database: str,
                                                          shared_commits: Path, processes: str) -> None:
    """In stage processes the runner never imports a stage's module; in its own process it does. Both load
    every commit."""
    source = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(tmp_path / "home"), fresh_database, source, processes],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows, modules = done.stdout.strip().splitlines()[-2:]
    with gzip.open(shared_commits / "commitizen__cz-cli.jsonl.gz", "rb") as lines:
        assert int(rows) == sum(1 for line in lines if line.strip())
    with psycopg.connect(fresh_database) as conn:
        assert conn.execute("select count(*) from raw.github_commits").fetchone() == (int(rows),)
    stage_modules = {"commitlake.stages.ingest", "commitlake.stages.load", "commitlake.warehouse.load"}
    imported = stage_modules & set(ast.literal_eval(modules))
    assert imported == (set() if processes == "1" else stage_modules)


@pytest.fixture
def silent_api() -> Iterator[str]:
    """A GitHub API that accepts connections and never answers: a stage calling it waits (30 s read timeout)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def _hanging_run(tmp_path: Path, database: str, api: str, run_id: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": database,
           "GITHUB_API_URL": api, "COMMITLAKE_PROJECT_DIR": str(ROOT), "COMMITLAKE_STAGE_PROCESSES": "1"}
    env.pop("GITHUB_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "commitlake", "run", "--run-id", run_id, "--repos",
                             "github:acme/widgets"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _running_stage(database: str, run_id: str, runner: subprocess.Popen[str]) -> str:
    """The stage row of `run_id` that is `running`, once there is one."""
    deadline = time.monotonic() + 60
    while True:
        with psycopg.connect(database) as conn:
            try:
                rows = conn.execute("select stage from ops.pipeline_runs where run_id = %s and status = 'running'"
                                    " and stage <> %s", [run_id, RUN_STAGE]).fetchall()
            except psycopg.errors.UndefinedTable:  # the schema is not created yet
                rows = []
        if rows:
            return str(rows[0][0])
        assert runner.poll() is None and time.monotonic() < deadline, runner.stderr.read() if runner.stderr else ""
        time.sleep(0.2)


def _stage_child(runner: subprocess.Popen[str]) -> psutil.Process:
    (child,) = [p for p in psutil.Process(runner.pid).children() if "spawn_main" in " ".join(p.cmdline())]
    return child


def test_a_killed_runner_takes_its_stage_process_along(tmp_path: Path, fresh_database: str,
                                                       silent_api: str) -> None:
    runner = _hanging_run(tmp_path, fresh_database, silent_api, "run-killed")
    try:
        stage = _running_stage(fresh_database, "run-killed", runner)
        child = _stage_child(runner)
        runner.send_signal(signal.SIGKILL)
        runner.wait(30)
        _, alive = psutil.wait_procs([child], timeout=10)
        assert not alive, f"stage process {child.pid} outlived the runner"
    finally:
        runner.kill()
        runner.wait(30)
    settings = Settings.from_env({"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
                                  "COMMITLAKE_REPOS": "git:.", "COMMITLAKE_PROJECT_DIR": str(ROOT)})
    run_pipeline(settings, only=["plan"], progress=False)  # a next run sees the killed one as abandoned
    rows = stage_rows(fresh_database, "run-killed")
    assert (rows[stage][0], rows[RUN_STAGE][0]) == ("abandoned", "abandoned")


def test_a_killed_stage_process_fails_the_run_naming_its_stage(tmp_path: Path, fresh_database: str,
                                                               silent_api: str) -> None:
    runner = _hanging_run(tmp_path, fresh_database, silent_api, "run-oom")
    try:
        stage = _running_stage(fresh_database, "run-oom", runner)
        _stage_child(runner).send_signal(signal.SIGKILL)  # as the kernel's out-of-memory killer would
        assert runner.wait(60) == EXIT_BAD_INPUT
    finally:
        runner.kill()
    reason = "its process was killed by SIGKILL (the kernel's out-of-memory killer sends it)"
    assert f"commitlake: error: stage '{stage}' failed: {reason}" in (runner.stderr.read() if runner.stderr else "")
    rows = stage_rows(fresh_database, "run-oom")
    assert rows[stage] == ("failed", reason)
    assert rows[RUN_STAGE][0] == "failed"


def test_a_failure_in_the_child_keeps_its_message_and_retry_class(tmp_path: Path) -> None:
    """Exceptions cross as text (not all pickle); the class that decides a retry (exit code 75) crosses too."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the block ends
    settings = Settings.from_env({"COMMITLAKE_HOME": str(tmp_path / "home"),
                                  "DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/db"})
    request = GroupRequest(settings, "run-x", ("plan",), False, False, pipeline.RETRY_BACKOFF)
    with pytest.raises(StageProcessError) as raised:
        run_group_in_child(request)
    assert not isinstance(raised.value, StageFailed)
    assert raised.value.transient
    assert f"cannot connect to the warehouse at postgresql://u:***@127.0.0.1:{port}/db" in str(raised.value)


def test_a_stage_failing_in_the_child_fails_here_with_its_name_and_message(tmp_path: Path,
                                                                             fresh_database: str) -> None:
    settings = Settings.from_env({"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
                                  "COMMITLAKE_REPOS": "svn:acme/widgets"})
    with pytest.raises(StageFailed) as raised:
        run_group_in_child(GroupRequest(settings, "run-bad", ("plan", "ingest"), False, False,
                                        pipeline.RETRY_BACKOFF))
    assert raised.value.stage == "plan" and not raised.value.transient
    assert "svn:acme/widgets" in str(raised.value)
    assert stage_rows(fresh_database, "run-bad")["plan"][0] == "failed"
