"""train: fit the commit-type classifier on analytics.ml_commit_features and register it in MLflow.

Labels are Conventional Commits types. A history with too few of them (a young repository, or one that
does not use the convention) cannot train anything sound: the stage then skips with that reason instead of
registering noise, and predict keeps using the current champion, if any.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from commitlake.errors import ConfigError
from commitlake.logs import get_logger
from commitlake.progress import Progress
from commitlake.stages import StageContext, StageResult

__all__ = [
    "BUDGET_ENV",
    "KEEP_VERSIONS_ENV",
    "MAX_ROWS_ENV",
    "PROMOTION_MARGIN_ENV",
    "SEARCH_ROWS_ENV",
    "labelled_counts",
    "log_library_warnings",
    "mlflow_environment",
    "run",
    "train_options",
]

#: macro-F1 points a challenger must beat the champion by (default ml._registry.DEFAULT_PROMOTION_MARGIN).
PROMOTION_MARGIN_ENV = "COMMITLAKE_PROMOTION_MARGIN"
#: Non-aliased model versions kept; older ones are deleted with their artifacts.
KEEP_VERSIONS_ENV = "COMMITLAKE_KEEP_MODEL_VERSIONS"
#: Seconds the model search may spend (every candidate's defaults always run).
BUDGET_ENV = "COMMITLAKE_TRAIN_BUDGET_SECONDS"
#: Labelled rows training uses at most (a stratified, deterministic sample; 0 = every row).
MAX_ROWS_ENV = "COMMITLAKE_TRAIN_MAX_ROWS"
#: Of those, the rows the model search compares candidates on (default ml._sample.DEFAULT_SEARCH_ROWS; 0 = all).
SEARCH_ROWS_ENV = "COMMITLAKE_TRAIN_SEARCH_ROWS"
#: Worker processes for the model search (default: the CPUs this process may use, at most 2; 1 = in-process).
JOBS_ENV = "COMMITLAKE_TRAIN_JOBS"

_log = get_logger("train")


def train_options(env: Mapping[str, str]) -> dict[str, float | int]:
    """promotion_margin, keep_versions, budget_seconds, max_rows, search_rows and jobs from the environment; one
    clear error per bad value."""
    from commitlake.ml._evaluate import DEFAULT_BUDGET_SECONDS
    from commitlake.ml._registry import DEFAULT_KEEP_VERSIONS, DEFAULT_PROMOTION_MARGIN
    from commitlake.ml._sample import DEFAULT_MAX_ROWS, DEFAULT_SEARCH_ROWS
    from commitlake.ml._workers import default_jobs

    def number(name: str, default: float, kind: type[float] | type[int], low: float) -> float | int:
        raw = (env.get(name) or "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
        if value < low:
            raise ConfigError(f"{name} must be at least {low}, got {raw!r}")
        return value

    return {
        "promotion_margin": number(PROMOTION_MARGIN_ENV, DEFAULT_PROMOTION_MARGIN, float, 0.0),
        "keep_versions": number(KEEP_VERSIONS_ENV, DEFAULT_KEEP_VERSIONS, int, 0),
        "budget_seconds": number(BUDGET_ENV, DEFAULT_BUDGET_SECONDS, float, 0.0),
        "max_rows": number(MAX_ROWS_ENV, DEFAULT_MAX_ROWS, int, 0),
        "search_rows": number(SEARCH_ROWS_ENV, DEFAULT_SEARCH_ROWS, int, 0),
        "jobs": number(JOBS_ENV, default_jobs(), int, 1),
    }


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


#: Warnings about a library's own future (deprecations inside MLflow, pandas, SQLAlchemy): nothing a user can act
#: on, so they are logged at debug level; any other warning (a model that did not converge) stays a warning.
_LIBRARY_FUTURE = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def log_library_warnings(caught: list[warnings.WarningMessage]) -> None:
    """One log line per distinct warning the libraries raised during training."""
    for category, message in dict.fromkeys((w.category, str(w.message)) for w in caught):
        log = _log.debug if issubclass(category, _LIBRARY_FUTURE) else _log.warning
        log("train.library_warning", category=category.__name__, message=message[:500])


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

    options = train_options(os.environ)
    tracking_uri, artifact_root = mlflow_environment(ctx)
    # Library warnings (e.g. pandas' and SQLAlchemy's deprecations) become JSON log lines, once each.
    with warnings.catch_warnings(record=True) as caught, \
            Progress("train", unit="", enabled=ctx.progress) as progress:  # a spinner and a clock
        warnings.simplefilter("always")
        progress.note("model search: every candidate on leave-repositories-out, then the time split")
        report = train(
            ctx.warehouse.url,
            ctx.run_id,
            tracking_uri=tracking_uri,
            artifact_root=artifact_root,
            model_name=ctx.settings.model_name,
            min_labelled=needed,
            promotion_margin=float(options["promotion_margin"]),
            keep_versions=int(options["keep_versions"]),
            budget_seconds=float(options["budget_seconds"]),
            max_rows=int(options["max_rows"]),
            search_rows=int(options["search_rows"]),
            jobs=int(options["jobs"]),
        )
    log_library_warnings(caught)
    if report.skipped:
        return StageResult(
            f"skipped: {report.decision}",
            {"train_rows": 0},
            {"reason": report.decision, "model_version": report.model_version, "data_digest": report.data_digest},
            skipped=True,
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
         "promoted": report.promoted, "labels": list(report.labels), "decision": report.decision,
         "selection": report.selection, "candidate": report.params.get("candidate"), "pruned": report.pruned},
    )
