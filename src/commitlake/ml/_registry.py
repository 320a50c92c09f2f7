"""MLflow plumbing: where runs go, and who holds which alias in the model registry.

Aliases, not stages: MLflow 3 deprecates registry stages. `challenger` marks the newest trained version,
`champion` the one `predict` uses; moving an alias is one atomic registry call, so `predict` never sees a
half-promoted model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from commitlake.logs import get_logger

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "EXPERIMENT_NAME",
    "alias_version",
    "embedded_artifact_root",
    "ensure_experiment",
    "use_tracking",
]

EXPERIMENT_NAME = "commitlake"
CHAMPION = "champion"
CHALLENGER = "challenger"

_log = get_logger("commitlake.ml")


def use_tracking(tracking_uri: str) -> MlflowClient:
    """Point the fluent API (log_model needs it) and a client at one tracking server and registry."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def embedded_artifact_root(tracking_uri: str, artifact_root: Path | None) -> Path | None:
    """For a local sqlite store (embedded mode) the artifact directory to use; None for a tracking server.

    A tracking server decides where artifacts go (its --default-artifact-root / --serve-artifacts); a local
    store would otherwise default to ./mlruns under whatever the current directory is, so embedded mode pins
    it: to `artifact_root`, or to `artifacts/` beside the database file when none is given.
    """
    if not tracking_uri.startswith("sqlite:"):
        return None
    if artifact_root is not None:
        return artifact_root.absolute()
    db_path = Path(unquote(urlparse(tracking_uri).path))
    return db_path.parent / "artifacts"


def ensure_experiment(client: MlflowClient, artifact_root: Path | None) -> str:
    """The id of the `commitlake` experiment, created (with artifact_root, when given) or restored if needed."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is None:
        location = None
        if artifact_root is not None:
            artifact_root.mkdir(parents=True, exist_ok=True)
            location = artifact_root.as_uri()
        try:
            return client.create_experiment(EXPERIMENT_NAME, artifact_location=location)
        except MlflowException as exc:  # created concurrently by another run: use that one
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
            assert experiment is not None
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if artifact_root is not None and experiment.artifact_location.rstrip("/") != artifact_root.as_uri().rstrip("/"):
        _log.warning(
            "experiment_artifact_location_differs",
            experiment=EXPERIMENT_NAME,
            artifact_location=experiment.artifact_location,
            expected=artifact_root.as_uri(),
        )
    return str(experiment.experiment_id)


def alias_version(client: MlflowClient, model_name: str, alias: str) -> str | None:
    """The version holding `alias`, or None when the model or the alias does not exist yet."""
    from mlflow.exceptions import MlflowException

    try:
        registered = client.get_registered_model(model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = registered.aliases.get(alias)
    return None if version is None else str(version)
