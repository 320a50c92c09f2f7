"""The commit-type classifier against real commits, a real Postgres and a real MLflow (sqlite store).

analytics.ml_commit_features is built here from ../shared/data/commits by a small routine that follows the
contract (the product table comes from dbt; this keeps the ML tests independent of the dbt build). cz-cli
gives ~360 Conventional Commits, click ~2,100 unlabelled commits (and ~40 labelled ones).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest

from commitlake.errors import CommitlakeError
from ml_rows import COLUMNS, COMMITS, feature_rows, load_features

SCRATCH_SERVER = "postgresql://postgres@127.0.0.1:5433/postgres"
MODEL = "commit-type-test"
Rows = list[tuple[Any, ...]]
#: Only each candidate's defaults: the search itself is exercised by bench/bench_ml.py on the full data.
FAST = {"budget_seconds": 0.0}

pytestmark = pytest.mark.skipif(not COMMITS.is_dir(), reason=f"shared commit data not found at {COMMITS}")


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


def test_past_the_cap_train_fits_a_stratified_sample(
    dsn: str, cz_cli: list[tuple[Any, ...]], mlflow_store: tuple[str, Path]
) -> None:
    from commitlake.ml import train

    load_features(dsn, cz_cli)
    tracking_uri, artifact_root = mlflow_store
    labelled = sum(1 for row in cz_cli if row[COLUMNS.index("commit_type")] is not None)
    report = train(dsn, "cap", tracking_uri=tracking_uri, artifact_root=artifact_root, model_name="capped",
                   max_rows=labelled // 2, candidates=["linear"], **FAST)  # fmt: skip
    assert report.params["n_labelled"] == labelled
    assert report.n_train + report.n_test == report.params["n_sampled"] < labelled * 0.6
    assert report.params["max_rows"] == labelled // 2


def test_past_the_search_rows_candidates_are_compared_on_a_sample_and_the_winner_is_refitted_on_all(
    dsn: str, cz_cli: list[tuple[Any, ...]], mlflow_store: tuple[str, Path]
) -> None:
    """The search compares on a stratified sample, each row on its side of the time split; the registered model is
    the winner fitted on the whole older split (its score equals such a fit's), and the curve shows both fits."""
    from commitlake.ml import train
    from commitlake.ml._features import LABEL_COLUMN, MODEL_INPUT_COLUMNS, read_labelled
    from commitlake.ml._metrics import macro_f1_interval, score
    from commitlake.ml._model import build_pipeline, single_threaded
    from commitlake.ml._split import time_split
    from commitlake.ml._train import _search_sample

    load_features(dsn, cz_cli)
    frame = read_labelled(dsn)
    train_df, test_df = time_split(frame)
    search, older, newer = _search_sample(frame, train_df, test_df, len(frame) // 2)
    assert len(frame) * 0.4 < len(search) < len(frame) * 0.6 and len(older) + len(newer) == len(search)
    assert set(older["commit_id"]) <= set(train_df["commit_id"])
    assert set(newer["commit_id"]) <= set(test_df["commit_id"])
    assert _search_sample(frame, train_df, test_df, 0)[0] is frame

    tracking_uri, artifact_root = mlflow_store
    report = train(dsn, "search", tracking_uri=tracking_uri, artifact_root=artifact_root, model_name="searched",
                   search_rows=len(frame) // 2, candidates=["linear"], **FAST)  # fmt: skip
    assert report.params["n_searched"] == len(search) and report.params["search_rows"] == len(frame) // 2
    assert (report.n_train, report.n_test) == (len(train_df), len(test_df))
    assert f"compared on {len(older)} older rows, refitted on {len(train_df)}" in report.selection
    cols, labels = list(MODEL_INPUT_COLUMNS), report.labels
    with single_threaded():
        whole = build_pipeline(0, "linear").fit(train_df[cols], train_df[LABEL_COLUMN].tolist())
        predicted = whole.predict(test_df[cols]).tolist()
    expected = score(test_df[LABEL_COLUMN].tolist(), predicted, labels)
    assert report.metrics["macro_f1"] == pytest.approx(expected["macro_f1"])
    interval = macro_f1_interval(test_df[LABEL_COLUMN].tolist(), predicted, labels)
    assert (report.metrics["macro_f1_ci95_low"], report.metrics["macro_f1_ci95_high"]) == pytest.approx(interval)
    assert interval[0] < report.metrics["macro_f1"] < interval[1]
    evaluation = artifact_root / report.mlflow_run_id / "artifacts" / "evaluation"
    curve = json.loads((evaluation / "learning_curve.json").read_text())["points"]
    assert [p["rows"] for p in curve] == [len(older), len(train_df)]
    assert curve[1]["macro_f1"] == pytest.approx(expected["macro_f1"])
    selection = json.loads((evaluation / "model_selection.json").read_text())
    assert [c["winner"] for c in selection["candidates"]] == [True]


def test_the_capped_sample_is_cap_rows_of_every_row_and_the_digest_covers_every_row(
    dsn: str, cz_cli: list[tuple[Any, ...]]
) -> None:
    """Past the cap, train reads only ids and labels of every row and fetches just the sample; the digest is the
    same with and without the cap, because it covers every labelled row either way."""
    from commitlake.ml._features import read_labelled
    from commitlake.ml._sample import cap_rows
    from commitlake.ml._training_data import read_training_data

    load_features(dsn, cz_cli)
    frame = read_labelled(dsn)
    cap = len(frame) // 3
    capped = read_training_data(dsn, cap)
    assert capped.n_labelled == len(frame) and capped.types == sorted(frame["commit_type"].unique())
    expected = cap_rows(frame, cap).reset_index(drop=True)
    assert len(expected) < len(frame) * 0.4
    pd.testing.assert_frame_equal(capped.sample, expected)

    whole = read_training_data(dsn, 0)  # no cap: every row, the same digest
    assert len(capped.digest) == 16 and whole.digest == capped.digest
    pd.testing.assert_frame_equal(whole.sample, frame)


def test_the_digest_follows_ids_labels_and_model_inputs_only(dsn: str, cz_cli: list[tuple[Any, ...]]) -> None:
    """A changed label or input anywhere is new training data; a column the model does not read is not."""
    from commitlake.ml._features import FEATURE_TABLE, labelled_digest

    load_features(dsn, cz_cli)
    with psycopg.connect(dsn) as conn:
        before = labelled_digest(conn)
        first = conn.execute(
            f"select commit_id, committed_at from {FEATURE_TABLE} where commit_type is not null "
            "order by committed_at, commit_id limit 1"
        ).fetchone()
        assert first is not None and labelled_digest(conn) == before  # deterministic
        conn.execute(f"update {FEATURE_TABLE} set sha = 'x' || sha where commit_id = %s", [first[0]])
        assert labelled_digest(conn) == before  # not a model input, not the label
        conn.execute(f"update {FEATURE_TABLE} set text = text || ' more' where commit_id = %s", [first[0]])
        retexted = labelled_digest(conn)
        conn.execute(f"update {FEATURE_TABLE} set commit_type = case when commit_type = 'docs' then 'fix' "
                     "else 'docs' end where commit_id = %s", [first[0]])  # fmt: skip
        relabelled = labelled_digest(conn)
        conn.execute(f"update {FEATURE_TABLE} set additions = coalesce(additions, 0) + 1 where commit_id = %s",
                     [first[0]])  # fmt: skip
        assert len({before, retexted, relabelled, labelled_digest(conn)}) == 4
        conn.rollback()


def test_the_search_in_two_worker_processes_equals_the_search_in_one(dsn: str, cz_cli: list[tuple[Any, ...]],
                                                                     click: list[tuple[Any, ...]]) -> None:
    """Every fit of a batch is independent and single-threaded, so where it runs changes no score or prediction."""
    from commitlake.ml._evaluate import learning_curve, select_model
    from commitlake.ml._features import LABEL_COLUMN, read_labelled
    from commitlake.ml._split import time_split

    load_features(dsn, cz_cli + click)
    frame = read_labelled(dsn)
    train_df, test_df = time_split(frame)
    labels = sorted(set(frame[LABEL_COLUMN]))
    runs = {jobs: select_model(frame, train_df, test_df, labels, candidates=["linear", "random_forest"],
                               budget_seconds=0, jobs=jobs) for jobs in (1, 2)}  # fmt: skip
    one, two = runs[1], runs[2]
    assert one.lro_folds == two.lro_folds == 2
    assert [(r.candidate, r.time_split, r.leave_repos_out, r.time_split_pred) for r in one.results] == [
        (r.candidate, r.time_split, r.leave_repos_out, r.time_split_pred) for r in two.results
    ]
    assert two.winner.model is not None and list(two.winner.model.predict(test_df)) == two.winner.time_split_pred
    curves = [learning_curve(run.winner, train_df, test_df, labels, jobs=jobs) for jobs, run in runs.items()]
    assert [p["macro_f1"] for p in curves[0]] == [p["macro_f1"] for p in curves[1]] and len(curves[0]) == 3


def test_margin_offsets_are_scored_on_folds_that_did_not_tune_them_and_tuned_for_the_model_on_older_rows_only(
    dsn: str, cz_cli: list[tuple[Any, ...]], click: list[tuple[Any, ...]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leave-repositories-out with offsets scores each fold with offsets tuned on the other folds' rows; the model's
    own offsets see only the older rows, so the time split's newest rows never tune what scores them; the model
    carries them into predict; the scores without them are logged beside."""
    import numpy as np

    from commitlake.ml import _evaluate, _offsets
    from commitlake.ml._features import LABEL_COLUMN, read_labelled
    from commitlake.ml._metrics import score
    from commitlake.ml._model import single_threaded
    from commitlake.ml._split import time_split
    from commitlake.ml._train import _run_metrics

    load_features(dsn, cz_cli + click)
    frame = read_labelled(dsn)
    train_df, test_df = time_split(frame)
    labels = sorted(set(frame[LABEL_COLUMN]))
    tuned_rows: list[int] = []
    real_tune = _offsets.tune_offsets

    def spy(margins: Any, y: Any, forced: Any = None) -> Any:
        tuned_rows.append(len(y))
        return real_tune(margins, y, forced)

    monkeypatch.setattr(_offsets, "tune_offsets", spy)  # cross_fitted_predictions' calls
    monkeypatch.setattr(_evaluate, "tune_offsets", spy)  # the model's own
    two_repositories = _evaluate.select_model(frame, train_df, test_df, labels, candidates=["linear"],
                                              budget_seconds=0)  # fmt: skip
    assert two_repositories.winner.offsets is None and tuned_rows == []  # under MIN_FOLDS: nothing tuned
    monkeypatch.setattr(_evaluate, "MIN_FOLDS", 2)  # these two repositories stand in for many
    selection = _evaluate.select_model(frame, train_df, test_df, labels, candidates=["linear"], budget_seconds=0)
    winner = selection.winner
    folds = _evaluate.repo_folds(frame, selection.lro_folds)
    assert tuned_rows == [len(frame) - len(test) for _train, test in folds] + [len(train_df)]
    assert winner.offsets is not None and set(winner.offsets) == set(labels)
    assert any(v != 0.0 for v in winner.offsets.values())
    assert set(winner.untuned) == {"time_split", "leave_repos_out"}
    metrics = _run_metrics(selection, {}, 0.0)
    assert metrics["lro_macro_f1_without_offsets"] == winner.untuned["leave_repos_out"]["macro_f1"]
    assert metrics["macro_f1_without_offsets"] == winner.untuned["time_split"]["macro_f1"]
    classifier = winner.model.steps[-1][1]
    assert classifier.margin_offsets_.tolist() == [winner.offsets[str(c)] for c in classifier.classes_]
    with single_threaded():
        assert list(winner.model.predict(test_df)) == winner.time_split_pred
    assert np.isfinite(winner.leave_repos_out["macro_f1"])
    tuned_oof = score(frame[LABEL_COLUMN].tolist(), winner.lro_pred, labels)  # the tuned predictions were scored
    assert tuned_oof["macro_f1"] == winner.leave_repos_out["macro_f1"]


def test_candidates_evaluated_in_one_batch_score_as_each_alone(dsn: str, cz_cli: list[tuple[Any, ...]],
                                                               click: list[tuple[Any, ...]]) -> None:
    """The defaults' fits of every candidate go to the workers as one batch, largest first: each fit's outcome must
    still reach its own candidate and fold."""
    from commitlake.ml._evaluate import _evaluate
    from commitlake.ml._features import LABEL_COLUMN, read_labelled
    from commitlake.ml._split import time_split

    load_features(dsn, cz_cli + click)
    frame = read_labelled(dsn)
    train_df, test_df = time_split(frame)
    labels = sorted(set(frame[LABEL_COLUMN]))
    entries = [("linear", {}), ("random_forest", {}), ("linear", {"C": 0.03})]
    together = _evaluate(entries, frame, train_df, test_df, labels, 2, 0, jobs=2)
    alone = [_evaluate([entry], frame, train_df, test_df, labels, 2, 0, jobs=1)[0] for entry in entries]
    assert [(r.candidate, r.params, r.time_split, r.leave_repos_out, r.time_split_pred) for r in together] == [
        (r.candidate, r.params, r.time_split, r.leave_repos_out, r.time_split_pred) for r in alone
    ]
    assert together[0].leave_repos_out != together[2].leave_repos_out  # the two linear settings differ


def test_a_killed_train_leaves_no_worker_processes(dsn: str, cz_cli: list[tuple[Any, ...]],
                                                   click: list[tuple[Any, ...]], tmp_path: Path) -> None:
    """kill -9 of train mid-search: its worker processes die with it instead of finishing orphaned fits."""
    import subprocess
    import sys

    from worker_kill import kill_and_find_orphans

    load_features(dsn, cz_cli + click)
    script = (
        "import sys; from commitlake.ml import train; "
        f"train({dsn!r}, 'killed', tracking_uri='sqlite:///{tmp_path}/mlflow.db', artifact_root=None, "
        "model_name='killed', jobs=2, budget_seconds=600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert kill_and_find_orphans(proc) == [], "orphaned search workers"


def test_predict_without_a_champion_is_a_clear_error(dsn: str, mlflow_store: tuple[str, Path]) -> None:
    from commitlake.ml import predict

    with pytest.raises(CommitlakeError, match=r"'never-trained' has alias 'champion'.*run the train stage first"):
        predict(dsn, "r-none", tracking_uri=mlflow_store[0], model_name="never-trained")


# --- the lifecycle -----------------------------------------------------------------------------------------------


def _labelled_oldest_first(rows: Rows) -> Rows:
    return sorted((r for r in rows if r[4] is not None), key=lambda r: (r[3], r[0]))


def _gain(metrics: dict[str, float]) -> tuple[float, float, float]:
    """(the new model's macro-F1 minus the champion's, the paired bootstrap interval's bounds) of a train run."""
    gain = metrics["macro_f1"] - metrics["champion_macro_f1"]
    return gain, metrics["gain_over_champion_ci95_low"], metrics["gain_over_champion_ci95_high"]


def test_train_register_promote_and_predict(
    dsn: str, cz_cli: Rows, click: Rows, mlflow_store: tuple[str, Path]
) -> None:
    from mlflow import MlflowClient

    from commitlake.ml import predict, train
    from commitlake.ml._registry import logged_model_id

    tracking_uri, artifact_root = mlflow_store
    client = MlflowClient(tracking_uri=tracking_uri)
    rows = cz_cli + click
    labelled = _labelled_oldest_first(rows)
    unlabelled_rows = [r for r in rows if r[4] is None]
    partial = labelled[: len(labelled) // 2] + unlabelled_rows

    def fit(run: str, data: Rows, **kwargs: Any) -> Any:
        load_features(dsn, data)
        return train(
            dsn, run, tracking_uri=tracking_uri, artifact_root=artifact_root, model_name=MODEL, **FAST, **kwargs
        )

    # 1. a first model from the older half of the history: champion (nothing to compare against)
    first = fit("r1", partial)
    assert first.model_version == "1" and first.promoted and first.champion_version == "1"
    assert first.n_train + first.n_test == len(labelled) // 2

    # 2. the whole history: every candidate evaluated on both splits, the winner beats both baselines and the
    #    weaker champion by the margin on the same hold-out, so it takes `champion`
    second = fit("r2", rows)
    m = second.metrics
    assert second.n_train + second.n_test == len(labelled)
    assert second.n_test == pytest.approx(0.2 * len(labelled), abs=1)
    for candidate in ("linear", "random_forest", "hist_gb"):
        assert f"candidate_{candidate}_lro_macro_f1" in m and f"candidate_{candidate}_time_split_macro_f1" in m
    assert second.params["candidate"] in second.selection and "leave-repositories-out" in second.selection
    assert m["lro_macro_f1"] == max(m[f"candidate_{c}_lro_macro_f1"] for c in ("linear", "random_forest", "hist_gb"))
    # the winner's lead over the best other candidate, with its paired bootstrap interval on the same rows
    runner_up = max(m[f"candidate_{c}_lro_macro_f1"] for c in ("linear", "random_forest", "hist_gb")
                    if c != second.params["candidate"])  # fmt: skip
    lead = re.search(r"\(lead ([+-][0-9.]+), paired 95 % bootstrap interval ([+-][0-9.]+) to ([+-][0-9.]+)\); ",
                     second.selection)  # fmt: skip
    assert lead is not None, second.selection
    assert float(lead[1]) == pytest.approx(m["lro_macro_f1"] - runner_up, abs=1e-4)
    assert float(lead[2]) - 1e-4 <= float(lead[1]) <= float(lead[3]) + 1e-4
    # two repositories give two folds: too few to tune margin offsets on (MIN_FOLDS), so none are logged
    assert "lro_macro_f1_without_offsets" not in m and "macro_f1_without_offsets" not in m
    assert m["macro_f1"] >= m["baseline_macro_f1"] + 0.2, m
    # the keyword baseline is logged beside it (beating it is measured on the full data by bench/bench_ml.py)
    assert {"baseline_keywords_time_split_macro_f1", "baseline_keywords_leave_repos_out_macro_f1"} <= set(m)
    assert all(f"f1_{label}" in m for label in second.labels)
    assert m["macro_f1"] >= m["champion_macro_f1"] + 0.02, m
    assert second.promoted and second.model_version == "2" and "margin 0.020" in second.decision
    gain, low, high = _gain(m)
    assert 0 < low <= gain <= high and f"gain {gain:+.4f}, paired 95 % bootstrap interval {low:+.4f}" in second.decision
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "2"

    experiment = client.get_experiment_by_name("commitlake")
    assert experiment is not None and experiment.artifact_location == artifact_root.absolute().as_uri()
    run = client.get_run(second.mlflow_run_id)
    assert run.data.metrics["macro_f1"] == pytest.approx(m["macro_f1"])
    assert run.data.tags["commitlake.promoted"] == "true" and run.data.tags["commitlake.run_id"] == "r2"
    assert run.data.params["candidate"] == second.params["candidate"]
    [dataset_input] = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == second.data_digest
    assert dataset_input.dataset.source.endswith("analytics.ml_commit_features") or "ml_commit_features" in (
        dataset_input.dataset.source
    )
    evaluation = artifact_root / run.info.run_id / "artifacts" / "evaluation"
    confusion = json.loads((evaluation / "confusion_matrix.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == second.n_test
    assert (evaluation / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    per_class = json.loads((evaluation / "per_class.json").read_text())["rows"]
    assert {r["label"] for r in per_class} == set(second.labels)
    assert sum(r["support"] for r in per_class) == second.n_test
    selection = json.loads((evaluation / "model_selection.json").read_text())
    assert {c["candidate"] for c in selection["candidates"]} == {"linear", "random_forest", "hist_gb"}
    assert set(selection["baselines"]) == {"majority", "keywords"}
    # the learning curve: the winner on growing stratified shares of the training split, one stepped metric
    curve = json.loads((evaluation / "learning_curve.json").read_text())["points"]
    steps = [p["rows"] for p in curve]
    assert len(curve) == 3 and steps == sorted(steps) and steps[-1] == second.n_train
    history = client.get_metric_history(run.info.run_id, "learning_curve_macro_f1")
    assert sorted(h.step for h in history) == steps
    assert run.data.params["n_sampled"] == run.data.params["n_labelled"] == str(second.n_train + second.n_test)
    importances = json.loads((evaluation / "feature_importances.json").read_text())
    assert importances["kind"] in {"impurity", "mean_abs_coef", "none"}
    mv = client.get_model_version(MODEL, "2")
    assert mv.tags["commitlake.data_digest"] == second.data_digest

    # 3. predictions: one row per unlabelled commit, from the champion
    unlabelled = _unlabelled_ids(rows)
    report = predict(dsn, "p1", tracking_uri=tracking_uri, model_name=MODEL, batch_size=500)
    assert report.rows == len(unlabelled) == report.written
    assert sum(report.distribution.values()) == report.rows
    table = _predictions(dsn)
    assert {r[0] for r in table} == unlabelled
    assert {r[6] for r in table} == {2} and {r[7] for r in table} == {second.mlflow_run_id}
    assert set(report.distribution) <= set(second.labels)
    assert all(0 < r[4] <= 1 for r in table)
    # drift of this scoring batch (click's unlabelled history) against the training reference, stored in ops
    drift = report.extra["drift"]
    assert drift["rows"] == report.rows and set(drift["feature_psi"]) >= {"files_changed", "author_prior_commits"}
    with psycopg.connect(dsn) as conn:
        stored = conn.execute("select rows, prediction_psi, max_psi, drifted from ops.model_drift where run_id = 'p1'")
        assert stored.fetchall() == [(report.rows, drift["prediction_psi"], drift["max_psi"], drift["drifted"])]

    # 4. rerun of predict: same rows, nothing rewritten
    again = predict(dsn, "p2", tracking_uri=tracking_uri, model_name=MODEL, batch_size=777)
    assert (again.rows, again.written, again.removed) == (report.rows, 0, 0)
    assert _predictions(dsn) == table

    # 5. the same data again: nothing trained, nothing registered
    rerun = fit("r3", rows)
    assert rerun.skipped and rerun.model_version == "2" and rerun.mlflow_run_id == ""
    assert "unchanged" in rerun.decision and rerun.data_digest == second.data_digest
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == 2

    # 6. one labelled commit fewer: new data, a near-identical model; within the margin it stays challenger
    near = fit("r4", [r for r in rows if r[0] != labelled[-1][0]])
    assert near.model_version == "3" and not near.promoted
    assert abs(near.metrics["macro_f1"] - near.metrics["champion_macro_f1"]) < 0.02, near.metrics
    assert "kept as challenger" in near.decision and "margin 0.020" in near.decision
    gain, low, high = _gain(near.metrics)
    assert low <= gain <= high and high - low < 0.1  # paired: two near-identical models differ on few commits
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert str(client.get_model_version_by_alias(MODEL, "challenger").version) == "3"

    # 7. a worse model (older half minus one commit) stays challenger; keeping 1 unaliased version prunes v1
    #    (registry entry, run and artifact files), keeps v3 (newest unaliased), v2 (champion), v4 (challenger)
    v1 = client.get_model_version(MODEL, "1")
    v1_run = v1.run_id
    v1_artifacts = artifact_root / v1_run
    v1_model_id = logged_model_id(v1)
    assert v1_model_id is not None, v1.source
    v1_model_files = Path(client.get_logged_model(v1_model_id).artifact_location.removeprefix("file://"))
    assert v1_artifacts.is_dir() and (v1_model_files / "MLmodel").is_file()
    worse = fit("r5", partial[1:], keep_versions=1)
    assert worse.model_version == "4" and not worse.promoted and worse.champion_version == "2"
    assert worse.metrics["champion_macro_f1"] > worse.metrics["macro_f1"], worse.metrics
    assert _gain(worse.metrics)[1] < 0 and "paired 95 % bootstrap interval" in worse.decision
    assert worse.pruned == ["1"]
    assert sorted(int(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")) == [2, 3, 4]
    assert not v1_artifacts.exists() and not v1_model_files.exists()
    assert client.get_run(v1_run).info.lifecycle_stage == "deleted"
    assert client.get_model_version(MODEL, "4").tags["commitlake.promoted"] == "false"
