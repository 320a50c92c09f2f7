"""train: fit the commit-type classifier on analytics.ml_commit_features and register it in MLflow."""

from __future__ import annotations

import os

from commitlake.stages import StageContext, StageResult

__all__ = ["mlflow_environment", "run"]


def mlflow_environment(ctx: StageContext) -> tuple[str, object]:
    """Tracking URI and (embedded only) artifact root, with telemetry off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    settings = ctx.settings
    if settings.mlflow_tracking_uri is None:
        (settings.home / "mlflow").mkdir(parents=True, exist_ok=True)
        settings.mlflow_artifact_root.mkdir(parents=True, exist_ok=True)
        return settings.effective_mlflow_uri, settings.mlflow_artifact_root
    return settings.mlflow_tracking_uri, None


def run(ctx: StageContext) -> StageResult:
    from commitlake.ml import train

    tracking_uri, artifact_root = mlflow_environment(ctx)
    report = train(
        ctx.warehouse.url,
        ctx.run_id,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,  # type: ignore[arg-type]
        model_name=ctx.settings.model_name,
    )
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
         "promoted": report.promoted, "labels": list(report.labels)},
    )
