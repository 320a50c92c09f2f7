"""Argo Workflows seen through the Kubernetes API: follow one run (`submit --wait`), list recent runs
(`status --cluster`).

Uses the `kubernetes` client (the `workflows` extra): credentials come from the kubeconfig (KUBECONFIG or
~/.kube/config) or, inside a pod, from its ServiceAccount. Every API or configuration failure becomes one
CommitlakeError line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from commitlake.contract import (
    FINAL_PHASES,
    LABEL_PART_OF,
    PART_OF,
    WORKFLOW_GROUP,
    WORKFLOW_PLURAL,
    WORKFLOW_VERSION,
)
from commitlake.errors import CommitlakeError

__all__ = ["WorkflowRow", "follow", "list_workflows", "workflow_api"]


@dataclass(frozen=True)
class WorkflowRow:
    name: str
    phase: str
    started: str
    finished: str
    progress: str

    def render(self) -> str:
        return f"{self.name:<24} {self.phase:<10} {self.progress:>7}  started {self.started or '-'}" + (
            f"  finished {self.finished}" if self.finished else "")


@contextmanager
def _api_errors(what: str) -> Iterator[None]:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        raise CommitlakeError(f"Kubernetes API refused {what}: HTTP {exc.status} {exc.reason}") from exc
    except ConfigException as exc:
        raise CommitlakeError(f"no Kubernetes credentials for {what} (kubeconfig or in-cluster): {exc}") from exc
    except HTTPError as exc:
        raise CommitlakeError(f"cannot reach the Kubernetes API for {what}: {exc}") from exc


def workflow_api(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A CustomObjectsApi from the kubeconfig (`kubeconfig`: KUBECONFIG's value; None: ~/.kube/config), else
    from the pod's ServiceAccount."""
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise CommitlakeError(f"the Kubernetes client is not installed (the `workflows` extra): {exc}") from exc
    with _api_errors("the Workflow API"):
        try:
            api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        except config.ConfigException:
            if kubeconfig:
                raise
            config.load_incluster_config()
            api_client = client.ApiClient()
    return client.CustomObjectsApi(api_client)


def _row(workflow: dict[str, Any]) -> WorkflowRow:
    status = workflow.get("status") or {}
    return WorkflowRow(
        name=workflow["metadata"]["name"],
        phase=status.get("phase") or "Pending",
        started=status.get("startedAt") or "",
        finished=status.get("finishedAt") or "",
        progress=status.get("progress") or "",
    )


def list_workflows(api: Any, namespace: str, limit: int) -> list[WorkflowRow]:
    """The commitlake Workflows of the namespace, newest first."""
    with _api_errors(f"listing workflows in {namespace}"):
        listing = api.list_namespaced_custom_object(
            WORKFLOW_GROUP, WORKFLOW_VERSION, namespace, WORKFLOW_PLURAL, label_selector=f"{LABEL_PART_OF}={PART_OF}"
        )
    rows = [_row(item) for item in listing.get("items", [])]
    created = {item["metadata"]["name"]: item["metadata"].get("creationTimestamp") or "" for item in listing["items"]}
    return sorted(rows, key=lambda r: created[r.name], reverse=True)[:limit]


def _pod_nodes(workflow: dict[str, Any]) -> dict[str, tuple[str, str]]:
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    return {
        node_id: (node.get("displayName") or node.get("name") or node_id, node.get("phase") or "Pending")
        for node_id, node in nodes.items()
        if node.get("type") == "Pod"
    }


def follow(
    api: Any,
    namespace: str,
    name: str,
    *,
    show: Callable[[str], None],
    poll_seconds: float = 2.0,
    timeout_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll the Workflow until it reaches a final phase, showing each pod node's phase changes; returns it."""
    seen: dict[str, str] = {}
    phase = ""
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    while True:
        with _api_errors(f"workflow {namespace}/{name}"):
            workflow = api.get_namespaced_custom_object(
                WORKFLOW_GROUP, WORKFLOW_VERSION, namespace, WORKFLOW_PLURAL, name
            )
        for node_id, (label, node_phase) in sorted(_pod_nodes(workflow).items(), key=lambda kv: kv[1][0]):
            if seen.get(node_id) != node_phase:
                seen[node_id] = node_phase
                show(f"  {label:<40} {node_phase}")
        row = _row(workflow)
        if row.phase != phase:
            phase = row.phase
            show(f"{name}: {phase}" + (f" ({row.progress})" if row.progress else ""))
        if phase in FINAL_PHASES:
            return phase
        if deadline is not None and time.monotonic() > deadline:
            raise CommitlakeError(f"workflow {namespace}/{name} still {phase} after {timeout_seconds:g} s")
        sleep(poll_seconds)
