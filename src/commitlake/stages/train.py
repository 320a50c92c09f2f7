"""train: fit the commit-type classifier on analytics.ml_commit_features and register it in MLflow.

Labels are Conventional Commits types. A history with too few of them (a young repository, or one that
does not use the convention) cannot train anything sound: the stage then skips with that reason instead of
registering noise, and predict keeps using the current champion, if any.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from commitlake.logs import get_logger
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = ["labelled_counts", "mlflow_environment", "run"]

_log = get_logger("train")


def mlflow_environment(ctx: StageContext) -> tuple[str, Path | None]:
    """Tracking URI and (embedded only) artifact root, with telemetry and progress bars off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    settings = ctx.settings
    if settings.mlflow_tracking_uri is None:
        settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
        return settings.effective_mlflow_uri, settings.mlflow_artifact_root
    return settings.mlflow_tracking_uri, None


def labelled_counts(ctx: StageContext) -> tuple[int, int]:
    """(labelled rows, distinct labels) in the feature table."""
    with ctx.warehouse.connect() as conn:
        row = conn.execute(
            "select count(commit_type), count(distinct commit_type) from analytics.ml_commit_features"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def run(ctx: StageContext) -> StageResult:
    labelled, classes = labelled_counts(ctx)
    needed = ctx.settings.min_labelled
    if labelled < needed or classes < 2:
        reason = (
            f"skipped: {labelled} labelled commits in {classes} classes; training needs at least {needed} "
            "Conventional Commits in 2 or more classes (add repositories with --repos)"
        )
        return StageResult(reason, {"labelled": labelled}, {"reason": reason}, skipped=True)

    from commitlake.ml import train
    from commitlake.ml._train import TRAIN_STEPS

    tracking_uri, artifact_root = mlflow_environment(ctx)
    begun: list[str] = []

    def on_step(text: str) -> None:  # the bar counts finished steps and names the current one
        if begun:
            progress.advance(1)
        begun.append(text)
        progress.note(text)

    # Library warnings (e.g. pandas' and SQLAlchemy's deprecations) become JSON log lines, once each.
    with warnings.catch_warnings(record=True) as caught, \
            Progress("train", unit="steps", total=TRAIN_STEPS, enabled=ctx.progress) as progress:
        warnings.simplefilter("always")
        report = train(
            ctx.warehouse.url,
            ctx.run_id,
            tracking_uri=tracking_uri,
            artifact_root=artifact_root,
            model_name=ctx.settings.model_name,
            min_labelled=needed,
            on_step=on_step,
        )
        progress.advance(1)
    for category, message in dict.fromkeys((w.category.__name__, str(w.message)) for w in caught):
        _log.warning("train.library_warning", category=category, message=message[:500])
    metrics = {k: round(float(v), 4) for k, v in report.metrics.items() if isinstance(v, int | float)}
    summary = (
        f"model v{report.model_version} macro-F1 {metrics.get('macro_f1', float('nan')):.3f} "
        f"accuracy {metrics.get('accuracy', float('nan')):.3f} "
        f"({'champion' if report.promoted else 'challenger'}), MLflow run {report.mlflow_run_id}"
    )
    return StageResult(
        summary,
        {"train_rows": report.n_train, "test_rows": report.n_test},
        {"metrics": metrics, "mlflow_run_id": report.mlflow_run_id, "model_version": report.model_version,
         "promoted": report.promoted, "labels": list(report.labels), "decision": report.decision},
    )
