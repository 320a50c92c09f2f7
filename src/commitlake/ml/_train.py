"""train: features → fitted pipeline → MLflow run, registered version, alias decision."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from commitlake.errors import CommitlakeError
from commitlake.logs import get_logger
from commitlake.ml._features import FEATURE_TABLE, MODEL_INPUT_COLUMNS, NUMERIC_COLUMNS, read_labelled
from commitlake.ml._metrics import confusion, majority_label, score
from commitlake.ml._model import (
    MODEL_PARAMS,
    SKOPS_TRUSTED_TYPES,
    build_pipeline,
    load_registered_model,
    single_threaded,
)
from commitlake.ml._registry import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    embedded_artifact_root,
    ensure_experiment,
    use_tracking,
)
from commitlake.ml._split import TEST_FRACTION, time_split

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

__all__ = ["TRAIN_STEPS", "TrainReport", "train"]

#: The steps `train` reports through `on_step`, in order.
TRAIN_STEPS = 4

_log = get_logger("commitlake.ml")


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


def train(
    database_url: str,
    run_id: str,
    *,
    tracking_uri: str,
    artifact_root: Path | None,
    model_name: str,
    min_labelled: int = 50,
    random_state: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> TrainReport:
    """Fit on the older 80 % of labelled commits, score on the newest 20 %, register, and decide the champion.

    The new version always gets alias `challenger`; it takes `champion` when its macro-F1 is at least the
    current champion's, both measured on *this* run's test split (the champion's logged score was measured
    on older data, so it is not comparable). Raises CommitlakeError when there is nothing sound to train on.
    `on_step(text)` is called as each of the TRAIN_STEPS steps begins (progress display).
    """
    step = on_step or (lambda _text: None)
    step("reading labelled commits")
    frame = read_labelled(database_url)
    _require_trainable(frame, min_labelled)
    train_df, test_df = time_split(frame)
    y_train, y_test = train_df["commit_type"].tolist(), test_df["commit_type"].tolist()
    if len(set(y_train)) < 2:
        raise CommitlakeError(
            f"the training split of {FEATURE_TABLE} has a single commit type ({y_train[0]!r}); "
            "a classifier needs at least two"
        )
    labels = sorted(set(y_train) | set(y_test))
    x_train, x_test = train_df[list(MODEL_INPUT_COLUMNS)], test_df[list(MODEL_INPUT_COLUMNS)]

    step(f"fitting on {len(train_df):,} commits")
    started = time.monotonic()
    with single_threaded():
        pipeline = build_pipeline(random_state).fit(x_train, y_train)
        train_seconds = time.monotonic() - started
        y_pred = pipeline.predict(x_test).tolist()

    metrics = score(y_test, y_pred, labels)
    majority = majority_label(y_train)
    baseline = score(y_test, [majority] * len(y_test), labels)
    metrics.update({f"baseline_{k}": v for k, v in baseline.items() if not k.startswith("f1_")})
    metrics["train_seconds"] = train_seconds

    step("scoring the current champion on the same split")
    client = use_tracking(tracking_uri)
    experiment_id = ensure_experiment(client, embedded_artifact_root(tracking_uri, artifact_root))
    champion_before = alias_version(client, model_name, CHAMPION)
    champion_f1, champion_note = _score_champion(model_name, champion_before, tracking_uri, x_test, y_test, labels)
    if champion_f1 is not None:
        metrics["champion_macro_f1"] = champion_f1

    params: dict[str, Any] = {
        **MODEL_PARAMS,
        "random_state": random_state,
        "test_fraction": TEST_FRACTION,
        "n_train": len(train_df),
        "n_test": len(test_df),
        "split_cutoff": str(test_df["committed_at"].iloc[0]),
        "labels": ",".join(labels),
        "majority_label": majority,
        "data_digest": _digest(frame),
        "feature_table": FEATURE_TABLE,
    }
    step("logging and registering the model in MLflow")
    run, version = _log_and_register(
        client, experiment_id, run_id, model_name, pipeline, params, metrics, y_test, y_pred, labels
    )

    promoted = champion_f1 is None or metrics["macro_f1"] >= champion_f1
    if promoted:
        client.set_registered_model_alias(model_name, CHAMPION, version)
    decision = _decision_text(version, metrics["macro_f1"], champion_before, champion_f1, champion_note, promoted)
    champion_after = version if promoted else champion_before
    _record_decision(client, run, model_name, version, promoted, decision, champion_before, metrics["macro_f1"])
    _log.info(
        "train_finished",
        mlflow_run_id=run,
        model_name=model_name,
        model_version=version,
        promoted=promoted,
        decision=decision,
        n_train=len(train_df),
        n_test=len(test_df),
        macro_f1=round(metrics["macro_f1"], 4),
        baseline_macro_f1=round(metrics["baseline_macro_f1"], 4),
        accuracy=round(metrics["accuracy"], 4),
        train_seconds=round(train_seconds, 2),
    )
    return TrainReport(
        mlflow_run_id=run,
        model_version=version,
        promoted=promoted,
        metrics=metrics,
        n_train=len(train_df),
        n_test=len(test_df),
        labels=labels,
        decision=decision,
        champion_version=champion_after,
        train_seconds=train_seconds,
        params=params,
    )


def _require_trainable(frame: pd.DataFrame, min_labelled: int) -> None:
    n = len(frame)
    if n < max(min_labelled, 2):
        raise CommitlakeError(
            f"only {n} labelled commits in {FEATURE_TABLE} (need at least {min_labelled}); "
            "load repositories that use Conventional Commits, or lower min_labelled"
        )
    types = frame["commit_type"].unique().tolist()
    if len(types) < 2:
        raise CommitlakeError(
            f"all {n} labelled commits in {FEATURE_TABLE} have the same commit type ({types[0]!r}); "
            "a classifier needs at least two"
        )


def _digest(frame: pd.DataFrame) -> str:
    """A fingerprint of the labelled data (ids and labels), so two runs can be shown to have seen the same."""
    h = hashlib.sha256()
    for commit_id, label in zip(frame["commit_id"], frame["commit_type"], strict=True):
        h.update(f"{commit_id}\t{label}\n".encode())
    return h.hexdigest()[:16]


def _score_champion(
    model_name: str,
    version: str | None,
    tracking_uri: str,
    x_test: pd.DataFrame,
    y_test: list[str],
    labels: list[str],
) -> tuple[float | None, str]:
    """The current champion's macro-F1 on this test split, or (None, why) when there is none to compare."""
    if version is None:
        return None, "no champion yet"
    try:
        champion, _ = load_registered_model(f"models:/{model_name}/{version}", tracking_uri)
        with single_threaded():
            predicted = champion.predict(x_test).tolist()
    except Exception as exc:  # a champion that cannot score today's features cannot serve predict either
        _log.warning("champion_unscorable", model_version=version, error=str(exc)[:500])
        return None, f"champion v{version} could not score the test split ({type(exc).__name__})"
    return score(y_test, predicted, labels)["macro_f1"], ""


def _input_example() -> pd.DataFrame:
    """A made-up row for the model signature: real subjects would copy personal data into the artifact."""
    import pandas as pd

    row: dict[str, Any] = {"text": "add retry with backoff to the http client"}
    row.update({column: 0.0 for column in NUMERIC_COLUMNS})
    row.update({"message_length": 48.0, "files_changed": 2.0, "additions": 40.0, "deletions": 3.0})
    row.update({"n_src_files": 1.0, "n_test_files": 1.0})
    return pd.DataFrame([row], columns=list(MODEL_INPUT_COLUMNS))


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
) -> tuple[str, str]:
    """One MLflow run with params, metrics, evaluation artifacts and the model; returns (run id, version)."""
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.metrics import classification_report

    example = _input_example()
    signature = infer_signature(example, pipeline.predict(example))
    tags = {"commitlake.run_id": run_id, "commitlake.stage": "train"}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"train-{run_id}", tags=tags) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics(metrics)
        mlflow.log_dict(confusion(y_test, y_pred, labels), "evaluation/confusion_matrix.json")
        report = classification_report(y_test, y_pred, labels=labels, zero_division=0, digits=3)
        mlflow.log_text(report, "evaluation/classification_report.txt")
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
) -> str:
    if champion_f1 is None:
        return f"v{version} promoted to {CHAMPION}: {note}"
    verb = "promoted to" if promoted else "kept as challenger; not"
    relation = ">=" if promoted else "<"
    return (
        f"v{version} {verb} {CHAMPION}: macro-F1 {macro_f1:.4f} {relation} "
        f"champion v{champion_before} {champion_f1:.4f} on the same test split"
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
