"""train: features → fitted pipeline → MLflow run, registered version, alias decision."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commitlake.errors import CommitlakeError
from commitlake.logs import get_logger
from commitlake.memory import release_free_memory
from commitlake.ml._artifacts import confusion_png, feature_importances, per_class_table
from commitlake.ml._drift import REFERENCE_ARTIFACT, reference_profile
from commitlake.ml._evaluate import (
    DEFAULT_BUDGET_SECONDS,
    Selection,
    baseline_scores,
    learning_curve,
    refit,
    select_model,
)
from commitlake.ml._features import FEATURE_TABLE, LABEL_COLUMN, MODEL_INPUT_COLUMNS, NUMERIC_COLUMNS
from commitlake.ml._metrics import confusion, macro_f1_interval, majority_label, score
from commitlake.ml._model import SKOPS_TRUSTED_TYPES, load_registered_model, single_threaded
from commitlake.ml._registry import (
    CHALLENGER,
    CHAMPION,
    DATA_DIGEST_TAG,
    DEFAULT_KEEP_VERSIONS,
    DEFAULT_PROMOTION_MARGIN,
    alias_version,
    embedded_artifact_root,
    ensure_experiment,
    prune_versions,
    use_tracking,
    version_trained_on,
)
from commitlake.ml._sample import DEFAULT_MAX_ROWS, DEFAULT_SEARCH_ROWS, cap_rows
from commitlake.ml._split import TEST_FRACTION, time_split
from commitlake.ml._training_data import read_training_data
from commitlake.ml._workers import default_jobs

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

__all__ = ["TrainReport", "train"]

_log = get_logger("commitlake.ml")
#: The dbt model the training data comes from (FEATURE_TABLE is its relation), named on the logged dataset.
DBT_MODEL = FEATURE_TABLE.split(".")[-1]


@dataclass(frozen=True)
class TrainReport:
    mlflow_run_id: str
    model_version: str
    promoted: bool
    metrics: dict[str, float]
    n_train: int
    n_test: int
    labels: list[str]
    #: One sentence on the promotion: what was compared with what, and the outcome.
    decision: str = ""
    #: The version holding `champion` after this run.
    champion_version: str | None = None
    train_seconds: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    #: True when the training data was unchanged since an existing version: nothing trained or registered.
    skipped: bool = False
    data_digest: str = ""
    #: Why the winning candidate won.
    selection: str = ""
    #: Versions deleted by pruning.
    pruned: list[str] = field(default_factory=list)


def train(
    database_url: str,
    run_id: str,
    *,
    tracking_uri: str,
    artifact_root: Path | None,
    model_name: str,
    min_labelled: int = 50,
    random_state: int = 0,
    promotion_margin: float = DEFAULT_PROMOTION_MARGIN,
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    candidates: Sequence[str] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    search_rows: int = DEFAULT_SEARCH_ROWS,
    jobs: int | None = None,
) -> TrainReport:
    """Select a model on leave-repositories-out, fit it on the older 80 %, score the newest 20 %, register it.

    Past `max_rows` labelled rows training uses a stratified, deterministic sample (cap_rows; the digest covers
    every row); past `search_rows` of those the candidates are compared on a smaller one, each row on its side of
    the time split, and the winner is refitted on the whole older split. The search runs in `jobs` worker
    processes (default: the CPUs, at most 2); results do not depend on it. Unchanged data (a registered version's
    digest) trains and registers nothing. The new version gets `challenger`, and `champion` only when its macro-F1
    beats the champion's by `promotion_margin` on *this* run's hold-out. Raises CommitlakeError if nothing to fit.
    """
    data = read_training_data(database_url, max_rows)
    _require_trainable(data.n_labelled, data.types, min_labelled)
    digest, sample = data.digest, data.sample
    client = use_tracking(tracking_uri)
    experiment_id = ensure_experiment(client, embedded_artifact_root(tracking_uri, artifact_root))
    existing = version_trained_on(client, model_name, digest)
    if existing is not None:
        return _unchanged(client, model_name, existing, digest, data.n_labelled)

    jobs = default_jobs() if jobs is None else jobs
    fit = _select_and_evaluate(sample, candidates, budget_seconds, random_state, jobs, search_rows)
    train_df, test_df, labels, selection, metrics = fit.train_df, fit.test_df, fit.labels, fit.selection, fit.metrics
    winner = selection.winner
    pipeline, y_pred = winner.model, winner.time_split_pred
    y_test, x_test = test_df[LABEL_COLUMN].tolist(), test_df[list(MODEL_INPUT_COLUMNS)]

    champion_before = alias_version(client, model_name, CHAMPION)
    champion_pred, why_not = _score_champion(model_name, champion_before, tracking_uri, x_test)
    champion_f1, champion_note = _compare_champion(metrics, y_test, y_pred, champion_pred, labels, why_not)

    params = _train_params(fit, digest, random_state, budget_seconds, promotion_margin)
    params.update({"max_rows": max_rows, "n_labelled": data.n_labelled, "n_sampled": len(sample), "jobs": jobs,
                   "search_rows": search_rows, "n_searched": fit.n_searched})  # fmt: skip
    run, version = _log_and_register(
        client, experiment_id, run_id, model_name, pipeline, params, metrics, y_test, y_pred, labels,
        n_labelled=data.n_labelled, selection=selection, baselines=fit.baselines, curve=fit.curve,
        profile=reference_profile(train_df[list(MODEL_INPUT_COLUMNS)], train_df[LABEL_COLUMN].tolist()),
    )  # fmt: skip

    promoted, decision = _promote(
        client, run, model_name, version, metrics["macro_f1"], champion_before, champion_f1, champion_note,
        promotion_margin,
    )  # fmt: skip
    champion_after = version if promoted else champion_before
    client.set_model_version_tag(model_name, version, DATA_DIGEST_TAG, digest)
    pruned = prune_versions(client, model_name, keep_versions)
    report = TrainReport(
        mlflow_run_id=run, model_version=version, promoted=promoted, metrics=metrics, n_train=len(train_df),
        n_test=len(test_df), labels=labels, decision=decision, champion_version=champion_after,
        train_seconds=fit.train_seconds, params=params, data_digest=digest, selection=selection.reason, pruned=pruned,
    )  # fmt: skip
    _log_finished(model_name, winner.candidate, report)
    return report


def _promote(
    client: MlflowClient,
    run: str,
    model_name: str,
    version: str,
    macro_f1: float,
    champion_before: str | None,
    champion_f1: float | None,
    champion_note: str,
    promotion_margin: float,
) -> tuple[bool, str]:
    """Move `champion` to the new version only on evidence (no champion yet, or better by the margin on this
    run's hold-out); record why either way. Returns (promoted, the decision's text)."""
    promoted = champion_f1 is None or macro_f1 >= champion_f1 + promotion_margin
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    decision = _decision_text(
        version, macro_f1, champion_before, champion_f1, champion_note, promoted, promotion_margin
    )
    _record_decision(client, run, model_name, version, promoted, decision, champion_before, macro_f1)
    return promoted, decision


@dataclass(frozen=True)
class _Fit:
    """What model selection produced: the time split, the selection (winner included), baselines, metrics."""

    train_df: pd.DataFrame
    test_df: pd.DataFrame
    labels: list[str]
    selection: Selection
    baselines: dict[str, Any]
    metrics: dict[str, float]
    train_seconds: float
    #: The winner's time-split macro-F1 against its training rows (evaluate.learning_curve).
    curve: list[dict[str, float]]
    #: Rows the candidates were compared on (all of the frame's, or the search sample's).
    n_searched: int


def _select_and_evaluate(
    frame: pd.DataFrame,
    candidates: Sequence[str] | None,
    budget_seconds: float,
    random_state: int,
    jobs: int,
    search_rows: int = 0,
) -> _Fit:
    """Split older/newer, select among the candidates on leave-repositories-out (on the search sample when the
    frame is larger), fit the winner on the whole older split, score the baselines beside them."""
    train_df, test_df, labels = _split(frame)
    search, search_train, search_test = _search_sample(frame, train_df, test_df, search_rows)
    started = time.monotonic()
    selection = select_model(
        search, search_train, search_test, labels, candidates=candidates, budget_seconds=budget_seconds,
        random_state=random_state, log=_log.info, jobs=jobs,
    )  # fmt: skip
    release_free_memory()  # the search's garbage (pickled calls, results) before the refit, the largest fit
    if search is frame:
        curve = learning_curve(selection.winner, train_df, test_df, labels, random_state, jobs)
    else:
        curve = _refit_winner(selection, search_train, train_df, test_df, labels, random_state, jobs)
    train_seconds = time.monotonic() - started
    baselines = baseline_scores(search, train_df, test_df, labels, selection.lro_folds)
    metrics = _run_metrics(selection, baselines, train_seconds)
    # how far the hold-out's macro-F1 could move by chance: its rare types have a handful of commits each
    low, high = macro_f1_interval(test_df[LABEL_COLUMN].tolist(), selection.winner.time_split_pred, labels)
    metrics.update(macro_f1_ci95_low=low, macro_f1_ci95_high=high)
    return _Fit(train_df, test_df, labels, selection, baselines, metrics, train_seconds, curve, len(search))


def _search_sample(
    frame: pd.DataFrame, train_df: pd.DataFrame, test_df: pd.DataFrame, search_rows: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(rows, their older split, their newer split) to compare candidates on: cap_rows' stratified sample of the
    frame, each row staying on its side of the full time split, so the winner's refit never sees a test row."""
    search = cap_rows(frame, search_rows)
    if search is frame:
        return frame, train_df, test_df
    ids = set(search["commit_id"])
    older = train_df[train_df["commit_id"].isin(ids)].reset_index(drop=True)
    newer = test_df[test_df["commit_id"].isin(ids)].reset_index(drop=True)
    if older[LABEL_COLUMN].nunique() < 2 or newer.empty:  # too small to compare on: compare on everything
        return frame, train_df, test_df
    return search, older, newer


def _refit_winner(
    selection: Selection,
    search_train: pd.DataFrame,
    train_df: pd.DataFrame,
    test_df: pd.DataFrame,
    labels: list[str],
    random_state: int,
    jobs: int = 1,
) -> list[dict[str, float]]:
    """Fit the search's winner on the whole older split (it becomes selection.winner); returns the learning curve
    both fits draw, scored on the same newest rows: the search sample's fit, then the whole split's."""
    searched = selection.winner
    cols = list(MODEL_INPUT_COLUMNS)
    with single_threaded():
        small = [str(v) for v in searched.model.predict(test_df[cols])]
    winner = refit(searched, train_df, test_df, labels, random_state, jobs)
    searched.model = None  # the candidates table keeps the search's own scores; only the refit is registered
    selection.winner = winner
    selection.reason += f"; compared on {len(search_train)} older rows, refitted on {len(train_df)}"
    return [
        {"rows": len(search_train), "macro_f1": score(test_df[LABEL_COLUMN].tolist(), small, labels)["macro_f1"],
         "seconds": searched.fit_seconds},
        {"rows": len(train_df), "macro_f1": winner.time_split["macro_f1"], "seconds": winner.fit_seconds},
    ]  # fmt: skip


def _train_params(
    fit: _Fit, digest: str, random_state: int, budget_seconds: float, promotion_margin: float
) -> dict[str, Any]:
    """The MLflow params of the run: the winner's settings, the split, the search and promotion settings."""
    return {
        "candidate": fit.selection.winner.candidate,
        **fit.selection.winner.params,
        "random_state": random_state,
        "test_fraction": TEST_FRACTION,
        "lro_folds": fit.selection.lro_folds,
        "search_budget_seconds": budget_seconds,
        "promotion_margin": promotion_margin,
        **_split_params(fit.train_df, fit.test_df, fit.labels),
        "data_digest": digest,
        "feature_table": FEATURE_TABLE,
    }


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(older rows, newest rows, every label seen); raises when the older rows hold a single type."""
    train_df, test_df = time_split(frame)
    y_train = train_df[LABEL_COLUMN].tolist()
    if len(set(y_train)) < 2:
        raise CommitlakeError(
            f"the training split of {FEATURE_TABLE} has a single commit type ({y_train[0]!r}); "
            "a classifier needs at least two"
        )
    return train_df, test_df, sorted(set(y_train) | set(test_df[LABEL_COLUMN]))


def _split_params(train_df: pd.DataFrame, test_df: pd.DataFrame, labels: list[str]) -> dict[str, Any]:
    """The time split, as run params: sizes, cut-off, labels and the majority class."""
    return {
        "n_train": len(train_df),
        "n_test": len(test_df),
        "split_cutoff": str(test_df["committed_at"].iloc[0]),
        "labels": ",".join(labels),
        "majority_label": majority_label(train_df[LABEL_COLUMN].tolist()),
    }


def _run_metrics(selection: Selection, baselines: dict[str, Any], train_seconds: float) -> dict[str, float]:
    """The winner's time-split and LRO scores, the baselines', and each candidate's best macro-F1s."""
    winner = selection.winner
    metrics = dict(winner.time_split)
    if winner.leave_repos_out is not None:
        metrics.update({f"lro_{k}": v for k, v in winner.leave_repos_out.items()})
    for evaluation, prefix in (("time_split", ""), ("leave_repos_out", "lro_")):  # what the margin offsets bought
        untuned = winner.untuned.get(evaluation)
        if untuned is not None:
            metrics[f"{prefix}macro_f1_without_offsets"] = untuned["macro_f1"]
    for name, evaluations in baselines.items():
        for evaluation, scores in evaluations.items():
            prefix = "baseline" if (name, evaluation) == ("majority", "time_split") else f"baseline_{name}_{evaluation}"
            metrics.update({f"{prefix}_{k}": v for k, v in scores.items() if not k.startswith("f1_")})
    for result in selection.results:
        tag = f"candidate_{result.candidate}"
        metrics[f"{tag}_time_split_macro_f1"] = max(
            result.time_split["macro_f1"], metrics.get(f"{tag}_time_split_macro_f1", 0.0)
        )
        if result.leave_repos_out is not None:
            metrics[f"{tag}_lro_macro_f1"] = max(result.key, metrics.get(f"{tag}_lro_macro_f1", 0.0))
    metrics["train_seconds"] = train_seconds
    return metrics


def _log_finished(model_name: str, candidate: str, report: TrainReport) -> None:
    metrics = report.metrics
    _log.info(
        "train_finished",
        mlflow_run_id=report.mlflow_run_id,
        model_name=model_name,
        model_version=report.model_version,
        candidate=candidate,
        selection=report.selection,
        promoted=report.promoted,
        decision=report.decision,
        n_train=report.n_train,
        n_test=report.n_test,
        macro_f1=round(metrics["macro_f1"], 4),
        lro_macro_f1=round(metrics.get("lro_macro_f1", float("nan")), 4),
        baseline_macro_f1=round(metrics["baseline_macro_f1"], 4),
        accuracy=round(metrics["accuracy"], 4),
        train_seconds=round(report.train_seconds, 2),
        pruned=report.pruned,
    )


def _unchanged(client: MlflowClient, model_name: str, version: str, digest: str, n: int) -> TrainReport:
    """The report of a run that found its data already trained on: no fit, no run, no version."""
    champion = alias_version(client, model_name, CHAMPION)
    decision = (
        f"training data unchanged (digest {digest}, {n} labelled commits) since v{version}: "
        "nothing trained or registered"
    )
    _log.info("train_skipped_unchanged_data", model_name=model_name, model_version=version, data_digest=digest)
    return TrainReport(
        mlflow_run_id="", model_version=version, promoted=False, metrics={}, n_train=0, n_test=0, labels=[],
        decision=decision, champion_version=champion, skipped=True, data_digest=digest,
    )  # fmt: skip


def _require_trainable(n: int, types: list[str], min_labelled: int) -> None:
    if n < max(min_labelled, 2):
        raise CommitlakeError(
            f"only {n} labelled commits in {FEATURE_TABLE} (need at least {min_labelled}); "
            "load repositories that use Conventional Commits, or lower min_labelled"
        )
    if len(types) < 2:
        raise CommitlakeError(
            f"all {n} labelled commits in {FEATURE_TABLE} have the same commit type ({types[0]!r}); "
            "a classifier needs at least two"
        )


def _score_champion(
    model_name: str, version: str | None, tracking_uri: str, x_test: pd.DataFrame
) -> tuple[list[str] | None, str]:
    """The current champion's predictions on this test split, or (None, why) when there is none to compare."""
    if version is None:
        return None, "no champion yet"
    try:
        champion, _ = load_registered_model(f"models:/{model_name}/{version}", tracking_uri)
        with single_threaded():
            return [str(v) for v in champion.predict(x_test)], ""
    except Exception as exc:  # a champion that cannot score today's features cannot serve predict either
        _log.warning("champion_unscorable", model_version=version, error=str(exc)[:500])
        return None, f"champion v{version} could not score the test split ({type(exc).__name__})"


def _compare_champion(
    metrics: dict[str, float],
    y_test: list[str],
    y_pred: list[str],
    champion_pred: list[str] | None,
    labels: list[str],
    why_not: str,
) -> tuple[float | None, str]:
    """The champion's macro-F1 on this test split and the paired bootstrap interval of the new model's gain over
    it, into `metrics`; returns (the champion's macro-F1, the gain and its interval in words), or (None, why_not)
    with no champion's predictions. The gate stays the margin; the interval says how sure the comparison is."""
    if champion_pred is None:
        return None, why_not
    champion_f1 = score(y_test, champion_pred, labels)["macro_f1"]
    low, high = macro_f1_interval(y_test, y_pred, labels, baseline=champion_pred)
    metrics.update(champion_macro_f1=champion_f1, gain_over_champion_ci95_low=low, gain_over_champion_ci95_high=high)
    gain = metrics["macro_f1"] - champion_f1
    return champion_f1, f"gain {gain:+.4f}, paired 95 % bootstrap interval {low:+.4f} to {high:+.4f}"


def _input_example() -> pd.DataFrame:
    """A made-up row for the model signature: real subjects would copy personal data into the artifact."""
    import pandas as pd

    row: dict[str, Any] = {"text": "add retry with backoff to the http client"}
    row["body"] = "\nthe client gave up after the first timeout; retry three times with jitter.\n"
    row["paths"] = "src/http/client.ts test/http/client.spec.ts"
    row.update({column: 0.0 for column in NUMERIC_COLUMNS})
    row.update({"message_length": 48.0, "files_changed": 2.0, "additions": 40.0, "deletions": 3.0})
    row.update({"n_src_files": 1.0, "n_test_files": 1.0, "commit_hour": 14.0, "commit_dow": 2.0})
    row.update({"author_prior_commits": 12.0})
    return pd.DataFrame([row], columns=list(MODEL_INPUT_COLUMNS))


def _candidates_table(selection: Selection) -> list[dict[str, Any]]:
    return [
        {
            "candidate": r.candidate,
            "params": {k: str(v) for k, v in r.params.items()},
            "leave_repos_out_macro_f1": None if r.leave_repos_out is None else round(r.leave_repos_out["macro_f1"], 4),
            "time_split_macro_f1": round(r.time_split["macro_f1"], 4),
            "time_split_accuracy": round(r.time_split["accuracy"], 4),
            "fit_seconds": round(r.fit_seconds, 2),
            "margin_offsets": r.offsets,
            "winner": (r.candidate, r.params) == (selection.winner.candidate, selection.winner.params),
        }
        for r in selection.results
    ]


def _log_dataset(digest: str, rows: int) -> None:
    """The training data as an MLflow input: its digest and the dbt model it came from, not its rows (they hold
    personal data)."""
    import mlflow
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.meta_dataset import MetaDataset

    dataset = MetaDataset(  # type: ignore[abstract]  # concrete at runtime; stubs mark profile abstract
        source=CodeDatasetSource(tags={"dbt_model": DBT_MODEL, "relation": FEATURE_TABLE}),
        name=DBT_MODEL,
        digest=digest,
    )
    mlflow.log_input(dataset, context="training", tags={"rows": str(rows), "dbt_model": DBT_MODEL})


def _log_evaluation(
    pipeline: Any,
    y_test: list[str],
    y_pred: list[str],
    labels: list[str],
    winner: str,
    selection: Selection,
    baselines: dict[str, Any],
) -> None:
    """The evaluation artifacts of the active run: confusion matrix (JSON and PNG), per-class table, the
    classification report, why the winner won, feature importances."""
    import tempfile

    import mlflow
    from sklearn.metrics import classification_report

    mlflow.log_dict(confusion(y_test, y_pred, labels), "evaluation/confusion_matrix.json")
    mlflow.log_dict({"rows": per_class_table(y_test, y_pred, labels)}, "evaluation/per_class.json")
    report = classification_report(y_test, y_pred, labels=labels, zero_division=0, digits=3)
    mlflow.log_text(report, "evaluation/classification_report.txt")
    mlflow.log_dict(
        {"winner": winner, "reason": selection.reason, "candidates": _candidates_table(selection),
         "baselines": baselines},
        "evaluation/model_selection.json",
    )  # fmt: skip
    mlflow.log_dict(feature_importances(pipeline), "evaluation/feature_importances.json")
    with tempfile.TemporaryDirectory() as tmp:
        png = confusion_png(y_test, y_pred, labels, Path(tmp) / "confusion_matrix.png", "time-split hold-out")
        mlflow.log_artifact(str(png), "evaluation")


def _log_and_register(
    client: MlflowClient,
    experiment_id: str,
    run_id: str,
    model_name: str,
    pipeline: Any,
    params: dict[str, Any],
    metrics: dict[str, float],
    y_test: list[str],
    y_pred: list[str],
    labels: list[str],
    *,
    n_labelled: int,
    selection: Selection,
    baselines: dict[str, Any],
    profile: dict[str, Any],
    curve: list[dict[str, float]],
) -> tuple[str, str]:
    """One MLflow run with params, metrics, evaluation artifacts, the input dataset and the model; returns
    (run id, version)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = _input_example()
    with single_threaded():
        signature = infer_signature(example, pipeline.predict(example))
    tags = {"commitlake.run_id": run_id, "commitlake.stage": "train", "commitlake.candidate": params["candidate"]}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{run_id}", tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(metrics)
        _log_dataset(params["data_digest"], n_labelled)
        for point in curve:  # one metric, stepped by training rows: MLflow draws the learning curve
            mlflow.log_metric("learning_curve_macro_f1", point["macro_f1"], step=int(point["rows"]))
        mlflow.log_dict({"points": curve}, "evaluation/learning_curve.json")
        _log_evaluation(pipeline, y_test, y_pred, labels, params["candidate"], selection, baselines)
        mlflow.log_dict(profile, REFERENCE_ARTIFACT)  # predict measures drift against it
        mlflow.set_tag("commitlake.selection", selection.reason)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            serialization_format="skops",
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            signature=signature,
            input_example=example,
            registered_model_name=model_name,
            # Listed, not inferred: inference re-imports the model in a subprocess (~15 s per run here).
            pip_requirements=_pip_requirements(),
        )
        version = str(info.registered_model_version)
        client.set_registered_model_alias(model_name, CHALLENGER, version)
        return run.info.run_id, version


def _pip_requirements() -> list[str]:
    """What loading the model needs: sklearn and skops, and commitlake itself for `derive_numeric`."""
    from importlib.metadata import version

    from commitlake import __version__

    packages = ("mlflow", "scikit-learn", "skops", "numpy", "scipy", "pandas")
    return [*(f"{name}=={version(name)}" for name in packages), f"commitlake=={__version__}"]


def _decision_text(
    version: str,
    macro_f1: float,
    champion_before: str | None,
    champion_f1: float | None,
    note: str,
    promoted: bool,
    margin: float,
) -> str:
    if champion_f1 is None:
        return f"v{version} promoted to {CHAMPION}: {note}"
    verb = "promoted to" if promoted else "kept as challenger; not"
    relation = ">=" if promoted else "<"
    return (
        f"v{version} {verb} {CHAMPION}: macro-F1 {macro_f1:.4f} {relation} "
        f"champion v{champion_before} {champion_f1:.4f} + margin {margin:.3f} on the same test split ({note})"
    )


def _record_decision(
    client: MlflowClient,
    mlflow_run_id: str,
    model_name: str,
    version: str,
    promoted: bool,
    decision: str,
    champion_before: str | None,
    macro_f1: float,
) -> None:
    """The decision on both the run and the model version, so either view answers "why is this champion?"."""
    tags = {
        "commitlake.promoted": str(promoted).lower(),
        "commitlake.decision": decision,
        "commitlake.previous_champion": champion_before or "",
    }
    for key, value in tags.items():
        client.set_tag(mlflow_run_id, key, value)
        client.set_model_version_tag(model_name, version, key, value)
    client.set_model_version_tag(model_name, version, "commitlake.macro_f1", f"{macro_f1:.6f}")
