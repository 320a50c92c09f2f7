"""The quality gate through the real CLI, on real commits: a planted critical defect stops `commitlake run` at
validate (non-zero exit, validate recorded failed, train never started); a clean layer passes and says where
its Data Docs are."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def commitlake(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "commitlake", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900
    )


@pytest.fixture
def env(tmp_path: Path, fresh_database: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "GITHUB_"))}
    base.update({"COMMITLAKE_HOME": str(tmp_path / "home"), "DATABASE_URL": fresh_database,
                 "COMMITLAKE_PROJECT_DIR": str(ROOT), "COMMITLAKE_LOG_LEVEL": "WARNING"})  # fmt: skip
    return base


# An orphan file row: a copy of a real file row whose commit does not exist.
ORPHAN = """
create temp table orphan as select * from staging.stg_github__commit_files limit 1;
update orphan set commit_id = 'nobody/nothing@' || repeat('0', 40);
insert into staging.stg_github__commit_files select * from orphan;
"""


@pytest.mark.timeout(1800)
def test_critical_failure_stops_the_run_at_validate_and_train_never_starts(
    env: dict[str, str], shared_commits: Path
) -> None:
    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"
    built = commitlake("run", "--run-id", "gate", "--stages", "plan,ingest,load,transform", "--repos", uri, env=env)
    assert built.returncode == 0, built.stderr[-3000:]

    raw_only = commitlake("validate", "--layer", "raw", "--run-id", "gate", env=env)
    assert raw_only.returncode == 0, raw_only.stderr[-3000:]
    status = commitlake("status", env=env)
    lake = Path(env["COMMITLAKE_HOME"]) / "lake"
    docs = lake / "quality" / "data_docs" / "run_id=gate" / "index.html"
    docs_uri = f"{lake.as_uri()}/quality/data_docs/run_id=gate/index.html"
    assert f"data docs: {docs_uri}" in status.stdout
    assert "raw.github_commits" in docs.read_text()

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        layers = conn.execute("select distinct layer from ops.data_quality_results where run_id = 'gate'").fetchall()
        assert layers == [("raw",)]  # --layer ran one suite
        conn.execute(ORPHAN)

    gated = commitlake("run", "--run-id", "gate", "--stages", "validate,train,predict", env=env)

    assert gated.returncode == 1
    errors = [line for line in gated.stderr.splitlines() if line.startswith("commitlake: error:")]
    assert len(errors) == 1, gated.stderr[-3000:]
    assert "stage 'validate' failed: data quality gate failed" in errors[0]
    assert "staging.stg_github__commit_files no_orphan_files" in errors[0]
    assert f"data docs: {docs_uri}" in errors[0]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        stages = dict(conn.execute("select stage, status from ops.pipeline_runs where run_id = 'gate'").fetchall())
        error = conn.execute(
            "select error from ops.pipeline_runs where run_id = 'gate' and stage = 'validate'"
        ).fetchone()
        failed = conn.execute(
            "select suite, expectation, severity, observed -> 'observed_value' from ops.data_quality_results"
            " where run_id = 'gate' and not success and severity = 'critical'"
        ).fetchall()
    assert stages["validate"] == "failed" and stages["_run"] == "failed"
    assert "train" not in stages and "predict" not in stages
    assert error is not None and "no_orphan_files" in error[0]
    assert failed == [("staging.stg_github__commit_files", "no_orphan_files", "critical", 1)]


def test_raw_is_validated_right_after_load_and_a_tuned_threshold_applies_without_a_release(
    env: dict[str, str], shared_commits: Path, tmp_path: Path
) -> None:
    """A copy of the dbt project whose YAML caps raw at 100 commits: `commitlake run` stops right after load."""
    project = tmp_path / "dbt"
    shutil.copytree(ROOT / "dbt", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    rules = project / "quality" / "raw" / "github_commits.yml"
    cap = (
        "  - {expectation: expect_table_row_count_to_be_between, name: at_most_100_commits, severity: critical,"
        " with: {min_value: 1, max_value: 100}}\n"
    )
    rules.write_text(rules.read_text().replace("\nmonitors:\n", "\n" + cap + "monitors:\n", 1))
    env = {**env, "COMMITLAKE_DBT_PROJECT_DIR": str(project)}
    uri = f"jsonl:{shared_commits / 'commitizen__cz-cli.jsonl.gz'}"

    result = commitlake("run", "--run-id", "early", "--repos", uri, env=env)

    assert result.returncode == 1
    assert "raw.github_commits at_most_100_commits" in result.stderr
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        stages = dict(conn.execute("select stage, status from ops.pipeline_runs where run_id = 'early'").fetchall())
        layers = conn.execute("select distinct layer from ops.data_quality_results where run_id = 'early'").fetchall()
    assert stages["load"] == "succeeded" and stages["validate[raw]"] == "failed"
    assert "validate" not in stages  # the full validate never ran: the raw check has its own row
    assert "transform" not in stages and "train" not in stages  # dbt never built on the bad raw data
    assert layers == [("raw",)]
