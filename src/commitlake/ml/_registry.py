"""MLflow plumbing: where runs go, and who holds which alias in the model registry.

Aliases, not stages: MLflow 3 deprecates registry stages. `challenger` marks the newest trained version,
`champion` the one `predict` uses; moving an alias is one atomic registry call, so `predict` never sees a
half-promoted model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from commitlake.logs import get_logger
from commitlake.ml._store import ensure_store

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "DATA_DIGEST_TAG",
    "DEFAULT_KEEP_VERSIONS",
    "DEFAULT_PROMOTION_MARGIN",
    "EXPERIMENT_NAME",
    "alias_version",
    "embedded_artifact_root",
    "ensure_experiment",
    "prune_versions",
    "use_tracking",
    "version_trained_on",
]

EXPERIMENT_NAME = "commitlake"
CHAMPION = "champion"
CHALLENGER = "challenger"

_log = get_logger("commitlake.ml")


def use_tracking(tracking_uri: str) -> MlflowClient:
    """Point the fluent API (log_model needs it) and a client at one tracking server and registry."""
    import mlflow
    from mlflow import MlflowClient

    ensure_store(tracking_uri)  # embedded sqlite store: created/migrated atomically (a kill cannot half-build it)
    _check_reachable(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


#: Seconds to wait for a tracking server's TCP handshake before calling it unreachable.
CONNECT_TIMEOUT_SECONDS = 5.0


def _check_reachable(tracking_uri: str) -> None:
    """A tracking server that refuses connections, or whose name does not resolve, fails now in one line (exit
    75, transient) instead of after MLflow's own retries, which back off for minutes before saying so."""
    import socket

    from commitlake.errors import HostUnreachable
    from commitlake.warehouse.db import redact_url

    parts = urlparse(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as exc:
        reason = "cannot resolve its host" if isinstance(exc, socket.gaierror) else (exc.strerror or str(exc))
        raise HostUnreachable(
            f"MLflow tracking server {redact_url(tracking_uri)} is unreachable: {reason.lower()}; "
            "check MLFLOW_TRACKING_URI"
        ) from None


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


#: Model-version tag holding the digest of the data a version was trained on.
DATA_DIGEST_TAG = "commitlake.data_digest"
#: A challenger takes `champion` only when its macro-F1 beats the champion's on the same hold-out by this much:
#: two models within noise of each other should not flip the model that predict serves.
DEFAULT_PROMOTION_MARGIN = 0.02
#: Registered versions kept besides the aliased ones; older ones are deleted with their run's artifacts.
DEFAULT_KEEP_VERSIONS = 5


def version_trained_on(client: MlflowClient, model_name: str, digest: str) -> str | None:
    """The newest version whose training data had `digest`, or None (also when the model does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    matching = [int(v.version) for v in versions if (v.tags or {}).get(DATA_DIGEST_TAG) == digest]
    return str(max(matching)) if matching else None


def prune_versions(client: MlflowClient, model_name: str, keep: int) -> list[str]:
    """Delete non-aliased versions beyond the newest `keep` ones, and their runs' artifacts; returns them.

    Why the artifacts too: deleting a registry version leaves the ~MB model files in the artifact store, and
    deleting the run only marks it; the files are what fills the disk.
    """
    registered = client.get_registered_model(model_name)
    aliased = {str(v) for v in registered.aliases.values()}
    versions = sorted(client.search_model_versions(f"name = '{model_name}'"), key=lambda v: -int(v.version))
    unaliased = [v for v in versions if str(v.version) not in aliased]
    deleted = []
    for version in unaliased[max(keep, 0) :]:
        client.delete_model_version(model_name, version.version)
        deleted.append(str(version.version))
        locations = []
        model_id = logged_model_id(version)  # MLflow 3 keeps the model files under models/<id>, not the run
        if model_id:
            locations.append(client.get_logged_model(model_id).artifact_location)
            client.delete_logged_model(model_id)
        if version.run_id:
            locations.append(client.get_run(version.run_id).info.artifact_uri)
            client.delete_run(version.run_id)
        for uri in locations:
            _remove_local_artifacts(uri)
    if deleted:
        _log.info("model_versions_pruned", model_name=model_name, deleted=deleted, kept_unaliased=keep)
    return deleted


def _remove_local_artifacts(uri: str) -> None:
    """Delete a file:// artifact directory and its now-empty `<id>/` parent; other stores are left to their
    own lifecycle rules (a tracking server with --serve-artifacts deletes through its own garbage collection)."""
    import shutil

    location = urlparse(uri)
    if location.scheme not in ("", "file"):
        return
    path = Path(unquote(location.path))
    shutil.rmtree(path, ignore_errors=True)
    if path.name == "artifacts" and path.parent.is_dir() and not any(path.parent.iterdir()):
        path.parent.rmdir()


def logged_model_id(version: Any) -> str | None:
    """The MLflow 3 logged-model id behind a registry version (`model_id`, else its `models:/m-…` source)."""
    model_id = getattr(version, "model_id", None)
    if model_id:
        return str(model_id)
    source = str(getattr(version, "source", "") or "")
    if source.startswith("models:/m-"):
        return source.removeprefix("models:/").split("/", 1)[0]
    return None
