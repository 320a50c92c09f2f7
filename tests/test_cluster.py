"""`commitlake submit --wait` and `commitlake status --cluster` through the `kubernetes` client.

No cluster runs here: a local HTTP server plays the Argo Server (POST a Workflow) and the Kubernetes API
(GET/LIST Workflow objects, whose phase and nodes advance on every read); the CLI reaches it through a
kubeconfig, as a user's machine does.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from commitlake.contract import (
    DEFAULT_NAMESPACE,
    LABEL_PART_OF,
    PART_OF,
    WORKFLOW_GROUP,
    WORKFLOW_PLURAL,
    WORKFLOW_TEMPLATE_NAME,
    WORKFLOW_VERSION,
)
from commitlake.errors import CommitlakeError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "kube-t0ken"
NS = DEFAULT_NAMESPACE
WORKFLOWS = f"/apis/{WORKFLOW_GROUP}/{WORKFLOW_VERSION}/namespaces/{NS}/{WORKFLOW_PLURAL}"


def _states(final: str) -> list[dict[str, Any]]:
    """What successive GETs of the Workflow return: pending, plan running, ingest fanned out, then `final`."""
    plan = {"displayName": "plan", "type": "Pod"}
    ingest = {"displayName": "ingest(0:github:pallets/click)", "type": "Pod"}
    dag = {"displayName": "commitlake-x7k2p", "type": "DAG"}
    return [
        {},
        {"phase": "Running", "progress": "0/1", "nodes": {"n0": {**dag, "phase": "Running"},
                                                           "n1": {**plan, "phase": "Running"}}},
        {"phase": "Running", "progress": "1/2", "nodes": {"n0": {**dag, "phase": "Running"},
                                                           "n1": {**plan, "phase": "Succeeded"},
                                                           "n2": {**ingest, "phase": "Running"}}},
        {"phase": final, "progress": "2/2" if final == "Succeeded" else "1/2",
         "startedAt": "2026-11-30T10:00:00Z", "finishedAt": "2026-11-30T10:05:00Z",
         "nodes": {"n0": {**dag, "phase": final}, "n1": {**plan, "phase": "Succeeded"},
                   "n2": {**ingest, "phase": "Succeeded" if final == "Succeeded" else "Failed"}}},
    ]


class _FakeAPI(http.server.BaseHTTPRequestHandler):
    final = "Succeeded"
    reads = 0
    seen: list[tuple[str, str, str]] = []
    created: dict[str, Any] | None = None

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # the Argo Server
        cls = type(self)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls.seen.append(("POST", self.path, self.headers.get("Authorization", "")))
        workflow = copy.deepcopy(body["workflow"])
        workflow["metadata"]["name"] = "commitlake-x7k2p"
        cls.created = workflow
        self._send(200, workflow)

    def do_GET(self) -> None:  # the Kubernetes API
        cls = type(self)
        url = urlsplit(self.path)
        cls.seen.append(("GET", self.path, self.headers.get("Authorization", "")))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, {"kind": "Status", "code": 401, "reason": "Unauthorized", "message": "Unauthorized"})
            return
        if url.path == WORKFLOWS:
            selector = parse_qs(url.query).get("labelSelector", [""])[0]
            items = [
                {"metadata": {"name": f"commitlake-{n}", "creationTimestamp": f"2026-11-{n}T03:00:00Z",
                              "labels": {LABEL_PART_OF: PART_OF}},
                 "status": {"phase": phase, "progress": "7/7", "startedAt": f"2026-11-{n}T03:00:00Z"}}
                for n, phase in (("28", "Succeeded"), ("30", "Running"), ("29", "Failed"))
            ]
            items = [i for i in items if selector == f"{LABEL_PART_OF}={PART_OF}"]
            self._send(200, {"apiVersion": f"{WORKFLOW_GROUP}/{WORKFLOW_VERSION}", "kind": "WorkflowList",
                             "metadata": {}, "items": items})
            return
        if url.path == f"{WORKFLOWS}/commitlake-x7k2p" and cls.created is not None:
            states = _states(cls.final)
            state = states[min(cls.reads, len(states) - 1)]
            cls.reads += 1
            self._send(200, {**cls.created, "status": state})
            return
        self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound", "message": "not found"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    _FakeAPI.final, _FakeAPI.reads, _FakeAPI.seen, _FakeAPI.created = "Succeeded", 0, [], None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kind-commitlake",
        "clusters": [{"name": "kind", "cluster": {"server": url}}],
        "users": [{"name": "dev", "user": {"token": TOKEN}}],
        "contexts": [{"name": "kind-commitlake", "context": {"cluster": "kind", "user": "dev", "namespace": NS}}],
    }))
    yield url, kubeconfig
    server.shutdown()
    server.server_close()


def _cli(*args: str, url: str, kubeconfig: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ARGO_SERVER": url, "ARGO_NAMESPACE": NS, "KUBECONFIG": str(kubeconfig),
           "COMMITLAKE_HOME": str(tmp_path / "home")}
    env.pop("PYTHONPATH", None)  # commitlake_workflows comes from the installed package, not the source tree
    env.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run([sys.executable, "-m", "commitlake", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(("final", "code"), [("Succeeded", 0), ("Failed", 1)])
def test_submit_wait_follows_the_workflow_and_exits_with_its_result(
    fake_api: tuple[str, Path], tmp_path: Path, final: str, code: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commitlake import cluster

    url, kubeconfig = fake_api
    _FakeAPI.final = final
    monkeypatch.setattr(cluster.time, "sleep", lambda s: None)  # in-process: no waiting between polls
    from commitlake.cli import main

    monkeypatch.setenv("ARGO_SERVER", url)
    monkeypatch.setenv("ARGO_NAMESPACE", NS)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("COMMITLAKE_HOME", str(tmp_path / "home"))
    assert main(["submit", "--repos", "github:pallets/click", "--wait"]) == code
    assert _FakeAPI.created is not None
    assert _FakeAPI.created["spec"]["workflowTemplateRef"] == {"name": WORKFLOW_TEMPLATE_NAME}
    gets = [(path, auth) for method, path, auth in _FakeAPI.seen if method == "GET"]
    assert len(gets) == 4 and all(auth == f"Bearer {TOKEN}" for _, auth in gets)
    assert {path for path, _ in gets} == {f"{WORKFLOWS}/commitlake-x7k2p"}


def test_submit_wait_shows_progress_from_the_cli(fake_api: tuple[str, Path], tmp_path: Path) -> None:
    url, kubeconfig = fake_api
    _FakeAPI.final = "Failed"
    result = _cli("submit", "--wait", url=url, kubeconfig=kubeconfig, tmp_path=tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip() == "commitlake-x7k2p"
    progress = [line.strip() for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert "commitlake-x7k2p: Running (0/1)" in progress
    assert "plan                                     Succeeded" in progress
    assert progress[-2:] == ["ingest(0:github:pallets/click)           Failed", "commitlake-x7k2p: Failed (1/2)"]


def test_status_cluster_lists_recent_workflows(fake_api: tuple[str, Path], tmp_path: Path) -> None:
    url, kubeconfig = fake_api
    result = _cli("status", "--cluster", "--limit", "2", url=url, kubeconfig=kubeconfig, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["commitlake-30", "Running"], ["commitlake-29", "Failed"]]


def test_refusals_and_missing_credentials_are_one_line(fake_api: tuple[str, Path], tmp_path: Path) -> None:
    from commitlake.cluster import list_workflows, workflow_api

    url, kubeconfig = fake_api
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(kubeconfig.read_text().replace(TOKEN, "wrong"))
    with pytest.raises(CommitlakeError, match="HTTP 401"):
        list_workflows(workflow_api(str(bad)), NS, 5)
    result = _cli("status", "--cluster", url=url, kubeconfig=tmp_path / "missing", tmp_path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("commitlake: error: no Kubernetes credentials")
