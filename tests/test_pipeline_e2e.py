"""The whole pipeline for real, as `make run` runs it: embedded Postgres, local lake, local MLflow store.

Real data from ../shared/data/commits; a second run must leave the same rows and the same shas.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = ["commitizen__cz-cli.jsonl.gz", "pallets__click.jsonl.gz"]
NEW_FILE = "conventional-changelog__conventional-changelog.jsonl.gz"  # the third run's new data


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMMITLAKE_", "DATABASE_URL", "MLFLOW_"))}
    env.update({"COMMITLAKE_HOME": str(home), "COMMITLAKE_PROJECT_DIR": str(ROOT)})
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "commitlake", *args], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _source_commits(commits_dir: Path) -> tuple[set[str], int, int]:
    """(shas, non-merge commits, non-merge commits whose subject is a Conventional Commit)."""
    import re

    cc = re.compile(r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^)]*\))?!?:", re.I)
    shas: set[str] = set()
    non_merge = labelled = 0
    for name in FILES:
        with gzip.open(commits_dir / name, "rb") as handle:
            for line in handle:
                item = orjson.loads(line)
                shas.add(item["sha"])
                if len(item["parents"]) <= 1:
                    non_merge += 1
                    labelled += bool(cc.match(item["commit"]["message"].splitlines()[0] if item["commit"]["message"]
                                              else ""))
    return shas, non_merge, labelled


def _snapshot(url: str) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        counts = {
            table: conn.execute(f"select count(*) from {table}").fetchone()[0]  # type: ignore[index]
            for table in ("raw.github_commits", "staging.stg_github__commits", "analytics.fct_commits",
                          "analytics.ml_commit_features", "analytics.dim_repositories",
                          "analytics.commit_type_predictions", "raw.rejected_records")
        }
        shas = {r[0] for r in conn.execute("select sha from analytics.fct_commits")}
    return {"counts": counts, "shas": shas}


@pytest.mark.slow
def test_make_run_twice_on_real_data(tmp_path: Path, shared_commits: Path) -> None:
    home = tmp_path / "state"
    env = _env(home)
    repos = [f"jsonl:{shared_commits / name}" for name in FILES]
    first = _run(["run", "--repos", *repos], env)
    summary = first.stderr
    for stage in ("plan", "ingest", "load", "transform", "validate", "train", "predict"):
        assert f"  {stage} " in summary
    assert "macro-F1" in summary and "MLflow run" in summary

    url = _run(["db", "url"], env).stdout.strip()
    try:
        once = _snapshot(url)
        shas, non_merge, labelled = _source_commits(shared_commits)
        counts = once["counts"]
        assert isinstance(counts, dict)
        assert counts["raw.github_commits"] == counts["staging.stg_github__commits"] == len(shas)
        assert once["shas"] == shas
        assert counts["analytics.ml_commit_features"] == non_merge
        assert counts["analytics.commit_type_predictions"] == non_merge - labelled
        assert counts["analytics.dim_repositories"] == 2
        assert counts["raw.rejected_records"] == 0
        with psycopg.connect(url) as conn:
            failed = conn.execute("select count(*) from ops.data_quality_results where not success "
                                  "and severity = 'critical'").fetchone()
            assert failed == (0,)
            validates = dict(conn.execute("select stage, status from ops.pipeline_runs where stage like 'validate%'"))
            assert validates == {"validate[raw]": "succeeded", "validate": "succeeded"}  # each pass keeps its row
    finally:
        _run(["db", "stop"], env)

    second = _run(["run", "--repos", *repos], env)
    assert "0 commits from 2 repositories (2 unchanged)" in second.stderr  # unchanged files: nothing re-read
    for stage in ("transform", "validate", "train", "predict"):  # nothing new: nothing rebuilt, retrained, rescored
        assert f"  {stage:<10} skipped: no new data (raw unchanged since run " in second.stderr, second.stderr[-3000:]
    url = _run(["db", "url"], env).stdout.strip()
    try:
        assert _snapshot(url) == once
        with psycopg.connect(url) as conn:
            runs = conn.execute("select count(*) from ops.pipeline_runs where stage = '_run' "
                                "and status = 'succeeded'").fetchone()
            assert runs == (2,)
    finally:
        _run(["db", "stop"], env)
    from mlflow import MlflowClient

    store = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=store, registry_uri=store)  # not the process-wide registry earlier tests set
    champion = client.get_model_version_by_alias("commitlake-commit-type", "champion")
    assert int(champion.version) >= 1
    versions = len(client.search_model_versions("name = 'commitlake-commit-type'"))

    third = _run(["run", "--repos", *repos, f"jsonl:{shared_commits / NEW_FILE}"], env)  # new rows: nothing skips
    assert "no new data" not in third.stderr, third.stderr[-3000:]
    assert "dbt build ok" in third.stderr and "macro-F1" in third.stderr
    url = _run(["db", "url"], env).stdout.strip()
    try:
        counts = _snapshot(url)["counts"]
        assert isinstance(counts, dict) and isinstance(once["counts"], dict)
        assert counts["raw.github_commits"] > once["counts"]["raw.github_commits"]
        assert counts["analytics.fct_commits"] == counts["raw.github_commits"]
    finally:
        _run(["db", "stop"], env)
    assert len(client.search_model_versions("name = 'commitlake-commit-type'")) > versions


@pytest.mark.slow
def test_default_run_ingests_its_own_clone(tmp_path: Path) -> None:
    """No --repos: the clone's own history. Too few Conventional Commits: train and predict skip, run succeeds."""
    clone = tmp_path / "clone"
    clone.mkdir()
    git = ["git", "-C", str(clone), "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    for i, subject in enumerate(["feat: start", "fix: typo", "docs: readme", "Refresh the lock file"]):
        (clone / f"f{i}.txt").write_text(f"{i}\n")
        subprocess.run([*git, "add", "."], check=True)
        subprocess.run([*git, "commit", "-q", "-m", subject], check=True)
    env = _env(tmp_path / "state")
    del env["COMMITLAKE_PROJECT_DIR"]  # the working directory is the project: the clone itself
    env["COMMITLAKE_DBT_PROJECT_DIR"] = str(ROOT / "dbt")
    result = subprocess.run([sys.executable, "-m", "commitlake", "run"], env=env, cwd=clone,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 commits from 1 repository" in result.stderr
    assert "train      skipped: 3 labelled commits" in result.stderr
    assert "predict    skipped" in result.stderr
    leftover = subprocess.run(["pgrep", "-f", f"postgres.*{tmp_path}"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "the embedded server must stop when the run ends"
