"""The commit-type classifier against real commits, a real Postgres and a real MLflow (sqlite store).

analytics.ml_commit_features is built here from ../shared/data/commits by a small routine that follows the
contract (the product table comes from dbt; this keeps the ML tests independent of the dbt build). cz-cli
gives ~360 Conventional Commits, click ~2,100 unlabelled commits (and ~40 labelled ones).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commitlake.errors import CommitlakeError

COMMITS = Path(__file__).resolve().parents[2] / "shared" / "data" / "commits"
SCRATCH_SERVER = "postgresql://postgres@127.0.0.1:5433/postgres"
MODEL = "commit-type-test"
Rows = list[tuple[Any, ...]]

pytestmark = pytest.mark.skipif(not COMMITS.is_dir(), reason=f"shared commit data not found at {COMMITS}")

# --- the contract's ml_commit_features, derived from commit payloads ------------------------------------------

_CC = re.compile(r"^(feat|fix|docs|style|refactor|perf|test|build|ci|chore|revert)(\([^)]*\))?!?:\s*(.*)$", re.I)
_BOT = re.compile(r"\[bot\]|^(dependabot|renovate|greenkeeper|github-actions|semantic-release-bot)\b", re.I)
_CI = re.compile(r"(^|/)(\.github|\.circleci|\.azure-pipelines)/|(^|/)(\.travis\.yml|appveyor\.yml|\.gitlab-ci\.yml)$")
_TEST = re.compile(r"(^|/)(tests?|__tests__|spec|e2e|fixtures?)/|(^|/)test_[^/]*$|[._-](test|spec)\.[a-z0-9]+$", re.I)
_DOC = re.compile(r"(^|/)docs?/|\.(md|mdx|rst|txt|adoc)$|(^|/)(readme|changelog|license|contributing)[^/]*$", re.I)
_BUILD = re.compile(
    r"(^|/)(package(-lock)?\.json|yarn\.lock|pnpm-lock\.yaml|pyproject\.toml|setup\.(py|cfg)|requirements[^/]*"
    r"|makefile|dockerfile|tsconfig[^/]*\.json|rollup\.config\.[a-z]+|webpack\.config\.[a-z]+|\.npmrc|lerna\.json"
    r"|tox\.ini|\.nvmrc)$",
    re.I,
)

_DDL = """
create schema if not exists analytics;
drop table if exists analytics.ml_commit_features;
create table analytics.ml_commit_features (
    commit_id text primary key, repo_full_name text not null, sha text not null, committed_at timestamptz not null,
    commit_type text, text text not null, is_bot boolean not null, files_changed integer,
    additions integer, deletions integer, n_test_files integer not null, n_doc_files integer not null,
    n_ci_files integer not null, n_build_files integer not null, n_src_files integer not null,
    message_length integer not null, has_body boolean not null
);
"""
_COLUMNS = (
    "commit_id, repo_full_name, sha, committed_at, commit_type, text, is_bot, files_changed, additions, deletions, "
    "n_test_files, n_doc_files, n_ci_files, n_build_files, n_src_files, message_length, has_body"
)


def _file_kind(name: str) -> str:
    for kind, pattern in (("ci", _CI), ("test", _TEST), ("doc", _DOC), ("build", _BUILD)):
        if pattern.search(name):
            return kind
    return "src"


def _timestamp(value: str) -> datetime:
    """ISO-8601 as GitHub renders it; real histories hold offsets git accepted but ISO cannot (`+518:00`)."""
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)


def feature_rows(repo_file: str) -> list[tuple[Any, ...]]:
    """One contract row per non-merge commit of a shared commit file."""
    repo = repo_file.replace("__", "/", 1)
    rows = []
    with gzip.open(COMMITS / f"{repo_file}.jsonl.gz", "rt") as handle:
        for line in handle:
            item = json.loads(line)
            if len(item.get("parents") or []) > 1:
                continue
            commit = item["commit"]
            message = commit.get("message") or ""
            subject, _, body = message.partition("\n")
            match = _CC.match(subject.strip())
            label = match.group(1).lower() if match else None
            text = (match.group(3) if match else subject).strip().lower()
            author = commit.get("author") or {}
            is_bot = bool(_BOT.search(author.get("name") or "") or _BOT.search(author.get("email") or ""))
            files = item.get("files")
            kinds = {"test": 0, "doc": 0, "ci": 0, "build": 0, "src": 0}
            for f in files or []:
                kinds[_file_kind(f["filename"])] += 1
            stats = item.get("stats") or {}
            rows.append(
                (
                    f"{repo}@{item['sha']}",
                    repo,
                    item["sha"],
                    _timestamp(commit["committer"]["date"]),
                    label,
                    text,
                    is_bot,
                    None if files is None else len(files),
                    stats.get("additions"),
                    stats.get("deletions"),
                    kinds["test"],
                    kinds["doc"],
                    kinds["ci"],
                    kinds["build"],
                    kinds["src"],
                    len(message),
                    bool(body.strip()),
                )
            )
    return rows


def load_features(dsn: str, rows: list[tuple[Any, ...]]) -> None:
    """Replace analytics.ml_commit_features with `rows`."""
    with psycopg.connect(dsn) as conn:
        conn.execute(_DDL)
        with conn.cursor().copy(f"copy analytics.ml_commit_features ({_COLUMNS}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)


# --- fixtures ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    """A fresh database for this module on COMMITLAKE_TEST_DATABASE_URL's server (the session server of
    conftest), else on the scratch server; dropped afterwards. Uses the given URL itself if it may not create one.
    """
    admin_url = os.environ.get("COMMITLAKE_TEST_DATABASE_URL") or SCRATCH_SERVER
    name = f"commitlake_test_ml_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'create database "{name}"')
    except psycopg.errors.InsufficientPrivilege:
        yield admin_url
        return
    except psycopg.OperationalError as exc:
        pytest.skip(f"no Postgres at {admin_url}: {exc}")
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def cz_cli() -> list[tuple[Any, ...]]:
    return feature_rows("commitizen__cz-cli")


@pytest.fixture(scope="module")
def click() -> list[tuple[Any, ...]]:
    return feature_rows("pallets__click")


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{root / 'mlflow.db'}", root / "artifacts"


@pytest.fixture(autouse=True)
def _mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def _predictions(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select * from analytics.commit_type_predictions order by commit_id").fetchall()


def _unlabelled_ids(rows: list[tuple[Any, ...]]) -> set[str]:
    return {row[0] for row in rows if row[4] is None}


# --- errors ------------------------------------------------------------------------------------------------------


def test_too_few_labels_is_a_clear_error(
    dsn: str, click: list[tuple[Any, ...]], mlflow_store: tuple[str, Path]
) -> None:
    from commitlake.ml import train

    labelled = sum(row[4] is not None for row in click)
    assert 0 < labelled < 50  # click barely uses Conventional Commits: the realistic "too few" case
    load_features(dsn, click)
    with pytest.raises(CommitlakeError, match=rf"only {labelled} labelled commits .* at least 50"):
        train(dsn, "r-few", tracking_uri=mlflow_store[0], artifact_root=mlflow_store[1], model_name=MODEL)


def test_single_class_is_a_clear_error(dsn: str, cz_cli: list[tuple[Any, ...]], mlflow_store: tuple[str, Path]) -> None:
    from commitlake.ml import train

    only_fix = [row for row in cz_cli if row[4] in (None, "fix")]
    load_features(dsn, only_fix)
    with pytest.raises(CommitlakeError, match=r"same commit type \('fix'\)"):
        train(
            dsn, "r-one", tracking_uri=mlflow_store[0], artifact_root=mlflow_store[1], model_name=MODEL, min_labelled=5
        )


def test_predict_without_a_champion_is_a_clear_error(dsn: str, mlflow_store: tuple[str, Path]) -> None:
    from commitlake.ml import predict

    with pytest.raises(CommitlakeError, match=r"'never-trained' has alias 'champion'.*run the train stage first"):
        predict(dsn, "r-none", tracking_uri=mlflow_store[0], model_name="never-trained")


# --- the lifecycle -----------------------------------------------------------------------------------------------


def test_train_register_promote_and_predict(
    dsn: str, cz_cli: list[tuple[Any, ...]], click: list[tuple[Any, ...]], mlflow_store: tuple[str, Path]
) -> None:
    from mlflow import MlflowClient

    from commitlake.ml import predict, train
    from commitlake.ml._train import TRAIN_STEPS

    tracking_uri, artifact_root = mlflow_store
    rows = cz_cli + click
    load_features(dsn, rows)
    n_labelled = sum(row[4] is not None for row in rows)

    # 1. first model: beats the majority baseline clearly, becomes champion (nothing to compare against)
    steps: list[str] = []  # what the progress bar shows
    first = train(dsn, "r1", tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL,
                  on_step=steps.append)
    assert len(steps) == TRAIN_STEPS and steps[0] == "reading labelled commits" and steps[1].startswith("fitting on ")
    assert first.n_train + first.n_test == n_labelled
    assert first.n_test == pytest.approx(0.2 * n_labelled, abs=1)
    m = first.metrics
    assert m["macro_f1"] >= m["baseline_macro_f1"] + 0.2, m
    assert m["accuracy"] > m["baseline_accuracy"], m
    assert {"feat", "fix", "docs", "chore"} <= set(first.labels)
    assert all(f"f1_{label}" in m for label in first.labels)
    assert first.model_version == "1" and first.promoted and first.champion_version == "1"

    client = MlflowClient(tracking_uri=tracking_uri)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "1"
    experiment = client.get_experiment_by_name("commitlake")
    assert experiment is not None and experiment.artifact_location == artifact_root.absolute().as_uri()
    run = client.get_run(first.mlflow_run_id)
    assert run.data.metrics["macro_f1"] == pytest.approx(m["macro_f1"])
    assert run.data.tags["commitlake.promoted"] == "true"
    confusion = json.loads((artifact_root / run.info.run_id / "artifacts/evaluation/confusion_matrix.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == first.n_test

    # 2. predictions: one row per unlabelled commit, from the champion
    unlabelled = _unlabelled_ids(rows)
    batches: list[int] = []  # what the progress bar is fed
    report = predict(dsn, "p1", tracking_uri=tracking_uri, model_name=MODEL, batch_size=500, on_batch=batches.append)
    assert report.rows == len(unlabelled) == report.written == sum(batches)
    assert batches[:-1] == [500] * (len(batches) - 1)
    assert sum(report.distribution.values()) == report.rows
    table = _predictions(dsn)
    assert {r[0] for r in table} == unlabelled
    assert {r[6] for r in table} == {1} and {r[7] for r in table} == {first.mlflow_run_id}
    assert set(report.distribution) <= set(first.labels)
    assert all(0 < r[4] <= 1 for r in table)

    # 3. rerun of predict: same rows, nothing rewritten
    again = predict(dsn, "p2", tracking_uri=tracking_uri, model_name=MODEL, batch_size=777)
    assert (again.rows, again.written, again.removed) == (report.rows, 0, 0)
    assert again.distribution == report.distribution
    assert _predictions(dsn) == table

    # 4. same data again: same metrics (determinism), version 2, ties go to the newcomer (>=)
    second = train(dsn, "r2", tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL)
    assert second.model_version == "2"
    assert second.metrics["macro_f1"] == first.metrics["macro_f1"]
    assert second.metrics["champion_macro_f1"] == pytest.approx(first.metrics["macro_f1"])
    assert second.promoted
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"

    # predict follows the champion: every row is rewritten with version 2, predictions themselves unchanged
    moved = predict(dsn, "p3", tracking_uri=tracking_uri, model_name=MODEL)
    assert moved.written == moved.rows and moved.distribution == report.distribution
    assert {r[6] for r in _predictions(dsn)} == {2}

    # 5. the newest half of the labelled commits vanished (say, a partial load): the challenger learns from 40 %
    #    of the history, while the champion v2 was trained on data that covers this run's test split. Both are
    #    scored on that same split; the weaker challenger gets `challenger` but not `champion`.
    labelled = sorted((r for r in rows if r[4] is not None), key=lambda r: (r[3], r[0]))
    partial = labelled[: len(labelled) // 2] + [r for r in rows if r[4] is None]
    load_features(dsn, partial)
    third = train(dsn, "r3", tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL)
    assert third.model_version == "3"
    assert third.metrics["champion_macro_f1"] > third.metrics["macro_f1"], third.metrics
    assert not third.promoted and third.champion_version == "2"
    assert "kept as challenger" in third.decision
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "3"
    assert client.get_model_version(MODEL, "3").tags["commitlake.promoted"] == "false"
