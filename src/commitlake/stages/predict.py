"""predict: score unlabelled commits with the champion model into analytics.commit_type_predictions."""

from __future__ import annotations

from commitlake.stages import StageContext, StageResult
from commitlake.stages.train import mlflow_environment

__all__ = ["run"]


def run(ctx: StageContext) -> StageResult:
    from commitlake.ml import predict

    tracking_uri, _ = mlflow_environment(ctx)
    report = predict(ctx.warehouse.url, ctx.run_id, tracking_uri=tracking_uri, model_name=ctx.settings.model_name)
    return StageResult(
        f"{report.rows} commits scored with model v{report.model_version}",
        {"predictions": report.rows},
        {"model_version": report.model_version, "distribution": dict(report.distribution)},
    )
