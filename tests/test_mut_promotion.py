"""The registry helpers behind promotion, against a real MLflow (sqlite store): who holds `champion`, which
version was trained on which data, which versions pruning deletes (never an aliased one, never one of the
newest `keep`), and where embedded mode puts artifacts. Pure checks come first so `make mutation` stops early."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from commitlake.ml._registry import (
    CHALLENGER,
    CHAMPION,
    DATA_DIGEST_TAG,
    alias_version,
    embedded_artifact_root,
    ensure_experiment,
    logged_model_id,
    prune_versions,
    use_tracking,
    version_trained_on,
)

MODEL = "commit_type"


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


class _Version:
    """Only the attributes MLflow's ModelVersion carries that logged_model_id reads."""

    def __init__(self, model_id: str | None = None, source: str | None = None) -> None:
        self.model_id, self.source = model_id, source


def test_logged_model_id_prefers_model_id_then_a_models_source() -> None:
    assert logged_model_id(_Version(model_id="m-abc", source="models:/m-zzz")) == "m-abc"
    assert logged_model_id(_Version(source="models:/m-123/artifacts")) == "m-123"
    assert logged_model_id(_Version(source="models:/m-123")) == "m-123"
    assert logged_model_id(_Version(source="runs:/r1/model")) is None
    assert logged_model_id(_Version(source="models:/commit_type/3")) is None
    assert logged_model_id(_Version()) is None
    assert logged_model_id(object()) is None


def test_embedded_artifact_root(tmp_path: Path) -> None:
    assert embedded_artifact_root("http://mlflow:5000", tmp_path) is None
    root = embedded_artifact_root(f"sqlite:///{tmp_path}/a%20b/mlflow.db", None)
    assert root is not None and root.resolve() == tmp_path / "a b" / "artifacts"  # unquoted, beside the db
    assert embedded_artifact_root("sqlite:///x.db", Path("rel")) == Path("rel").absolute()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import os

    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = use_tracking(uri)
    client.experiment_id = ensure_experiment(client, root / "artifacts")
    return client


def _register(client: Any, name: str, digest: str | None = None) -> tuple[str, Path]:
    run = client.create_run(client.experiment_id)
    artifacts = Path(unquote(urlparse(run.info.artifact_uri).path))
    assert artifacts.is_absolute() and artifacts.is_relative_to(
        Path(client.tracking_uri.removeprefix("sqlite:///")).parent
    )
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "model.bin").write_text("weights")
    version = client.create_model_version(name, source=run.info.artifact_uri, run_id=run.info.run_id)
    if digest is not None:
        client.set_model_version_tag(name, version.version, DATA_DIGEST_TAG, digest)
    return str(version.version), artifacts


def test_alias_and_digest_lookups(client: Any) -> None:
    assert alias_version(client, "no_such_model", CHAMPION) is None
    assert version_trained_on(client, "no_such_model", "d1") is None
    client.create_registered_model(MODEL)
    assert alias_version(client, MODEL, CHAMPION) is None
    v1, _ = _register(client, MODEL, "d1")
    v2, _ = _register(client, MODEL, "d2")
    v3, _ = _register(client, MODEL, "d1")
    _register(client, MODEL)
    client.set_registered_model_alias(MODEL, CHAMPION, v2)
    assert alias_version(client, MODEL, CHAMPION) == v2
    assert alias_version(client, MODEL, CHALLENGER) is None
    assert version_trained_on(client, MODEL, "d1") == v3 == "3"  # the newest of two, compared as numbers
    assert version_trained_on(client, MODEL, "d2") == v2
    assert version_trained_on(client, MODEL, "d9") is None
    assert v1 == "1"


def test_other_registry_errors_are_not_taken_for_a_missing_model(client: Any) -> None:
    """Only RESOURCE_DOES_NOT_EXIST means "no model yet"; a bad request must surface, not read as None."""
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException, match=r"INVALID_PARAMETER_VALUE|[Ii]nvalid|name"):
        alias_version(client, "", CHAMPION)
    with pytest.raises(MlflowException):
        version_trained_on(client, "it's", "d1")  # the quote breaks the filter: INVALID_PARAMETER_VALUE


def test_prune_keeps_aliased_and_the_newest_unaliased(client: Any) -> None:
    name = "pruned"
    client.create_registered_model(name)
    made = [_register(client, name) for _ in range(12)]  # versions 1..12: numeric order differs from text order
    client.set_registered_model_alias(name, CHAMPION, "2")
    client.set_registered_model_alias(name, CHALLENGER, "12")
    deleted = prune_versions(client, name, keep=3)
    # unaliased newest first: 11, 10, 9 kept; 8..3 and 1 deleted; 2 and 12 aliased
    assert deleted == ["8", "7", "6", "5", "4", "3", "1"]
    left = sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    assert left == [2, 9, 10, 11, 12]
    for number, (_, artifacts) in enumerate(made, start=1):
        assert artifacts.exists() == (number in left), number
        if number not in left:
            assert not artifacts.parent.exists()  # the run's now-empty directory goes too
    assert prune_versions(client, name, keep=3) == []
    assert prune_versions(client, name, keep=-1) == ["11", "10", "9"]  # a negative keep means zero


@pytest.fixture()
def refusing_server() -> Any:
    """A tracking server behind authentication that refuses every call (401, UNAUTHENTICATED), over HTTP."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "You are not authenticated"}).encode()
            self.send_response(401)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_refused_login_is_not_taken_for_a_missing_model(refusing_server: str) -> None:
    """UNAUTHENTICATED sorts after RESOURCE_DOES_NOT_EXIST: reading it as "no champion yet" would train and
    register as if the registry were empty."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=refusing_server, registry_uri=refusing_server)
    with pytest.raises(MlflowException, match="UNAUTHENTICATED"):
        alias_version(client, MODEL, CHAMPION)
    with pytest.raises(MlflowException, match="UNAUTHENTICATED"):
        version_trained_on(client, MODEL, "d1")


class _OldestFirst:
    """The real client, but its version search answers oldest first (a store may use any order)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def search_model_versions(self, query: str) -> list[Any]:
        return sorted(self._client.search_model_versions(query), key=lambda v: int(v.version))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_prune_keeps_the_newest_whatever_order_the_store_answers_in(client: Any) -> None:
    name = "pruned_oldest_first"
    client.create_registered_model(name)
    for _ in range(6):
        _register(client, name)
    client.set_registered_model_alias(name, CHAMPION, "1")
    assert prune_versions(_OldestFirst(client), name, keep=2) == ["4", "3", "2"]
    assert sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'")) == [1, 5, 6]
