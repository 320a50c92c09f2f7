"""predict: the champion model scores every unlabelled commit into analytics.commit_type_predictions.

Rerun-safe by construction: the whole scoring is one transaction (a crash leaves the previous predictions
intact), rows are upserted on commit_id, a row is only rewritten when its prediction changed (so a rerun with
the same model and data writes nothing, and predicted_at/run_id keep saying when a prediction was made), and
rows for commits that are no longer unlabelled are removed, so the table always mirrors the current scoring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commitlake.errors import CommitlakeError, WarehouseError
from commitlake.logs import get_logger
from commitlake.ml._drift import DRIFT_TABLE, DRIFT_THRESHOLD, REFERENCE_ARTIFACT, DriftAccumulator
from commitlake.ml._drift import store as store_drift
from commitlake.ml._features import count_unlabelled, iter_unlabelled
from commitlake.ml._model import load_registered_model
from commitlake.ml._registry import CHAMPION, use_tracking
from commitlake.ml._scoring import score_batches
from commitlake.ml._workers import default_jobs
from commitlake.warehouse.db import connect, ensure_predictions_table
from commitlake.warehouse.locks import Lock

__all__ = ["PREDICTIONS_TABLE", "PredictReport", "predict"]

PREDICTIONS_TABLE = "analytics.commit_type_predictions"
DEFAULT_BATCH_SIZE = 5_000

_log = get_logger("commitlake.ml")

_COPY_COLUMNS = (
    "commit_id",
    "repo_full_name",
    "sha",
    "predicted_type",
    "probability",
    "model_name",
    "model_version",
    "mlflow_run_id",
    "run_id",
)
_COLS = ", ".join(_COPY_COLUMNS)
_UPSERT = f"""
insert into {PREDICTIONS_TABLE} as p ({_COLS})
select {_COLS} from _scored
on conflict (commit_id) do update set
    repo_full_name = excluded.repo_full_name,
    sha = excluded.sha,
    predicted_type = excluded.predicted_type,
    probability = excluded.probability,
    model_name = excluded.model_name,
    model_version = excluded.model_version,
    mlflow_run_id = excluded.mlflow_run_id,
    run_id = excluded.run_id,
    predicted_at = now()
where (p.predicted_type, p.probability, p.model_name, p.model_version, p.mlflow_run_id)
    is distinct from (excluded.predicted_type, excluded.probability, excluded.model_name,
                      excluded.model_version, excluded.mlflow_run_id)
"""
_PRUNE = f"delete from {PREDICTIONS_TABLE} p where not exists (select 1 from _scored s where s.commit_id = p.commit_id)"


@dataclass(frozen=True)
class PredictReport:
    rows: int
    model_version: str
    distribution: dict[str, int]
    mlflow_run_id: str = ""
    #: Rows inserted or rewritten (0 on a rerun with the same model and data).
    written: int = 0
    #: Rows removed because their commit is no longer an unlabelled one.
    removed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def predict(
    database_url: str,
    run_id: str,
    *,
    tracking_uri: str,
    model_name: str,
    alias: str = CHAMPION,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> PredictReport:
    """Score unlabelled rows of ml_commit_features with `models:/<model_name>@<alias>`, batch by batch, in `jobs`
    worker processes (default: the CPUs, at most 2) while this one reads and writes the rows.

    `on_batch(rows)` is called after each scored batch (progress display).
    """
    client = use_tracking(tracking_uri)
    version = _resolve_alias(client, model_name, alias)
    model_version = client.get_model_version(model_name, version)
    mlflow_run_id = model_version.run_id or ""
    pipeline, _ = load_registered_model(f"models:/{model_name}/{version}", tracking_uri)
    classes = [str(c) for c in pipeline.classes_]
    drift = _drift_accumulator(mlflow_run_id)
    jobs = default_jobs() if jobs is None else jobs

    counts: Counter[str] = Counter()
    rows = 0
    stamp = (model_name, int(version), mlflow_run_id, run_id)
    with connect(database_url) as conn:
        _prepare(conn)
        jobs = jobs if count_unlabelled(conn) > batch_size else 1  # one batch: not worth starting workers
        with conn.cursor() as writer:
            for batch, probabilities in score_batches(pipeline, iter_unlabelled(conn, batch_size), jobs):
                predicted = _copy_scored(writer, classes, batch, probabilities, stamp)
                counts.update(predicted)
                if drift is not None:
                    drift.add(batch, predicted)
                rows += len(batch)
                _log.debug("predict_batch", rows=rows)
                if on_batch is not None:
                    on_batch(len(batch))
            written = writer.execute(_UPSERT).rowcount
            removed = writer.execute(_PRUNE).rowcount
        drift_result = None if drift is None else drift.result()
        if drift_result is not None:
            store_drift(conn, run_id, model_name, version, drift_result)
        conn.commit()
    if drift_result is not None and drift_result["drifted"]:
        _warn_drift(model_name, version, drift_result)

    distribution = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    _log.info(
        "predict_finished",
        model_name=model_name,
        alias=alias,
        model_version=version,
        rows=rows,
        written=written,
        removed=removed,
        distribution=distribution,
    )
    return PredictReport(
        rows=rows,
        model_version=version,
        distribution=distribution,
        mlflow_run_id=mlflow_run_id,
        written=written,
        removed=removed,
        extra={} if drift_result is None else {"drift": drift_result},
    )


def _prepare(conn: Any) -> None:
    """Take the predict lock for this transaction, make sure the tables exist, open the staging temp table."""
    try:
        # one predict at a time: two concurrent runs would prune each other's rows
        conn.execute("select pg_advisory_xact_lock(%s)", [int(Lock.PREDICT)])
        ensure_predictions_table(conn)
        conn.execute(f"create temp table _scored (like {PREDICTIONS_TABLE} including defaults) on commit drop")
    except Exception as exc:
        raise WarehouseError(f"cannot prepare {PREDICTIONS_TABLE}: {exc}") from exc


def _copy_scored(
    writer: Any, classes: list[str], batch: Any, probabilities: Any, stamp: tuple[str, int, str, str]
) -> list[str]:
    """COPY one scored batch into _scored; `stamp` is (model_name, model_version, mlflow_run_id, run_id).
    Returns the predicted types."""
    best = probabilities.argmax(axis=1)
    predicted = [classes[i] for i in best]
    probability = probabilities[range(len(best)), best]
    with writer.copy(f"copy _scored ({_COLS}) from stdin") as copy:
        for commit_id, repo, sha, label, p in zip(
            batch["commit_id"], batch["repo_full_name"], batch["sha"], predicted, probability, strict=True
        ):
            # rounded so a rerun compares equal even if float noise differed across BLAS builds
            copy.write_row((commit_id, repo, sha, label, round(float(p), 6), *stamp))
    return predicted


def _warn_drift(model_name: str, version: str, drift_result: dict[str, Any]) -> None:
    _log.warning(
        "prediction_drift",
        model_name=model_name,
        model_version=version,
        threshold=DRIFT_THRESHOLD,
        max_psi=drift_result["max_psi"],
        prediction_psi=drift_result["prediction_psi"],
        feature_psi=drift_result["feature_psi"],
        table=DRIFT_TABLE,
    )


def _drift_accumulator(mlflow_run_id: str) -> DriftAccumulator | None:
    """The training reference of the model's run, or None for models trained before it was logged."""
    import mlflow.artifacts

    if not mlflow_run_id:
        return None
    try:
        profile = mlflow.artifacts.load_dict(f"runs:/{mlflow_run_id}/{REFERENCE_ARTIFACT}")
    except Exception as exc:  # an older model without a reference: score it, just without drift
        _log.warning("drift_reference_missing", mlflow_run_id=mlflow_run_id, error=str(exc)[:300])
        return None
    return DriftAccumulator(profile)


def _resolve_alias(client: Any, model_name: str, alias: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        raise CommitlakeError(
            f"no version of model {model_name!r} has alias {alias!r} in the registry; run the train stage first"
        ) from exc
