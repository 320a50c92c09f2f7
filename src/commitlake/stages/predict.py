"""predict: score unlabelled commits with the champion model into analytics.commit_type_predictions."""

from __future__ import annotations

from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult
from commitlake.stages.train import mlflow_environment
from commitlake.wording import plural

__all__ = ["run"]


def _has_champion(tracking_uri: str, model_name: str) -> bool:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        client.get_model_version_by_alias(model_name, "champion")
    except MlflowException:
        return False
    return True


def run(ctx: StageContext) -> StageResult:
    tracking_uri, _ = mlflow_environment(ctx)
    if not _has_champion(tracking_uri, ctx.settings.model_name):
        reason = f"skipped: no model {ctx.settings.model_name!r} with alias 'champion' yet (train has not promoted one)"
        return StageResult(reason, {"predictions": 0}, {"reason": reason}, skipped=True)

    from commitlake.ml import predict

    with Progress("predict", unit="commits scored", enabled=ctx.progress) as progress:
        report = predict(ctx.warehouse.url, ctx.run_id, tracking_uri=tracking_uri, model_name=ctx.settings.model_name,
                         on_batch=progress.advance)
    return StageResult(
        f"{plural(report.rows, 'commit')} scored with model v{report.model_version}" if report.rows else
        f"0 commits scored: every commit already has a Conventional Commits label (model v{report.model_version})",
        {"predictions": report.rows},
        {"model_version": report.model_version, "distribution": dict(report.distribution),
         "drift": report.extra.get("drift")},
    )
