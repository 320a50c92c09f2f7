"""The command line: one-line errors that name the problem, non-zero exits, earlier data untouched."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

from commitlake.errors import EXIT_BAD_INPUT, EXIT_PARTIAL, EXIT_TERMINATED
from commitlake.runner import RUN_STAGE

ROOT = Path(__file__).resolve().parents[1]
FINGERPRINT = "select count(*), md5(string_agg(sha, ',' order by sha)) from raw.github_commits"


def commitlake(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commitlake", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


@pytest.fixture
def env(tmp_path: Path, fresh_database: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "GITHUB_"))}
    base.update({"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
                 "COMMITLAKE_PROJECT_DIR": str(ROOT)})
    return base


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("commitlake: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_help_lists_every_stage(env: dict[str, str]) -> None:
    result = commitlake("--help", env=env)
    assert result.returncode == 0
    for stage in ("plan", "ingest", "load", "transform", "validate", "train", "predict", "run", "status", "db"):
        assert stage in result.stdout


def test_bad_source_uri(env: dict[str, str]) -> None:
    result = commitlake("run", "--repos", "svn:whatever", env=env)
    assert result.returncode == 1  # a bad input is not worth retrying
    line = _one_line_error(result)
    assert "stage 'plan' failed" in line and "svn:whatever" in line


def test_unreadable_file(env: dict[str, str], tmp_path: Path, shared_commits: Path) -> None:
    """An unreadable source beside a good one is reported by name with the partial exit status, not as a failed
    stage: the good one is ingested and loaded."""
    bad = tmp_path / "octo__cat.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage")
    good = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    result = commitlake("run", "--stages", "plan,ingest,load", "--repos", f"jsonl:{bad}", good, env=env)
    assert result.returncode == EXIT_PARTIAL, result.stderr
    failed = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and f"jsonl:{bad}" in failed[0] and "cannot read" in failed[0]
    import psycopg

    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select count(*) from raw.github_commits").fetchone() == (396,)


def test_missing_file(env: dict[str, str], tmp_path: Path) -> None:
    """A stage whose every source failed is no partial success: one line naming the file, exit 1."""
    result = commitlake("ingest", "--repos", f"jsonl:{tmp_path}/a__b.jsonl", env=env)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    line = _one_line_error(result)
    assert line == (f"commitlake: error: stage 'ingest' failed: no source could be ingested: jsonl:{tmp_path}/a__b"
                    f".jsonl: no such file {tmp_path}/a__b.jsonl")


def test_a_run_whose_sources_all_fail_stops_at_ingest_naming_them(env: dict[str, str], tmp_path: Path) -> None:
    """First use with a mistyped path: the run stops at ingest and says which file, instead of going on to
    validate an empty warehouse and failing its quality gate for a reason that hides this one."""
    import psycopg

    missing, not_git = f"jsonl:{tmp_path}/nope/foo__bar.jsonl", f"git:{tmp_path}"
    result = commitlake("run", "--repos", missing, not_git, env=env)
    line = _only_line(result, EXIT_BAD_INPUT)
    assert line.startswith("commitlake: error: stage 'ingest' failed: no source could be ingested: ")
    assert f"{missing}: no such file" in line and f"{not_git}: {tmp_path} is not a readable git clone" in line
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        stages = dict(conn.execute("select stage, status from ops.pipeline_runs").fetchall())
    assert stages[RUN_STAGE] == "failed" and not {"load", "transform", "validate"} & set(stages), stages


def test_stopped_database(env: dict[str, str]) -> None:
    env = {**env, "DATABASE_URL": "postgresql://pipeline:s3cret@127.0.0.1:1/commitlake"}
    result = commitlake("run", env=env)
    assert result.returncode == 75  # EX_TEMPFAIL: Argo's retryStrategy retries it
    line = _one_line_error(result)
    assert "cannot connect to the warehouse at postgresql://pipeline:***@127.0.0.1:1/commitlake" in line
    assert "s3cret" not in line


def test_plan_prints_only_json(env: dict[str, str], shared_commits: Path) -> None:
    import orjson

    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    result = commitlake("plan", "--repos", uri, "git:.", env=env)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == [uri, "git:."]


def test_partial_run_leaves_earlier_data_untouched(env: dict[str, str], shared_commits: Path) -> None:
    import psycopg

    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    ok = commitlake("run", "--stages", "plan,ingest,load", "--repos", uri, env=env)
    assert ok.returncode == 0, ok.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        before = conn.execute(FINGERPRINT).fetchone()
    broken = Path(env["COMMITLAKE_HOME"]) / "x__y.jsonl.gz"
    broken.write_bytes(gzip.compress(b"")[:5])
    failed = commitlake("run", "--stages", "plan,ingest,load", "--repos", f"jsonl:{broken}", env=env)
    line = _only_line(failed, EXIT_BAD_INPUT)  # its only source failed: no partial success, the run stops
    assert f"no source could be ingested: jsonl:{broken}: cannot read" in line
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        after = conn.execute(FINGERPRINT).fetchone()
        marked = conn.execute("select stage from ops.pipeline_runs where status = 'failed' order by 1").fetchall()
    assert before == after and before is not None and before[0] == 396
    assert marked == [(RUN_STAGE,), (f"ingest[jsonl:{broken}]",)]


# Every wrong input: one line naming the input and what to do, exit status by class --------------------------
def _only_line(result: subprocess.CompletedProcess[str], status: int) -> str:
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # no traceback, no usage block: one line
    return lines[0]


def test_unknown_stage_is_a_usage_error_and_runs_nothing(env: dict[str, str]) -> None:
    import psycopg

    line = _only_line(commitlake("run", "--stages", "plan,bogus", env=env), 2)
    assert line == ("commitlake: error: argument --stages: unknown stage 'bogus'; choose from "
                    "plan,ingest,load,transform,validate,train,predict (see `commitlake run --help`)")
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select to_regclass('ops.pipeline_runs')").fetchone() == (None,)


def test_negative_limit_is_a_usage_error(env: dict[str, str]) -> None:
    line = _only_line(commitlake("status", "--limit", "-1", env=env), 2)
    assert line == "commitlake: error: argument --limit: must be 1 or more, got -1 (see `commitlake status --help`)"


def test_malformed_database_url_is_bad_input(env: dict[str, str]) -> None:
    line = _only_line(commitlake("status", env={**env, "DATABASE_URL": "not a url"}), 1)
    assert line == ("commitlake: error: DATABASE_URL='not a url' is not a PostgreSQL URL; expected "
                    "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to use the embedded server)")


def test_refused_connection_says_so_and_is_transient(env: dict[str, str]) -> None:
    url = "postgresql://pipeline:s3cret@127.0.0.1:1/commitlake"
    line = _only_line(commitlake("status", env={**env, "DATABASE_URL": url}), 75)
    assert line == ("commitlake: error: cannot connect to the warehouse at postgresql://pipeline:***@127.0.0.1:1/"
                    "commitlake: connection refused; is PostgreSQL running there? check DATABASE_URL")


def test_unresolvable_github_fails_fast_without_retries(env: dict[str, str]) -> None:
    import time

    started = time.monotonic()
    result = commitlake("ingest", "--repos", "github:octo/cat", "--log-format", "json",
                        env={**env, "GITHUB_API_URL": "https://api.github.invalid"})
    seconds = time.monotonic() - started
    line = _only_line(result, 75)
    assert line == ("commitlake: error: stage 'ingest' failed: cannot resolve api.github.invalid: check the network "
                    "and DNS, or GITHUB_API_URL=https://api.github.invalid")
    assert '"github.retry"' not in result.stdout and seconds < 30


# Help, version, dry run, output format -----------------------------------------------------------------
def test_version(env: dict[str, str]) -> None:
    from commitlake import __version__

    result = commitlake("--version", env=env)
    assert result.returncode == 0 and result.stdout.strip() == f"commitlake {__version__}"


def test_each_stage_shows_only_its_flags_a_description_and_env_vars(env: dict[str, str]) -> None:
    train = " ".join(commitlake("train", "--help", env=env).stdout.split())  # argparse wraps lines
    assert "Train the commit-type classifier" in train and "[env COMMITLAKE_RUN_ID]" in train
    assert "MLFLOW_TRACKING_URI" in train
    for flag in ("--with-files", "--max-requests", "--concurrency", "--repos", "--dry-run"):
        assert flag not in train
    ingest = " ".join(commitlake("ingest", "--help", env=env).stdout.split())  # argparse wraps lines
    for flag, var in (("--max-requests", "COMMITLAKE_MAX_REQUESTS"), ("--concurrency", "COMMITLAKE_INGEST_CONCURRENCY"),
                      ("--repos", "COMMITLAKE_REPOS"), ("--log-format", "COMMITLAKE_LOG_FORMAT")):
        assert flag in ingest and f"[env {var}]" in ingest
    assert "--dry-run" in ingest


def test_dry_run_prints_the_plan_and_writes_nothing(env: dict[str, str], shared_commits: Path) -> None:
    import psycopg

    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    result = commitlake("run", "--dry-run", "--repos", uri, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:3] == [
        "dry run: nothing will be written. stages: plan, ingest, load, transform, validate, train, predict",
        f"sources (1): {uri}",
        "repositories (1):",
    ]
    assert "jsonl:commitizen/cz-cli" in result.stdout and "no requests (local read)" in result.stdout
    assert "no ops.ingest_state yet" in result.stdout
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select to_regclass('ops.ingest_state')").fetchone() == (None,)
    assert not Path(env["COMMITLAKE_HOME"]).exists()  # no lake, no state directory


def test_expected_requests_read_the_stored_cursor() -> None:
    from datetime import UTC, datetime

    from commitlake.dryrun import expected_requests

    since = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert expected_requests("github", since=None, etag=None, full_refresh=False, with_files=False) == (
        "full history: 1 request per 100 commits")
    assert expected_requests("github", since=since, etag='W/"x"', full_refresh=False, with_files=False) == (
        "1 conditional request (ETag stored: free if unchanged), then 1 per 100 new commits")
    assert expected_requests("github", since=since, etag=None, full_refresh=True, with_files=True) == (
        "full history: 1 request per 100 commits; plus 1 per new commit (--with-files)")


def test_dbt_command_stops_the_embedded_server_it_started(env: dict[str, str]) -> None:
    import shutil
    import tempfile

    # Outside pytest's tmp dirs: each new pytest session resets /tmp/pytest-of-root to 0700, which locks
    # the embedded server's service user out of its data directory.
    home = Path(tempfile.mkdtemp(prefix="commitlake-test-docs-"))
    env = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"COMMITLAKE_HOME": str(home)}
    try:
        result = commitlake("dbt", "--", "docs", "generate", env=env)  # what `make docs` runs first
        assert result.returncode == 0, result.stderr[-2000:]
        assert '"postgres.started"' in result.stdout and '"postgres.stopped"' in result.stdout
        leftover = subprocess.run(["pgrep", "-f", f"postgres.*{home}"], capture_output=True, text=True)
        assert leftover.stdout == ""
    finally:
        commitlake("db", "stop", env=env)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_a_piped_run_is_json_lines_from_first_to_last(env: dict[str, str], shared_commits: Path) -> None:
    """A whole run (dbt, GX, MLflow, sklearn included) into a pipe: every stdout line is one JSON object."""
    import orjson

    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    result = commitlake("run", "--repos", uri, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [orjson.loads(line) for line in result.stdout.splitlines()]  # raises on any stray line
    assert records[0]["event"] == "run.started" and records[-1]["event"] == "run.finished"
    stages = {r["stage"] for r in records if r["event"] == "stage.finished"}
    assert stages == {"plan", "ingest", "load", "transform", "validate", "train", "predict"}
    # stderr holds the summary only: no library chatter, no warning blocks, no traceback
    assert result.stderr.startswith("commitlake run ") and "succeeded" in result.stderr.splitlines()[0]
    for noise in ("INFO:", "WARNING", "Warning:", "Successfully registered", "Traceback"):
        assert noise not in result.stderr
    assert "  plan       1 repository\n" in result.stderr and "where next:" in result.stderr


def test_status_columns_align_with_long_stage_names(env: dict[str, str]) -> None:
    from commitlake.config import Settings
    from commitlake.stages import record_stage
    from commitlake.warehouse.db import open_warehouse

    settings = Settings.from_env(env)
    long_name = "ingest[jsonl:/data/commits/conventional-changelog__commitlint.jsonl.gz]"
    with open_warehouse(settings) as warehouse:
        for stage in ("plan", long_name, "load"):
            record_stage(warehouse, "r1", stage, "succeeded", duration_s=1.5, row_counts={"rows": 3})
        record_stage(warehouse, "r1", "_run", "succeeded", duration_s=4.5)
    result = commitlake("status", env=env)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("    ")]
    assert len(rows) == 3
    assert len({line.index("succeeded") for line in rows}) == 1, result.stdout  # one column, whatever the name


def test_dry_run_reads_the_stored_cursor(env: dict[str, str]) -> None:
    import psycopg

    from commitlake.config import Settings
    from commitlake.warehouse.db import open_warehouse

    with open_warehouse(Settings.from_env(env)) as warehouse, warehouse.connect(autocommit=True) as conn:
        conn.execute("insert into ops.ingest_state (source_kind, repo_full_name, branch, last_committed_at, etag, "
                     "updated_at, updated_by_run) values ('github', 'pallets/click', '', "
                     "'2026-11-01 12:00:00+00', 'W/\"abc\"', now(), 'r0')")
    result = commitlake("ingest", "--dry-run", "--repos", "github:pallets/click", "github:octo/new",
                        env={**env, "GITHUB_API_URL": "https://api.github.invalid"})  # plans without a request
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dry run: nothing will be written. stages: plan, ingest"
    assert lines[3].split() == ["github:pallets/click", "cursor", "2026-11-01", "12:00", "1", "conditional",
                                "request", "(ETag", "stored:", "free", "if", "unchanged),", "then", "1", "per", "100",
                                "new", "commits"]
    assert lines[4].split()[:3] == ["github:octo/new", "no", "cursor"] and "full history" in lines[4]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("select count(*) from ops.pipeline_runs").fetchone() == (0,)


def test_dry_run_shows_a_local_source_s_cursor_after_it_was_ingested(
    env: dict[str, str], shared_commits: Path
) -> None:
    """A JSON-lines or git cursor is what was read last (a digest), not a time: after an ingest the dry run shows
    it and says an unchanged file reads nothing, instead of calling the source new."""
    import hashlib

    path = shared_commits / "commitizen__cz-cli.jsonl.gz"
    uri = f"jsonl:{path}"
    before = commitlake("ingest", "--dry-run", "--repos", uri, env=env)
    assert before.returncode == 0, before.stderr
    assert [line.split()[1:] for line in before.stdout.splitlines() if "jsonl:commitizen/cz-cli" in line] == [
        ["no", "cursor", "no", "requests", "(local", "read)"]]
    ingested = commitlake("ingest", "--repos", uri, env=env)
    assert ingested.returncode == 0, ingested.stderr
    after = commitlake("ingest", "--dry-run", "--repos", uri, env=env)
    assert after.returncode == 0, after.stderr
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [line.split()[1:] for line in after.stdout.splitlines() if "jsonl:commitizen/cz-cli" in line] == [
        ["cursor", digest[:12], "no", "requests", "(local", "read;", "nothing", "read", "if", "unchanged)"]]


@pytest.mark.parametrize(("name", "value", "message"), [
    ("COMMITLAKE_LOG_FORMAT", "xml", "COMMITLAKE_LOG_FORMAT='xml' is not one of auto, human, json"),
    ("COMMITLAKE_INGEST_CONCURRENCY", "four", "COMMITLAKE_INGEST_CONCURRENCY='four' is not an integer"),
    ("DATABASE_URL", "mysql://u:pw@db/x", "DATABASE_URL='mysql://u:***@db/x' is not a PostgreSQL URL; expected "
     "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to use the embedded server)"),
    ("DATABASE_URL", "postgresql//u:s3cret@db/x", "DATABASE_URL='postgresql//u:***@db/x' is not a PostgreSQL URL; "
     "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or unset it to use the embedded server)"),
    # malformed, not unreachable: exit 1 at once, never 75 (a retry would fail the same way)
    ("DATABASE_URL", "postgresql://u:s3cret@localhost:notaport/x",
     "DATABASE_URL='postgresql://u:***@localhost:notaport/x' is malformed: port 'notaport' is not a number from 1 "
     "to 65535"),
    ("DATABASE_URL", "postgresql://u:s3cret@db:99999/x",
     "DATABASE_URL='postgresql://u:***@db:99999/x' is malformed: port '99999' is not a number from 1 to 65535"),
    ("DATABASE_URL", "postgresql://u:s3cret@db/x?sslmode=bogus",
     "DATABASE_URL='postgresql://u:***@db/x?sslmode=bogus' is malformed: sslmode 'bogus' is not one of disable, "
     "allow, prefer, require, verify-ca, verify-full"),
    ("DATABASE_URL", "postgresql://u:pa ss@db/x", "DATABASE_URL='postgresql://u:***@db/x' is malformed: unexpected "
     'spaces found in "pa ss", use percent-encoded spaces (%20) instead'),
    ("DATABASE_URL", "postgresql://u@db/x?foo=bar&password=s3cret", "DATABASE_URL='postgresql://u@db/x?foo=bar&"
     'password=***\' is malformed: invalid URI query parameter: "foo"'),
    ("COMMITLAKE_MAX_REQUESTS", "-1", "COMMITLAKE_MAX_REQUESTS must be at least 1, got -1"),
    ("COMMITLAKE_LOG_LEVEL", "verbose", "COMMITLAKE_LOG_LEVEL='verbose' is not one of DEBUG, INFO, WARNING, WARN, "
     "ERROR, CRITICAL"),
    ("COMMITLAKE_WITH_FILES", "maybe", "COMMITLAKE_WITH_FILES='maybe' is not a yes/no value; use 1/true/yes/on or "
     "0/false/no/off"),
    ("COMMITLAKE_RUN_ID", "bad id/../../x", "run id 'bad id/../../x' (COMMITLAKE_RUN_ID or --run-id) is not one "
     "path segment of letters, digits, '.', '_' and '-'"),
])
def test_bad_environment_values_are_bad_input(env: dict[str, str], name: str, value: str, message: str) -> None:
    assert _only_line(commitlake("status", env={**env, name: value}), 1) == f"commitlake: error: {message}"


def test_an_unexpected_error_is_one_line_unless_debugging(env: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "a-file"
    home.write_text("not a directory\n")
    env = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"COMMITLAKE_HOME": str(home)}
    line = _only_line(commitlake("status", env=env), 1)
    assert line == (f"commitlake: error: unexpected NotADirectoryError: [Errno 20] Not a directory: "
                    f"'{home}/postgres' (COMMITLAKE_LOG_LEVEL=DEBUG shows the traceback)")
    debug = commitlake("status", env={**env, "COMMITLAKE_LOG_LEVEL": "DEBUG"})
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_unresolvable_database_host_names_it(env: dict[str, str]) -> None:
    url = "postgresql://pipeline:s3cret@db.invalid:5432/commitlake"
    line = _only_line(commitlake("status", env={**env, "DATABASE_URL": url}), 75)
    assert line == ("commitlake: error: cannot connect to the warehouse at postgresql://pipeline:***@db.invalid:5432/"
                    "commitlake: cannot resolve db.invalid; check the host in DATABASE_URL")


def test_dbt_without_arguments_says_what_it_needs_and_starts_nothing(env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"COMMITLAKE_HOME": str(tmp_path / "fresh")}
    line = _only_line(commitlake("dbt", env=env), EXIT_BAD_INPUT)
    assert line == "commitlake: error: commitlake dbt needs dbt's arguments after --, e.g. `commitlake dbt -- ls`"
    assert not (tmp_path / "fresh").exists()  # nothing was started or written for a command that cannot run


def test_sigterm_stops_the_embedded_server_the_command_started(
    env: dict[str, str], tmp_path: Path, shared_commits: Path
) -> None:
    """`timeout`, `kill` or a deleted pod send SIGTERM: the command unwinds as on Ctrl-C, so the embedded server
    it started stops with it instead of running on with nobody to stop it."""
    import signal
    import time

    env = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"COMMITLAKE_HOME": str(tmp_path / "home"),
                                                                   "COMMITLAKE_LOG_FORMAT": "json"}
    source = f"jsonl:{shared_commits / 'vitejs__vite.jsonl.gz'}"
    proc = subprocess.Popen([sys.executable, "-m", "commitlake", "run", "--repos", source], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # the run is well under way once ingest has begun
            if ('"event":"stage.started"' in line and '"stage":"ingest"' in line) or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_TERMINATED, err
    assert err.strip().splitlines()[-1] == "commitlake: terminated"
    stopped = commitlake("db", "stop", env=env)
    assert stopped.stderr.strip().splitlines()[-1] == "embedded PostgreSQL was not running", stopped.stderr
